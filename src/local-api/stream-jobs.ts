import type { WorkerEventBus } from '../events/index.js';
import type { Claim } from '../protocol/index.js';
import type { StreamSessionEvent, StreamSessionStart } from '../stt-stream/index.js';

const NO_CLI_DEFAULTS = { cfgScale: 0, steps: 0, width: 0, height: 0 };

/** A session as the job it is recorded as: an audio_stt job on the model, its prompt the final text. */
function sessionClaim(e: StreamSessionStart | StreamSessionEvent, jobId: string, prompt?: string): Claim {
  return {
    jobId,
    gameId: 'local',
    assetName: 'stream',
    model: e.model,
    vramGbEstimate: 0,
    task: {
      kind: 'audio_stt',
      inputUrl: `stream from ${e.peer}`,
      ...(prompt ? { prompt } : {}),
    },
    modelSource: { engine: 'parakeet', files: [], cliDefaults: NO_CLI_DEFAULTS },
  };
}

/**
 * Records every stream session in the local job history, as the original does (kind audio_stt,
 * the prompt the final text; a session that ended in an error failed with it), through the same
 * events a local API job emits, so the dashboard, `/jobs` and `/daemon/status` list it. Refusals
 * (not loaded, busy) are no sessions and no jobs. The sessions are marked `stream`, as the original's.
 */
export function recordStreamSessions(events: WorkerEventBus): (e: StreamSessionEvent) => void {
  return (e) => {
    const jobId = `stream-${e.id}`;
    if (e.type === 'start') {
      events.emit('job:offered', { claim: sessionClaim(e, jobId), source: 'stream' });
      events.emit('job:accepted', { jobId, kind: 'audio_stt', model: e.model });
      return;
    }
    const text = e.finalText ?? '';
    // Told again now that the text is known: the history keeps the prompt the last offer gave it.
    events.emit('job:offered', { claim: sessionClaim(e, jobId, text), source: 'stream' });
    if (text !== '') {
      const bytes = Buffer.byteLength(text);
      events.emit('job:result', { jobId, kind: 'audio_stt', ext: 'txt', bytes, text });
    }
    const ms = e.finishedAt.getTime() - e.startedAt.getTime();
    if (e.error === undefined) events.emit('job:completed', { jobId, kind: 'audio_stt', ms });
    else events.emit('job:failed', { jobId, kind: 'audio_stt', error: e.error, retryable: false });
  };
}
