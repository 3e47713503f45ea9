import { spawn } from 'node:child_process';
import ffmpeg from '@ffmpeg-installer/ffmpeg';
import type { Logger } from 'pino';
import { abortError } from '../abort.js';
import { EngineError } from '../types.js';
import type { VIDEO_EXTS } from './output.js';

const STDERR_TAIL_CHARS = 4096;

/** ffmpeg output arguments per container; H.264/VP9 players expect yuv420p. */
const OUTPUT_ARGS: Readonly<Record<(typeof VIDEO_EXTS)[number], string[]>> = {
  mp4: [
    '-c:v',
    'libx264',
    '-preset',
    'veryfast',
    '-pix_fmt',
    'yuv420p',
    '-movflags',
    '+faststart',
    '-f',
    'mp4',
  ],
  webm: ['-c:v', 'libvpx-vp9', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', '0', '-crf', '32'],
  webp: ['-c:v', 'libwebp_anim', '-loop', '0', '-q:v', '80', '-f', 'webp'],
  gif: ['-f', 'gif'],
};

export interface EncodeFramesOptions {
  /** An ffmpeg image2 pattern, e.g. `/work/frames/frame_%05d.png`. */
  pattern: string;
  startNumber: number;
  fps: number;
  ext: (typeof VIDEO_EXTS)[number];
  width: number;
  height: number;
  output: string;
  signal: AbortSignal;
  log: Logger;
}

/**
 * Encodes sd-cli's PNG frames into one video at the task's size. yuv420p stores colour per 2×2
 * block, so mp4/webm sides are rounded down to even (at least 2); gif and webp keep the exact size.
 * A failed encode is non-retryable (the frames will not change); aborting kills ffmpeg.
 */
export async function encodeFrames(opts: EncodeFramesOptions): Promise<void> {
  const { ext, signal } = opts;
  const even = ext === 'mp4' || ext === 'webm';
  const width = even ? Math.max(2, opts.width - (opts.width % 2)) : opts.width;
  const height = even ? Math.max(2, opts.height - (opts.height % 2)) : opts.height;
  const args = [
    '-hide_banner',
    '-loglevel',
    'error',
    '-y',
    '-framerate',
    String(opts.fps),
    '-start_number',
    String(opts.startNumber),
    '-i',
    opts.pattern,
    '-vf',
    `scale=${width}:${height}`,
    ...(ext === 'webm' ? ['-pix_fmt', 'yuv420p', '-f', 'webm'] : []),
    ...OUTPUT_ARGS[ext],
    opts.output,
  ];
  if (signal.aborted) throw abortError(signal);
  const child = spawn(ffmpeg.path, args, { stdio: ['ignore', 'ignore', 'pipe'], windowsHide: true });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-STDERR_TAIL_CHARS);
  });
  const kill = (): void => {
    child.kill('SIGKILL');
  };
  signal.addEventListener('abort', kill, { once: true });
  const exit = await new Promise<{ code: number | null; error?: Error }>((resolve) => {
    child.once('error', (error) => resolve({ code: null, error }));
    child.once('close', (code) => resolve({ code }));
  }).finally(() => signal.removeEventListener('abort', kill));
  if (signal.aborted) throw abortError(signal);
  if (exit.error) throw new EngineError(`ffmpeg could not start: ${exit.error.message}`, false);
  if (exit.code !== 0) {
    const tail = stderr.trim().split('\n').slice(-5).join('\n');
    throw new EngineError(`ffmpeg could not encode sd-cli's frames (exit ${exit.code}): ${tail}`, false);
  }
  opts.log.debug({ output: opts.output, width, height, fps: opts.fps }, 'frames encoded');
}
