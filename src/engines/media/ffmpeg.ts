import { spawn } from 'node:child_process';
import type { Logger } from 'pino';
import { abortError, throwIfAborted } from '../abort.js';
import { ffmpegPath } from '../../util/index.js';
import { EngineError } from '../types.js';

const STDERR_TAIL_CHARS = 4096;

/** The ffmpeg binary shipped inside the @ffmpeg-installer npm package, else `ffmpeg` on PATH. */
export const BUNDLED_FFMPEG: string = ffmpegPath();

/** Video containers every engine can write, and ffmpeg's output arguments for each. */
export const VIDEO_EXTS = ['mp4', 'webm', 'webp', 'gif'] as const;
export type VideoExt = (typeof VIDEO_EXTS)[number];

export function isVideoExt(ext: string): ext is VideoExt {
  return (VIDEO_EXTS as readonly string[]).includes(ext);
}

/**
 * ffmpeg output arguments per container. H.264 and VP9 players expect yuv420p, which stores colour
 * per 2×2 block: callers round mp4/webm sides to even numbers.
 */
export const VIDEO_OUTPUT_ARGS: Readonly<Record<VideoExt, readonly string[]>> = {
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
  webm: [
    '-c:v',
    'libvpx-vp9',
    '-deadline',
    'realtime',
    '-cpu-used',
    '8',
    '-b:v',
    '0',
    '-crf',
    '36',
    '-pix_fmt',
    'yuv420p',
    '-f',
    'webm',
  ],
  webp: ['-c:v', 'libwebp_anim', '-loop', '0', '-q:v', '80', '-f', 'webp'],
  gif: ['-f', 'gif'],
};

/** Even sides for yuv420p containers (at least 2); other containers keep the exact size. */
export function videoSize(ext: VideoExt, width: number, height: number): { width: number; height: number } {
  if (ext !== 'mp4' && ext !== 'webm') return { width, height };
  return { width: Math.max(2, width - (width % 2)), height: Math.max(2, height - (height % 2)) };
}

/**
 * Runs ffmpeg on files (an argument array, never a shell). A non-zero exit is a non-retryable
 * EngineError with the tail of stderr: ffmpeg fails on the input or the requested format, neither
 * of which another attempt changes. Aborting kills ffmpeg and rejects with an AbortError.
 */
export async function runFfmpeg(
  ffmpegPath: string,
  args: readonly string[],
  signal: AbortSignal,
  log: Logger,
  what = 'ffmpeg',
): Promise<void> {
  throwIfAborted(signal);
  const child = spawn(ffmpegPath, ['-hide_banner', '-loglevel', 'error', '-nostdin', '-y', ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-STDERR_TAIL_CHARS);
  });
  const kill = (): void => {
    child.kill('SIGKILL');
  };
  signal.addEventListener('abort', kill, { once: true });
  try {
    const exit = await new Promise<{ code: number | null; error?: Error }>((resolve) => {
      child.once('error', (error) => resolve({ code: null, error }));
      child.once('close', (code) => resolve({ code }));
    });
    if (signal.aborted) throw abortError(signal);
    if (exit.error)
      throw new EngineError(`ffmpeg could not start: ${exit.error.message}`, false, { cause: exit.error });
    if (exit.code !== 0) {
      const tail = stderr.trim().split('\n').slice(-5).join('\n');
      throw new EngineError(`${what} exited with ${exit.code}: ${tail}`, false);
    }
    if (stderr.trim() !== '') log.debug({ output: stderr }, 'ffmpeg output');
  } finally {
    signal.removeEventListener('abort', kill);
  }
}
