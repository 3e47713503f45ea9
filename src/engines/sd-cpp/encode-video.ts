import type { Logger } from 'pino';
import type { VideoExt } from '../media/index.js';
import { BUNDLED_FFMPEG, VIDEO_OUTPUT_ARGS, runFfmpeg, videoSize } from '../media/index.js';

export interface EncodeFramesOptions {
  /** An ffmpeg image2 pattern, e.g. `/work/frames/frame_%05d.png`. */
  pattern: string;
  startNumber: number;
  fps: number;
  ext: VideoExt;
  width: number;
  height: number;
  output: string;
  signal: AbortSignal;
  log: Logger;
}

/**
 * Encodes sd-cli's PNG frames into one video at the task's size (mp4/webm sides rounded down to
 * even). A failed encode is non-retryable (the frames will not change); aborting kills ffmpeg.
 */
export async function encodeFrames(opts: EncodeFramesOptions): Promise<void> {
  const { width, height } = videoSize(opts.ext, opts.width, opts.height);
  const args = [
    '-framerate',
    String(opts.fps),
    '-start_number',
    String(opts.startNumber),
    '-i',
    opts.pattern,
    '-vf',
    `scale=${width}:${height}`,
    ...VIDEO_OUTPUT_ARGS[opts.ext],
    opts.output,
  ];
  await runFfmpeg(BUNDLED_FFMPEG, args, opts.signal, opts.log, "ffmpeg (encoding sd-cli's frames)");
  opts.log.debug({ output: opts.output, width, height, fps: opts.fps }, 'frames encoded');
}
