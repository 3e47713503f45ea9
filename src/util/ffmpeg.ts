import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
let resolved: string | undefined;

/**
 * The ffmpeg binary shipped inside the @ffmpeg-installer npm package (no download at install), or
 * plain `ffmpeg` from PATH when the package has no binary for this platform: a missing ffmpeg
 * makes video and audio conversion fail with a clear error when used, never the worker's start.
 */
export function ffmpegPath(): string {
  if (resolved === undefined) {
    try {
      resolved = (require('@ffmpeg-installer/ffmpeg') as { path: string }).path;
    } catch {
      resolved = 'ffmpeg';
    }
  }
  return resolved;
}
