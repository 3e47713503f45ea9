import { spawn } from 'node:child_process';
import { once } from 'node:events';
import type { Logger } from 'pino';
import { toError } from '../../util/index.js';
import { BUNDLED_FFMPEG } from './ffmpeg.js';
import { abortError, throwIfAborted } from '../abort.js';
import { EngineError } from '../types.js';

const STDERR_TAIL_CHARS = 4096;

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: Error;
}

export interface FeedOptions {
  args: string[];
  frameCount: number;
  renderFrame: (index: number) => Promise<Uint8Array>;
  onFrame?: (index: number) => void;
  signal: AbortSignal;
  log: Logger;
}

/**
 * Runs ffmpeg (an argument array, never a shell) and pipes rendered frames into its stdin with
 * backpressure. Resolves when ffmpeg exits 0; a non-zero exit is a non-retryable EngineError with
 * the tail of stderr. Aborting kills ffmpeg and rejects with an AbortError.
 */
export async function feedFfmpeg({
  args,
  frameCount,
  renderFrame,
  onFrame,
  signal,
  log,
}: FeedOptions): Promise<void> {
  throwIfAborted(signal);
  const child = spawn(BUNDLED_FFMPEG, args, { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-STDERR_TAIL_CHARS);
  });
  let exit: Exit | undefined;
  const exited = new Promise<Exit>((resolve) => {
    child.once('error', (error) => resolve((exit = { code: null, signal: null, error })));
    child.once('close', (code, sig) => resolve((exit ??= { code, signal: sig })));
  });
  // ffmpeg closing its input early shows up here as EPIPE; its exit code and stderr say why.
  child.stdin.on('error', (e) => log.debug({ err: toError(e) }, 'ffmpeg stdin closed'));
  const kill = (): void => {
    child.kill('SIGKILL');
  };
  signal.addEventListener('abort', kill, { once: true });
  try {
    for (let i = 0; i < frameCount && !exit; i++) {
      const frame = await renderFrame(i);
      throwIfAborted(signal);
      if (!child.stdin.write(frame)) await Promise.race([once(child.stdin, 'drain'), exited]);
      onFrame?.(i);
    }
    child.stdin.end();
    const { code, signal: killedBy, error } = await exited;
    throwIfAborted(signal);
    if (error) throw new EngineError(`ffmpeg could not start: ${error.message}`, false, { cause: error });
    if (code !== 0) {
      const tail = stderr.trim().split('\n').slice(-5).join('\n');
      throw new EngineError(`ffmpeg exited with ${code ?? killedBy}: ${tail}`, false);
    }
  } catch (e) {
    kill();
    await exited;
    if (signal.aborted) throw abortError(signal);
    throw e;
  } finally {
    signal.removeEventListener('abort', kill);
  }
}
