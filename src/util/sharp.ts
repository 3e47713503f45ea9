import type * as SharpNs from 'sharp';

type SharpFn = typeof SharpNs.default;

let loading: Promise<SharpFn> | undefined;

/**
 * sharp (libvips, ~30 MB resident) loaded on first use rather than at start-up, so a worker that
 * serves no image job never pays for it. libvips' operation cache is turned off: every image a
 * worker handles is new, so the cache (up to 50 MB) would only hold memory.
 */
export function loadSharp(): Promise<SharpFn> {
  loading ??= import('sharp').then((mod) => {
    mod.default.cache(false);
    return mod.default;
  });
  return loading;
}
