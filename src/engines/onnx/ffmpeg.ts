import { spawn } from 'node:child_process';
import type { Logger } from 'pino';
import { abortError, throwIfAborted } from '../abort.js';
import { EngineError } from '../types.js';

const STDERR_TAIL_CHARS = 4096;

/**
 * Runs ffmpeg on files (an argument array, never a shell). A non-zero exit is a non-retryable
 * EngineError with the tail of stderr: ffmpeg fails on the input or the requested format, neither
 * of which another attempt changes. Aborting kills ffmpeg and rejects with an AbortError.
 */
export async function runFfmpeg(
  ffmpegPath: string,
  args: string[],
  signal: AbortSignal,
  log: Logger,
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
      throw new EngineError(`ffmpeg exited with ${exit.code}: ${tail}`, false);
    }
    if (stderr.trim() !== '') log.debug({ output: stderr }, 'ffmpeg output');
  } finally {
    signal.removeEventListener('abort', kill);
  }
}
