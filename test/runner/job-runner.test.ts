import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EngineDispatcher, SyntheticEngine } from '../../src/engines/index.js';
import { WorkerEventBus } from '../../src/events/index.js';
import { Outbox, StoredResults } from '../../src/outbox/index.js';
import type { ClaimInput } from '../../src/protocol/index.js';
import { ClaimSchema } from '../../src/protocol/index.js';
import { JobRunner } from '../../src/runner/index.js';
import type { JobIO } from '../../src/runner/job-io.js';

// The runner's loop against a small fake of the session (JobIO): real engine, real disk.

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'runner-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** `onFail`: called as the studio sees each fail frame (the dev studio may offer the job back then). */
function setUp(
  results?: StoredResults,
  onFail?: (jobId: string) => void,
  extra: Partial<ConstructorParameters<typeof JobRunner>[1]> = {},
) {
  const frames: { type: string; jobId: string; retryable?: boolean; error?: string; code?: string }[] = [];
  let generation: number | undefined = 1;
  const io: JobIO = {
    accept: (jobId) => (frames.push({ type: 'accept', jobId }), true),
    reject: (jobId, _reason, code) => (
      frames.push({ type: 'reject', jobId, ...(code ? { code } : {}) }),
      true
    ),
    completeJson: (jobId) => (frames.push({ type: 'completeJson', jobId }), true),
    fail: (jobId, error, retryable) => (
      frames.push({ type: 'fail', jobId, error, retryable }),
      onFail?.(jobId),
      true
    ),
    generation: () => generation,
    deliver: () => Promise.resolve({ outcome: 'delivered' }),
  };
  const log = pino({ level: 'silent' });
  const events = new WorkerEventBus(log);
  const runner = new JobRunner(io, {
    dispatcher: new EngineDispatcher([new SyntheticEngine()]),
    results: results ?? new StoredResults(new Outbox(join(dir, 'outbox')), log),
    events,
    log,
    workRoot: join(dir, 'work'),
    vramThresholdGb: () => 12,
    identity: () => ({ workerId: 'w-1', apiBaseUrl: 'http://127.0.0.1:1/' }),
    ...extra,
  });
  const finished = (jobId: string) =>
    new Promise<void>((resolve) => {
      events.on('job:failed', (e) => e.jobId === jobId && resolve());
      events.on('job:completed', (e) => e.jobId === jobId && resolve());
    });
  return {
    runner,
    frames,
    finished,
    drop: () => ((generation = undefined), runner.sessionLost()),
    welcome: (n: number) => (generation = n),
  };
}

const claim = (jobId: string, task: ClaimInput['task']) =>
  ClaimSchema.parse({
    jobId,
    gameId: 'g',
    assetName: 'a',
    model: `synthetic-${task.kind}`,
    vramGbEstimate: 1,
    task,
    modelSource: {
      engine: 'synthetic',
      files: [],
      cliDefaults: { cfgScale: 1, steps: 1, width: 8, height: 8 },
    },
  });

describe('JobRunner', () => {
  it('fails a job as retryable when the disk will not take its result (the worker’s fault, not the job’s)', async () => {
    const log = pino({ level: 'silent' });
    const results = new StoredResults(new Outbox(join(dir, 'outbox')), log);
    results.json.put = () => {
      const e: NodeJS.ErrnoException = new Error('ENOSPC: no space left on device, write');
      e.code = 'ENOSPC';
      return Promise.reject(e);
    };
    const { runner, frames, finished } = setUp(results);
    const done = finished('j-1');
    runner.offer(claim('j-1', { kind: 'llm', messages: [{ role: 'user', content: 'hi' }] }));
    await done;
    expect(frames.at(-1)).toMatchObject({ type: 'fail', jobId: 'j-1', retryable: true });
    expect(frames.at(-1)?.error).toContain('no space left');
  });

  it('runs a job the studio offers back right after its retryable fail (flows.md §6), and reports that run too', async () => {
    const log = pino({ level: 'silent' });
    const results = new StoredResults(new Outbox(join(dir, 'outbox')), log);
    const put = results.json.put.bind(results.json);
    let full = true;
    results.json.put = (...args) => {
      if (!full) return put(...args);
      full = false;
      return Promise.reject(new Error('ENOSPC: no space left on device, write'));
    };
    const job = claim('j-1', { kind: 'llm', messages: [{ role: 'user', content: 'hi' }] });
    // The offer comes back before the failed run has finished tidying up after itself.
    const { runner, frames } = setUp(results, () => queueMicrotask(() => runner.offer(job)));
    runner.offer(job);
    await expect.poll(() => frames.map((f) => f.type)).toEqual(['accept', 'fail', 'accept', 'completeJson']);
    await expect.poll(() => runner.currentJob).toBeUndefined();
  });

  it('removes the half-written files a killed worker left at start, and keeps the stored results', async () => {
    const log = pino({ level: 'silent' });
    const results = new StoredResults(new Outbox(join(dir, 'outbox')), log);
    await results.json.put('j-kept', { text: 'done' }, 'p');
    await writeFile(join(dir, 'outbox', '.tmp-0b1c'), 'half a sidecar');
    await writeFile(join(dir, 'outbox', 'json', '.tmp-9f8e'), '{"half');
    const { runner } = setUp(results);
    await runner.loadStoredResults();
    expect(await readdir(join(dir, 'outbox'))).toEqual(['json']);
    expect(await readdir(join(dir, 'outbox', 'json'))).toEqual(['j-kept.json']);
    expect(await results.jobIds()).toEqual(['j-kept']);
  });

  it('rejects with code busy while a job runs, and code paused while paused', async () => {
    const { runner, frames, finished } = setUp();
    const done = finished('j-1');
    runner.offer(claim('j-1', { kind: 'image', prompt: 'p', width: 8, height: 8 }));
    runner.offer(claim('j-2', { kind: 'image', prompt: 'p', width: 8, height: 8 }));
    await done;
    runner.setPaused(true);
    runner.offer(claim('j-3', { kind: 'image', prompt: 'p', width: 8, height: 8 }));
    expect(frames.filter((f) => f.type === 'reject')).toEqual([
      { type: 'reject', jobId: 'j-2', code: 'busy' },
      { type: 'reject', jobId: 'j-3', code: 'paused' },
    ]);
  });

  it('sends nothing about a job whose session dropped, and answers its re-offer from disk', async () => {
    const { runner, frames, finished, drop, welcome } = setUp();
    const job = claim('j-1', { kind: 'llm', messages: [{ role: 'user', content: 'hi' }] });
    runner.offer(job);
    drop();
    await new Promise((r) => setTimeout(r, 100));
    expect(frames).toEqual([{ type: 'accept', jobId: 'j-1' }]);
    expect(runner.storedResultCount).toBe(1);
    welcome(2);
    const done = finished('j-1');
    runner.offer(job);
    await done;
    expect(frames.slice(1)).toEqual([
      { type: 'accept', jobId: 'j-1' },
      { type: 'completeJson', jobId: 'j-1' },
    ]);
    runner.completeAcknowledged('j-1');
    expect(runner.storedResultCount).toBe(0);
  });

  it('reads a full disk again before turning an offer down, and takes the job when space was freed', async () => {
    let free = false;
    let rechecks = 0;
    const { runner, frames, finished } = setUp(undefined, undefined, {
      diskProblem: () => (free ? undefined : 'disk full: 10 MB free'),
      recheckDisk: () => {
        rechecks++;
        free = rechecks >= 2; // the first recheck still finds it full, the second finds room
        return Promise.resolve();
      },
    });
    const task = { kind: 'image', prompt: 'x', width: 8, height: 8 } as const;
    runner.offer(claim('full', task));
    await expect.poll(() => frames.map((f) => `${f.type}:${f.jobId}`)).toEqual(['reject:full']);
    expect(frames[0]).toMatchObject({ code: 'busy' });
    const done = finished('freed');
    runner.offer(claim('freed', task));
    await done;
    expect(frames.map((f) => `${f.type}:${f.jobId}`)).toEqual(['reject:full', 'accept:freed']);
    expect(rechecks).toBe(2);
  });
});
