import { spawn } from 'node:child_process';
import type { Logger } from 'pino';
import { abortError } from '../abort.js';
import { EngineError } from '../types.js';
import { SD_CLI_NOT_FOUND } from './binary.js';
import { cleanLine, LineSplitter, parseProgressLine, type SdProgressStep } from './progress.js';

/** SIGTERM first so sd-cli can free the GPU cleanly; SIGKILL if it has not gone after this long. */
export const KILL_GRACE_MS = 2_000;
const TAIL_LINES = 8;

/**
 * Failures another attempt (here later, or on another worker) may get past: the GPU was out of
 * memory or wedged, the OS killed the process. Matched against sd-cli's and ggml's own wording.
 */
const TRANSIENT =
  /out of memory|CUDA error|cudaMalloc failed|failed to allocate|ErrorOutOfDeviceMemory|bad_alloc|device lost/i;

export interface SdCliRunOptions {
  binary: string;
  args: string[];
  cwd: string;
  /** The child's environment (default: this process's). */
  env?: NodeJS.ProcessEnv;
  signal: AbortSignal;
  log: Logger;
  onProgress?: (progress: SdProgressStep) => void;
  /** Kill sd-cli and fail (retryable) after this long; undefined = no limit. */
  timeoutMs?: number;
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: Error;
}

/**
 * Runs sd-cli with an argument array (never a shell) and resolves when it exits 0. Output lines go
 * to the log at debug; progress bars become `onProgress` calls. Exit contract: 0 = done; a signal,
 * or a message that reads like running out of GPU memory = retryable EngineError; any other
 * non-zero exit = non-retryable (bad arguments, unreadable model), with the last lines it printed.
 * Aborting sends SIGTERM, then SIGKILL after {@link KILL_GRACE_MS}, and rejects with an AbortError
 * once the process is gone.
 */
export async function runSdCli(opts: SdCliRunOptions): Promise<void> {
  const { binary, args, cwd, signal, log } = opts;
  if (signal.aborted) throw abortError(signal);
  const child = spawn(binary, args, {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    windowsHide: true,
    ...(opts.env ? { env: opts.env } : {}),
  });
  log.debug({ pid: child.pid, binary, args }, 'sd-cli started');

  const tails = { stdout: [] as string[], stderr: [] as string[] };
  for (const stream of ['stdout', 'stderr'] as const) {
    const splitter = new LineSplitter();
    const onLines = (lines: string[]): void => {
      for (const line of lines) {
        const progress = parseProgressLine(line);
        if (progress) {
          opts.onProgress?.(progress);
          continue;
        }
        const text = cleanLine(line);
        log.debug({ stream }, text);
        const tail = tails[stream];
        tail.push(text);
        if (tail.length > TAIL_LINES) tail.shift();
      }
    };
    child[stream].setEncoding('utf8');
    child[stream].on('data', (chunk: string) => onLines(splitter.push(chunk)));
    child[stream].on('end', () => onLines(splitter.flush()));
  }

  let exit: Exit | undefined;
  const exited = new Promise<Exit>((resolve) => {
    child.once('error', (error) => resolve((exit ??= { code: null, signal: null, error })));
    child.once('close', (code, sig) => resolve((exit ??= { code, signal: sig })));
  });

  let killTimer: NodeJS.Timeout | undefined;
  let timedOut = false;
  const stop = (): void => {
    if (exit || killTimer) return;
    child.kill('SIGTERM');
    killTimer = setTimeout(() => {
      if (!exit) child.kill('SIGKILL');
    }, KILL_GRACE_MS);
  };
  const timeout =
    opts.timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          timedOut = true;
          stop();
        }, opts.timeoutMs);
  signal.addEventListener('abort', stop, { once: true });
  let result: Exit;
  try {
    result = await exited;
  } finally {
    signal.removeEventListener('abort', stop);
    clearTimeout(timeout);
    clearTimeout(killTimer);
  }

  if (signal.aborted) throw abortError(signal);
  if (result.error) throw spawnError(binary, result.error);
  if (timedOut) throw new EngineError(`sd-cli ran past its ${opts.timeoutMs} ms limit and was killed`, true);
  if (result.code === 0) return;
  const tail = (tails.stderr.length > 0 ? tails.stderr : tails.stdout).join('\n');
  const how = result.signal ? `was killed by ${result.signal}` : `exited with code ${result.code}`;
  const retryable = result.signal !== null || TRANSIENT.test(tail);
  throw new EngineError(`sd-cli ${how}${tail ? `: ${tail}` : ''}`, retryable);
}

function spawnError(binary: string, error: Error): EngineError {
  const code = (error as NodeJS.ErrnoException).code;
  const hint = code === 'ENOENT' || code === 'EACCES' ? ` — ${SD_CLI_NOT_FOUND}` : '';
  return new EngineError(`sd-cli (${binary}) could not start: ${error.message}${hint}`, false, {
    cause: error,
  });
}
