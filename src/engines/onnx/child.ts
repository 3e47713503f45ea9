import { spawn } from 'node:child_process';
import type { Logger } from 'pino';
import { abortError, throwIfAborted } from '../abort.js';
import { EngineCrashError } from '../supervise/index.js';
import { EngineError } from '../types.js';
import { CHILD_SOURCE } from './child-source.js';

const STDERR_TAIL_CHARS = 4096;

export interface ChildRun {
  request: Record<string, unknown> & { op: string };
  signal: AbortSignal;
  log: Logger;
  onProgress?: (fraction: number) => void;
}

type ChildMessage =
  | { type: 'progress'; fraction: number }
  | { type: 'result'; value: unknown }
  | { type: 'error'; message: string };

function isChildMessage(m: unknown): m is ChildMessage {
  return typeof m === 'object' && m !== null && 'type' in m && typeof m.type === 'string';
}

/**
 * Runs one inference request in a fresh `node` child (see child-source.ts) and resolves with its
 * result. The exit-code contract: a `{type:'error'}` message is the job's fault (non-retryable,
 * e.g. a model that does not load); a native `exit()` without a message (sherpa-onnx exits on bad
 * config) is non-retryable with the tail of stderr; death by a signal we did not send (the OOM
 * killer, a crash) is retryable, as another worker may have the memory. Aborting kills the child
 * at once — whisper.cpp cannot stop mid-decode in-process, so this is what makes cancel real.
 */
export async function runChild({ request, signal, log, onProgress }: ChildRun): Promise<unknown> {
  throwIfAborted(signal);
  const child = spawn(process.execPath, ['-e', CHILD_SOURCE], {
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  let stderr = '';
  const tail = (chunk: string): void => {
    stderr = (stderr + chunk).slice(-STDERR_TAIL_CHARS);
  };
  child.stderr?.setEncoding('utf8').on('data', tail);
  child.stdout?.setEncoding('utf8').on('data', tail);
  let outcome: ChildMessage | undefined;
  child.on('message', (m: unknown) => {
    if (!isChildMessage(m)) return;
    if (m.type === 'progress') onProgress?.(m.fraction);
    else outcome ??= m;
  });
  const kill = (): void => {
    child.kill('SIGKILL');
  };
  signal.addEventListener('abort', kill, { once: true });
  try {
    const exit = await new Promise<{ code: number | null; sig: NodeJS.Signals | null; error?: Error }>(
      (resolve) => {
        child.once('error', (error) => resolve({ code: null, sig: null, error }));
        child.once('close', (code, sig) => resolve({ code, sig }));
        child.send(request, (e) => {
          if (e) log.debug({ err: e }, 'inference child went away before its request');
        });
      },
    );
    if (signal.aborted) throw abortError(signal);
    if (stderr.trim() !== '') log.debug({ output: stderr }, 'inference child output');
    if (exit.error) {
      throw new EngineError(`the inference child could not start: ${exit.error.message}`, false, {
        cause: exit.error,
      });
    }
    if (outcome?.type === 'result' && exit.code === 0) return outcome.value;
    if (outcome?.type === 'error') throw new EngineError(outcome.message, false);
    if (exit.code === 0) {
      throw new EngineError(
        `the ${String(request.op)} inference ended without a result: the native library dropped the request ` +
          `(whisper.cpp's Node binding does so when a transcription fails inside whisper.cpp)`,
        false,
      );
    }
    const lastLines = stderr.trim().split('\n').slice(-5).join('\n');
    if (exit.sig) {
      const phase = request.op === 'sherpa-tts' ? 'speaking' : 'transcribing';
      throw new EngineCrashError(
        {
          engine: 'onnx',
          signal: exit.sig,
          code: null,
          phase,
          lastLines,
          at: new Date().toISOString(),
          message: `onnx crashed (${exit.sig}) while ${phase} (${String(request.op)}): ${lastLines}`,
        },
        false,
      );
    }
    throw new EngineError(`the inference child exited with ${exit.code}: ${lastLines}`, false);
  } finally {
    signal.removeEventListener('abort', kill);
    kill();
  }
}
