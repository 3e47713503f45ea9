import type { Transcriber } from '../../stt-stream/index.js';
import type { ChildRequest, StreamOpened } from './protocol.js';

/** Sends one request to the engine process and waits for its answer (SupervisedEngine's `ask`). */
export type AskChild = (request: ChildRequest, phase: string, signal: AbortSignal) => Promise<unknown>;

/**
 * A step that takes longer than this stops the engine process: a chunk is well under a second of
 * work, and a wedged native decode would otherwise hold its session (and an unload) for ever.
 */
export const STREAM_STEP_TIMEOUT_MS = 30_000;

/**
 * A transcriber whose model lives in an engine process: every call is one request over IPC, so a
 * native crash there fails this session's step (as a crash, with the process's last words) and
 * never the worker. Closing after the process is gone asks nothing: there is nothing left to free.
 */
export async function openRemoteStream(
  modelId: string,
  ask: AskChild,
  alive: () => boolean,
  stepTimeoutMs = STREAM_STEP_TIMEOUT_MS,
): Promise<Transcriber> {
  const never = new AbortController().signal;
  const opened = (await ask({ type: 'stream-open', modelId }, 'opening a stream', never)) as StreamOpened;
  const { stream, chunkSamples } = opened;
  return {
    chunkSamples,
    async step(chunk) {
      const signal = AbortSignal.timeout(stepTimeoutMs);
      try {
        return String(await ask({ type: 'stream-step', stream, samples: chunk }, 'transcribing', signal));
      } catch (e) {
        if (!signal.aborted) throw e;
        throw new Error(`the speech model gave no answer within ${stepTimeoutMs / 1000} s`, { cause: e });
      }
    },
    async reset() {
      await ask({ type: 'stream-reset', stream }, 'resetting a stream', never);
    },
    async close() {
      if (alive()) await ask({ type: 'stream-close', stream }, 'closing a stream', never);
    },
  };
}
