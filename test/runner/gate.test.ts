import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EngineDispatcher } from '../../src/engines/index.js';
import { WorkerEventBus } from '../../src/events/index.js';
import type { DeliveryOutcome } from '../../src/outbox/index.js';
import { Outbox, StoredResults } from '../../src/outbox/index.js';
import { ClaimSchema } from '../../src/protocol/index.js';
import { JobGate, JobRunner } from '../../src/runner/index.js';
import type { JobIO } from '../../src/runner/index.js';
import { GatedEngine } from '../support/gated-engine.js';

// The one-job gate against small fakes of the session and the upload (real engine, real disk): a
// studio job holds the gate from its accept until its result is delivered, or until the studio,
// having its bytes, offers the next job before it answers the upload: the gate passes straight to
// that job then, and the answer is read beside it.

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'runner-gate-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function deferred<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

function setUp() {
  const session = { generation: 1 as number | undefined };
  const frames: { type: string; jobId: string; code?: string; reason?: string }[] = [];
  const uploads = new Map<string, ReturnType<typeof deferred<DeliveryOutcome>>>();
  const uploading = new Map<string, ReturnType<typeof deferred<void>>>();
  const upload = (jobId: string) => {
    if (!uploads.has(jobId)) uploads.set(jobId, deferred<DeliveryOutcome>());
    if (!uploading.has(jobId)) uploading.set(jobId, deferred<void>());
    return { answer: uploads.get(jobId)!, started: uploading.get(jobId)!.promise };
  };
  const io: JobIO = {
    accept: (jobId) => (frames.push({ type: 'accept', jobId }), true),
    reject: (jobId, reason, code) => (
      frames.push({ type: 'reject', jobId, reason, ...(code ? { code } : {}) }),
      true
    ),
    completeJson: (jobId) => (frames.push({ type: 'completeJson', jobId }), true),
    fail: (jobId) => (frames.push({ type: 'fail', jobId }), true),
    generation: () => session.generation,
    // An upload the test answers: the studio's `/complete` is slow to reply.
    deliver: (entry) => {
      const u = upload(entry.jobId);
      uploading.get(entry.jobId)?.resolve();
      return u.answer.promise;
    },
  };
  const log = pino({ level: 'silent' });
  const events = new WorkerEventBus(log);
  const gate = new JobGate();
  const engine = new GatedEngine();
  const runner = new JobRunner(io, {
    dispatcher: new EngineDispatcher([engine]),
    results: new StoredResults(new Outbox(join(dir, 'outbox')), log),
    events,
    log,
    workRoot: join(dir, 'work'),
    vramThresholdGb: () => 12,
    identity: () => ({ workerId: 'w-1', apiBaseUrl: 'http://127.0.0.1:1/' }),
    gate,
  });
  const settled = (jobId: string) =>
    new Promise<void>((resolve) => {
      events.on('job:completed', (e) => e.jobId === jobId && resolve());
      events.on('job:failed', (e) => e.jobId === jobId && resolve());
    });
  return { runner, frames, gate, engine, upload, settled, session };
}

const image = (jobId: string) =>
  ClaimSchema.parse({
    jobId,
    gameId: 'g',
    assetName: 'a',
    model: 'synthetic-image',
    vramGbEstimate: 1,
    task: { kind: 'image', prompt: 'p', width: 8, height: 8 },
    modelSource: {
      engine: 'synthetic',
      files: [],
      cliDefaults: { cfgScale: 1, steps: 1, width: 8, height: 8 },
    },
  });

describe('the one-job gate in the runner', () => {
  it('starts the next offer, sent before /complete answers, at once: the gate passes straight to it and the first job’s answer and cleanup never free it', async () => {
    const { runner, frames, gate, engine, upload, settled } = setUp();
    runner.offer(image('a'));
    expect(gate.holder).toMatchObject({ source: 'studio', id: 'a' });
    await upload('a').started;

    // The studio has the bytes and offers the next job before it answers the upload.
    runner.offer(image('held-b'));
    expect(frames).toEqual([
      { type: 'accept', jobId: 'a' },
      { type: 'accept', jobId: 'held-b' },
    ]);
    expect(gate.holder).toMatchObject({ source: 'studio', id: 'held-b' });
    expect(gate.tryAcquire('local', 'local-1')).toBeUndefined();
    expect(runner.currentJob?.jobId).toBe('held-b');
    await engine.whenStarted('held-b');
    // A second offer meanwhile: busy, and the studio requeues it without an attempt.
    runner.offer(image('c'));
    expect(frames.at(-1)).toMatchObject({ type: 'reject', jobId: 'c', code: 'busy' });

    // Job a's answer and its own end (bookkeeping) come after: the gate stays b's.
    const aDone = settled('a');
    upload('a').answer.resolve({ outcome: 'delivered' });
    await aDone;
    await new Promise((r) => setTimeout(r, 50));
    expect(gate.holder?.id).toBe('held-b');
    expect(gate.tryAcquire('local', 'local-2')).toBeUndefined();
    expect(runner.currentJob?.jobId).toBe('held-b');
    expect(runner.storedResultCount).toBe(0);

    const bDone = settled('held-b');
    engine.release('held-b');
    await upload('held-b').started;
    expect(gate.holder?.id).toBe('held-b');
    upload('held-b').answer.resolve({ outcome: 'delivered' });
    await bDone;
    expect(gate.holder).toBeUndefined();
  });

  it('a stop waits for an upload answer still being read beside the next job', async () => {
    const { runner, engine, upload, settled } = setUp();
    runner.offer(image('a'));
    await upload('a').started;
    runner.offer(image('held-b'));
    await engine.whenStarted('held-b');
    const bDone = settled('held-b');
    engine.release('held-b');
    await upload('held-b').started;
    upload('held-b').answer.resolve({ outcome: 'delivered' });
    await bDone;
    expect(runner.currentJob).toBeUndefined();

    let drained = false;
    const drain = runner.drain(10_000).then(() => (drained = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(drained).toBe(false);
    upload('a').answer.resolve({ outcome: 'delivered' });
    await drain;
    expect(runner.storedResultCount).toBe(0);
  });

  it('turns another job offered on a new session down as busy while the old session’s result is uploading, as the original does', async () => {
    const { runner, frames, gate, upload, settled, session } = setUp();
    runner.offer(image('a'));
    await upload('a').started;
    // The session that accepted job a dropped and a new one came up: this offer says nothing
    // about whether the studio has job a's bytes.
    session.generation = 2;
    runner.offer(image('b'));
    expect(frames).toEqual([
      { type: 'accept', jobId: 'a' },
      { type: 'reject', jobId: 'b', code: 'busy', reason: expect.any(String) as string },
    ]);
    expect(gate.holder?.id).toBe('a');

    const aDone = settled('a');
    upload('a').answer.resolve({ outcome: 'delivered' });
    await aDone;
    expect(gate.holder).toBeUndefined();
    // Offered again once the worker is free (the studio requeued it without counting an attempt).
    const bDone = settled('b');
    runner.offer(image('b'));
    expect(gate.holder).toMatchObject({ source: 'studio', id: 'b' });
    await upload('b').started;
    upload('b').answer.resolve({ outcome: 'delivered' });
    await bDone;
  });

  it('answers the uploading job offered again on a new session once its upload ends', async () => {
    const { runner, frames, gate, engine, upload, session } = setUp();
    runner.offer(image('a'));
    await upload('a').started;
    session.generation = 2;
    runner.offer(image('a'));
    expect(frames).toEqual([{ type: 'accept', jobId: 'a' }]);
    // The old session's claim was released: its upload is refused (409), the result kept; the held
    // re-offer is then accepted and answered from that result, without running the job again.
    upload('a').answer.resolve({ outcome: 'not-ours', error: 'HTTP 409' });
    await expect
      .poll(() => frames.filter((f) => f.jobId === 'a').map((f) => f.type))
      .toEqual(['accept', 'accept']);
    await expect.poll(() => gate.holder).toBeUndefined();
    expect(engine.runs).toEqual(['a']);
  });

  it('turns a studio offer down as busy while a local request holds the gate, and takes the next once it is free', async () => {
    const { runner, frames, gate, upload, settled } = setUp();
    const release = gate.tryAcquire('local', 'local-7');
    expect(release).toBeDefined();
    runner.offer(image('d'));
    expect(frames).toEqual([
      {
        type: 'reject',
        jobId: 'd',
        code: 'busy',
        reason: 'worker is busy with a local API request (local-7)',
      },
    ]);
    expect(runner.availability().available).toBe(true);
    release?.();
    const done = settled('e');
    runner.offer(image('e'));
    expect(gate.holder?.id).toBe('e');
    await upload('e').started;
    upload('e').answer.resolve({ outcome: 'delivered' });
    await done;
    expect(gate.holder).toBeUndefined();
  });

  it('lets the gate go when a job fails, and when the studio answers its upload 409 (the result kept for a re-offer)', async () => {
    const { runner, gate, upload, settled } = setUp();
    const failed = settled('f');
    runner.offer(image('f'));
    await upload('f').started;
    upload('f').answer.resolve({ outcome: 'gave-up', error: 'HTTP 503' });
    await failed;
    expect(gate.holder).toBeUndefined();

    runner.offer(image('g'));
    await upload('g').started;
    upload('g').answer.resolve({ outcome: 'not-ours', error: 'HTTP 409' });
    await expect.poll(() => gate.holder).toBeUndefined();
    // Both results stay on disk: a failed upload and a 409 each wait for the studio's re-offer.
    expect(runner.storedResultCount).toBe(2);
  });
});
