import type * as SharpNs from 'sharp';
import { CodecProcess } from './sharp-remote.js';

type SharpFn = typeof SharpNs.default;

let loading: Promise<SharpFn> | undefined;
let codec: CodecProcess | undefined;

/**
 * sharp (libvips, ~30 MB resident) loaded on first use rather than at start-up, so a worker that
 * serves no image job never pays for it. libvips' operation cache is turned off: every image a
 * worker handles is new, so the cache (up to 50 MB) would only hold memory. In a process that
 * called `useImageCodecProcess` (the long-running worker), the pipelines run in the image codec
 * process instead (see sharp-remote.ts).
 */
export function loadSharp(): Promise<SharpFn> {
  return codec ? Promise.resolve(codec.sharp) : loadSharpHere();
}

/** sharp in this process, whatever `useImageCodecProcess` said (the codec process itself). */
export function loadSharpHere(): Promise<SharpFn> {
  loading ??= import('sharp').then((mod) => {
    mod.default.cache(false);
    return mod.default;
  });
  return loading;
}

/**
 * From now on, images are made in a codec process of their own (started on demand, gone when
 * idle): for the worker's long-running commands, whose memory stays what it was before the first
 * image. Engine child processes and one-shot commands keep sharp in-process.
 */
export function useImageCodecProcess(idleExitMs?: number): CodecProcess {
  codec ??= new CodecProcess(idleExitMs);
  return codec;
}
