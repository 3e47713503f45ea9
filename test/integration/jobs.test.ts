import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskInput } from '../../src/protocol/index.js';
import { TaskSchema } from '../../src/protocol/index.js';
import { verifyResult } from '../../src/results/index.js';
import type { Harness, RunningWorker } from '../support/harness.js';
import { startHarness } from '../support/harness.js';

let h: Harness;
let w: RunningWorker;

beforeAll(async () => {
  h = await startHarness({ config: { vramThresholdGb: 12 } });
  w = h.startWorker();
  await w.next('session:welcomed');
});
afterAll(async () => {
  await h.close();
});

async function runToEnd(input: Parameters<Harness['studio']['admin']['enqueueJob']>[0]) {
  const job = h.studio.admin.enqueueJob(input);
  return h.studio.admin.waitForJob(job.jobId, { timeoutMs: 20_000 });
}

describe('each task kind, end to end through the dev studio', () => {
  const cases: TaskInput[] = [
    { kind: 'image', prompt: 'a red fox', width: 64, height: 64, ext: 'png' },
    { kind: 'llm', messages: [{ role: 'user', content: 'hello' }], maxTokens: 16 },
    { kind: 'audio_tts', text: 'hello there' },
    { kind: 'video', prompt: 'waves', seconds: 1, fps: 4, width: 64, height: 64 },
  ];
  for (const task of cases) {
    it(`delivers a real, decodable ${task.kind} result`, async () => {
      const done = await runToEnd({ task });
      expect(done.status).toBe('completed');
      const result = h.studio.admin.jobResult(done.jobId);
      const parsed = TaskSchema.parse(task);
      const check =
        result?.type === 'json'
          ? await verifyResult(task.kind, { json: result.value }, parsed)
          : await verifyResult(task.kind, { path: result.path, ext: result.ext }, parsed);
      expect(check).toMatchObject({ ok: true });
    });
  }

  it('transcribes the audio the studio points at (audio_stt downloads inputUrl)', async () => {
    const done = await runToEnd({ task: { kind: 'audio_stt', inputUrl: h.studio.admin.sampleAudioUrl } });
    expect(done.status).toBe('completed');
    const result = h.studio.admin.jobResult(done.jobId);
    expect(result?.type).toBe('json');
    if (result?.type !== 'json') return;
    expect(await verifyResult('audio_stt', { json: result.value })).toMatchObject({ ok: true });
  });

  it('uploads binary results as multipart with the file name <jobId>.<ext>', async () => {
    const done = await runToEnd({ task: { kind: 'image', prompt: 'x', width: 32, height: 32, ext: 'webp' } });
    const result = h.studio.admin.jobResult(done.jobId);
    expect(result).toMatchObject({
      type: 'file',
      ext: 'webp',
      contentType: 'image/webp',
      filename: `${done.jobId}.webp`,
    });
    if (result?.type !== 'file') return;
    const bytes = await readFile(result.path);
    expect(bytes.subarray(8, 12).toString()).toBe('WEBP');
  });

  it('sends currentJobId in heartbeats while a job runs', async () => {
    const seen: unknown[] = [];
    const onFrame = (e: { direction: string; frame: { type: string; currentJobId?: string | null } }) => {
      if (e.direction === 'in' && e.frame.type === 'heartbeat' && e.frame.currentJobId)
        seen.push(e.frame.currentJobId);
    };
    h.studio.events.on('frame', onFrame);
    const done = await runToEnd({
      task: { kind: 'video', prompt: 'slow', seconds: 3, fps: 12, width: 256, height: 256 },
    });
    h.studio.events.off('frame', onFrame);
    expect(done.status).toBe('completed');
    expect(seen).toContain(done.jobId);
  });
});

describe('the prompt sent back with each result (the original prompt_for, never truncated)', () => {
  const long = `a lighthouse on a cliff at dusk, ${'with waves crashing below and gulls overhead, '.repeat(8)}end`;
  it('image: the task prompt in full, in the multipart prompt field', async () => {
    expect(long.length).toBeGreaterThan(200);
    const done = await runToEnd({ task: { kind: 'image', prompt: long, width: 32, height: 32 } });
    expect(h.studio.admin.jobResult(done.jobId).prompt).toBe(long);
  });
  it('llm: the last message, whatever its role, in full, as completeJson.prompt', async () => {
    const done = await runToEnd({
      task: {
        kind: 'llm',
        system: 'be brief',
        messages: [
          { role: 'user', content: 'first' },
          { role: 'assistant', content: long },
        ],
        maxTokens: 8,
      },
    });
    expect(h.studio.admin.jobResult(done.jobId).prompt).toBe(long);
  });
  it('audio_stt: the input URL; audio_tts: the text', async () => {
    const inputUrl = h.studio.admin.sampleAudioUrl;
    const stt = await runToEnd({ task: { kind: 'audio_stt', inputUrl, prompt: 'not this' } });
    expect(h.studio.admin.jobResult(stt.jobId).prompt).toBe(inputUrl);
    const tts = await runToEnd({ task: { kind: 'audio_tts', text: long } });
    expect(h.studio.admin.jobResult(tts.jobId).prompt).toBe(long);
  });
  it('never made the studio see a protocol violation (no readyForMore, no frame for a job it does not hold)', () => {
    expect(h.studio.admin.violations()).toEqual([]);
  });
});

describe('offers the worker must refuse', () => {
  it('rejects a job whose VRAM estimate is above the threshold', async () => {
    // Like production, the dev studio never offers a job above the advertised vramThresholdGb; this
    // test is about the worker's own check, so it turns that matching off while it runs.
    h.studio.admin.matchCapabilities = false;
    try {
      const done = await runToEnd({ task: { kind: 'image', prompt: 'big' }, vramGbEstimate: 16 });
      // No code: each reject releases the claim and spends an attempt (flows.md §6), until none are left.
      expect(done).toMatchObject({ status: 'rejected', attempts: 3 });
      expect(done.failures.map((f) => f.via)).toEqual(['reject', 'reject', 'reject']);
      expect(done.rejectCode).toBeUndefined();
      expect(done.rejectReason).toContain('above');
      expect(done.rejectReason).toContain('12');
    } finally {
      h.studio.admin.matchCapabilities = true;
    }
  });

  it('is never offered a job above its advertised vramThresholdGb: the studio matches it (flows.md §3)', async () => {
    const big = h.studio.admin.enqueueJob({ task: { kind: 'image', prompt: 'big' }, vramGbEstimate: 16 });
    const small = await runToEnd({ task: { kind: 'image', prompt: 'small', width: 16, height: 16 } });
    expect(small.status).toBe('completed');
    expect(h.studio.admin.getJob(big.jobId)).toMatchObject({ status: 'queued', attempts: 0, failures: [] });
    // Out of the queue, so it cannot hold up the tests after this one.
    h.studio.admin.matchCapabilities = false;
    try {
      expect((await h.studio.admin.waitForJob(big.jobId, { timeoutMs: 20_000 })).status).toBe('rejected');
    } finally {
      h.studio.admin.matchCapabilities = true;
    }
  });

  it('rejects a parakeet job, saying that engine serves the streaming speech listener only', async () => {
    const done = await runToEnd({
      task: { kind: 'audio_stt', inputUrl: h.studio.admin.sampleAudioUrl },
      model: 'parakeet-tdt',
      modelSource: {
        engine: 'parakeet',
        files: [],
        cliDefaults: { cfgScale: 1, steps: 4, width: 512, height: 512 },
      },
    });
    expect(done.status).toBe('rejected');
    expect(done.rejectReason).toContain('engine "parakeet" serves streaming speech-to-text');
    expect(done.rejectReason).toContain('POST /stream-tokens');
  });

  it('rejects an sd-cpp job when sd-cli is not installed, saying how to install it', async () => {
    const done = await runToEnd({
      task: { kind: 'image', prompt: 'real model' },
      model: 'flux-schnell',
      modelSource: {
        engine: 'sd-cpp',
        files: [],
        cliDefaults: { cfgScale: 1, steps: 4, width: 512, height: 512 },
      },
    });
    expect(done.status).toBe('rejected');
    expect(done.rejectReason).toContain('sd_cli_path');
  });

  it('rejects a real model name on the synthetic engine (it serves only synthetic* models)', async () => {
    const done = await runToEnd({
      task: { kind: 'llm', messages: [{ role: 'user', content: 'hi' }] },
      model: 'llama-3-8b',
    });
    expect(done.status).toBe('rejected');
    expect(done.rejectReason).toContain('synthetic');
  });

  it('while paused says autoEnabled false, so the studio offers nothing (no reject, no attempt), and takes the job on resume', async () => {
    w.worker.pause();
    try {
      const paused = await new Promise<boolean>((resolve) => {
        const onFrame = (e: {
          direction: string;
          frame: { type: string; capabilities?: { autoEnabled: boolean } };
        }) => {
          if (
            e.direction === 'in' &&
            e.frame.type === 'heartbeat' &&
            e.frame.capabilities?.autoEnabled === false
          ) {
            h.studio.events.off('frame', onFrame);
            resolve(true);
          }
        };
        h.studio.events.on('frame', onFrame);
      });
      expect(paused).toBe(true);
      const job = h.studio.admin.enqueueJob({
        task: { kind: 'llm', messages: [{ role: 'user', content: 'hi' }] },
      });
      // Several heartbeats go by: the studio skips a worker that says it takes no jobs (flows.md §7).
      await new Promise((r) => setTimeout(r, 400));
      expect(h.studio.admin.getJob(job.jobId)).toMatchObject({ status: 'queued', attempts: 0 });
      expect(h.studio.admin.getJob(job.jobId).transientRejects).toBeUndefined();
      expect(w.worker.getStatus().availability).toMatchObject({
        available: false,
        reasons: ['paused by the operator'],
      });
      w.worker.resume();
      const done = await h.studio.admin.waitForJob(job.jobId, { timeoutMs: 20_000 });
      expect(done).toMatchObject({ status: 'completed', attempts: 0 });
    } finally {
      w.worker.resume();
    }
  });
});

describe('how failures are classified (the original: only what this worker cannot serve is final)', () => {
  it('fails a job it cannot serve (a jsonSchema that is no schema) as not retryable', async () => {
    const done = await runToEnd({
      task: { kind: 'llm', messages: [{ role: 'user', content: 'hi' }], jsonSchema: 'not a schema' },
    });
    // Not retryable: final at once, with no second attempt.
    expect(done).toMatchObject({ status: 'failed', retryable: false, attempts: 1 });
    expect(done.error).toContain('cannot serve');
  });
});

describe('jobs that fail', () => {
  it('fails each attempt of a job whose input cannot be fetched as retryable (as the original classifies it), naming the URL, until the studio gives up', async () => {
    const inputUrl = `${h.studio.url}files/missing.wav`;
    const done = await runToEnd({ task: { kind: 'audio_stt', inputUrl } });
    // flows.md §6: the studio requeues a retryable failure until the attempts (3) are spent.
    expect(done).toMatchObject({ status: 'failed', retryable: true, attempts: 3 });
    expect(done.failures.map((f) => [f.via, f.retryable])).toEqual([
      ['fail', true],
      ['fail', true],
      ['fail', true],
    ]);
    for (const f of done.failures) expect(f.error).toContain('missing.wav');
    expect(done.error).toContain('missing.wav');
  });

  it('fails a job whose input is plain http on another host, naming the rule and its override', async () => {
    const done = await runToEnd({
      task: { kind: 'audio_stt', inputUrl: 'http://audio.example.invalid/a.wav' },
    });
    // Retryable as the worker classifies it (only what it cannot serve is final), so the studio
    // tries each of its attempts before it gives up (flows.md §6).
    expect(done).toMatchObject({ status: 'failed', retryable: true, attempts: 3 });
    for (const f of done.failures) expect(f.error).toContain('refusing plain http');
    expect(done.error).toContain('refusing plain http to audio.example.invalid');
    expect(done.error).toContain('allow_insecure_downloads');
  });

  it('fails an offer that arrives without a task, never guessing', async () => {
    const done = await runToEnd({
      task: { kind: 'image', prompt: 'x' },
      rawClaim: { jobId: 'raw-1', gameId: 'g', assetName: 'a', model: 'synthetic-image', vramGbEstimate: 1 },
    });
    expect(done).toMatchObject({ status: 'failed', retryable: false, attempts: 1 });
    expect(done.error).toContain('task');
  });

  it('logs malformed, unknown and binary frames from the studio with the reason, and keeps the session', async () => {
    const workerId = (await h.store.load()).workerId!;
    let reconnects = 0;
    const off = w.worker.events.on('session:reconnecting', () => reconnects++);
    h.studio.admin.sendRaw(workerId, '{not json');
    h.studio.admin.sendRaw(workerId, JSON.stringify({ type: 'surprise', x: 1 }));
    h.studio.admin.sendRaw(workerId, JSON.stringify({ type: 'completeAck', jobId: 42 }));
    h.studio.admin.sendRaw(workerId, new Uint8Array([1, 2, 3]));
    await new Promise((r) => setTimeout(r, 200));
    const logs = h.logText();
    expect(logs).toContain('not JSON: {not json');
    expect(logs).toContain('surprise');
    expect(logs).toContain('jobId');
    expect(logs).toContain('binary frame');
    off();
    expect(reconnects).toBe(0);
    expect(h.studio.admin.violations()).toEqual([]);
    const ok = await runToEnd({
      task: { kind: 'llm', messages: [{ role: 'user', content: 'still there?' }] },
    });
    expect(ok.status).toBe('completed');
  });
});
