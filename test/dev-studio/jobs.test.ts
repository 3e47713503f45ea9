import { readFile } from 'node:fs/promises';
import { fetch } from 'undici';
import { describe, expect, it } from 'vitest';
import { approvedWorker, capabilities, session, studio, uploadResult } from './helpers.js';

const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 9, 9]);

describe('dev studio jobs', () => {
  it('runs an image job: offer with defaults filled, accept, multipart upload, completeAck, bytes stored', async () => {
    const s = await studio();
    const w = await approvedWorker(s);
    const client = await session(s, w);
    const job = s.admin.enqueueJob({ task: { kind: 'image', prompt: 'a red fox', ext: 'png' } });

    const { claim } = await client.next('offer');
    expect(claim).toEqual({
      jobId: job.jobId,
      gameId: 'dev-game',
      assetName: expect.any(String) as unknown,
      model: 'synthetic-image',
      vramGbEstimate: 1,
      task: { kind: 'image', prompt: 'a red fox', width: 512, height: 512, steps: 20, ext: 'png' },
      modelSource: {
        engine: 'synthetic',
        files: [],
        cliDefaults: { cfgScale: 7, steps: 20, width: 512, height: 512 },
      },
    });
    expect(s.admin.getJob(job.jobId)).toMatchObject({ status: 'offered', workerId: w.workerId });

    client.send({ type: 'accept', jobId: job.jobId });
    await s.admin.waitForJob(job.jobId, { until: (j) => j.status === 'accepted' });
    expect(await uploadResult(s, w, job.jobId, { bytes: png })).toEqual({ status: 200, body: '{"ok":true}' });

    const done = await s.admin.waitForJob(job.jobId);
    expect(done.status).toBe('completed');
    const result = s.admin.jobResult(job.jobId);
    expect(result).toMatchObject({
      type: 'file',
      ext: 'png',
      contentType: 'image/png',
      filename: `${job.jobId}.png`,
      bytes: png.length,
      prompt: 'a red fox',
    });
    if (result.type !== 'file') throw new Error('expected a file result');
    expect(new Uint8Array(await readFile(result.path))).toEqual(png);

    const served = await fetch(`${s.url}admin/jobs/${job.jobId}/result`);
    expect(served.headers.get('content-type')).toBe('image/png');
    expect(new Uint8Array(await served.arrayBuffer())).toEqual(png);
  });

  it('completes an llm job from a completeJson frame and offers the next job right after', async () => {
    const s = await studio();
    const w = await approvedWorker(s);
    const client = await session(s, w);
    const llm = s.admin.enqueueJob({ task: { kind: 'llm', messages: [{ role: 'user', content: 'hi' }] } });
    const next = s.admin.enqueueJob({
      task: { kind: 'llm', messages: [{ role: 'user', content: 'again' }] },
    });

    const offer = await client.next('offer');
    expect(offer.claim).toMatchObject({ jobId: llm.jobId, model: 'synthetic-llm', task: { maxTokens: 512 } });
    expect(offer.claim).not.toHaveProperty('prompt');
    client.send({ type: 'accept', jobId: llm.jobId });
    const result = {
      object: 'chat.completion',
      choices: [{ message: { role: 'assistant', content: 'hello' } }],
    };
    client.send({ type: 'completeJson', jobId: llm.jobId, result, prompt: 'hi' });
    expect(await client.next('completeAck')).toEqual({ type: 'completeAck', jobId: llm.jobId });
    expect((await client.next('offer')).claim.jobId).toBe(next.jobId);
    expect(s.admin.jobResult(llm.jobId)).toEqual({ type: 'json', value: result, prompt: 'hi' });
  });

  it('ends a job failed at once on a fail that is not retryable, records the attempt and answers failAck', async () => {
    const s = await studio();
    const w = await approvedWorker(s);
    const client = await session(s, w);
    const job = s.admin.enqueueJob({ task: { kind: 'image', prompt: 'waves' } });
    await client.next('offer');
    client.send({ type: 'accept', jobId: job.jobId });
    client.send({ type: 'fail', jobId: job.jobId, error: 'no such engine', retryable: false });
    expect(await client.next('failAck')).toEqual({ type: 'failAck', jobId: job.jobId });
    expect(s.admin.getJob(job.jobId)).toMatchObject({
      status: 'failed',
      error: 'no such engine',
      retryable: false,
      attempts: 1,
      maxAttempts: 3,
      failures: [
        { attempt: 1, workerId: w.workerId, via: 'fail', error: 'no such engine', retryable: false },
      ],
    });
  });

  it('releases the claim on a reject without a code and counts an attempt; the job comes back only at the next idle heartbeat, and ends rejected once its attempts are spent', async () => {
    const s = await studio({ maxAttempts: 2 });
    const w = await approvedWorker(s);
    const client = await session(s, w);
    // Within the worker's taskKinds and vramThresholdGb: offered, and refused for a reason of its own.
    const job = s.admin.enqueueJob({ task: { kind: 'image', prompt: 'hello' }, model: 'flux-schnell' });
    expect((await client.next('offer')).claim).toMatchObject({ model: 'flux-schnell' });
    client.send({ type: 'reject', jobId: job.jobId, reason: 'no sd-cpp engine here' });
    const released = await s.admin.waitForJob(job.jobId, { until: (j) => j.attempts === 1 });
    expect(released).toMatchObject({
      status: 'queued',
      rejectReason: 'no sd-cpp engine here',
      maxAttempts: 2,
      failures: [{ attempt: 1, via: 'reject', error: 'no sd-cpp engine here', retryable: true }],
    });
    expect(released.rejectCode).toBeUndefined();
    // No immediate re-offer (it would spin): nothing for this worker until its next heartbeat.
    const other = s.admin.enqueueJob({ task: { kind: 'image', prompt: 'x' } });
    await new Promise((r) => setTimeout(r, 50));
    expect(client.frames.filter((f) => f.type === 'offer')).toHaveLength(0);
    client.send({ type: 'heartbeat', capabilities });
    expect((await client.next('offer')).claim.jobId).toBe(job.jobId);
    client.send({ type: 'reject', jobId: job.jobId, reason: 'no sd-cpp engine here' });
    const done = await s.admin.waitForJob(job.jobId);
    expect(done).toMatchObject({ status: 'rejected', attempts: 2, rejectReason: 'no sd-cpp engine here' });
    expect(done.failures.map((f) => [f.attempt, f.via])).toEqual([
      [1, 'reject'],
      [2, 'reject'],
    ]);
    expect(done.error).toBeUndefined();
    client.send({ type: 'heartbeat', capabilities });
    expect((await client.next('offer')).claim.jobId).toBe(other.jobId);
  });

  it('offers nothing to a worker that says autoEnabled: false, and offers on its first heartbeat that says true', async () => {
    const s = await studio();
    const w = await approvedWorker(s);
    const client = await session(s, w);
    client.send({ type: 'heartbeat', capabilities: { ...capabilities, autoEnabled: false } });
    await client.next('heartbeatAck');
    const job = s.admin.enqueueJob({ task: { kind: 'image', prompt: 'fox' } });
    client.send({ type: 'heartbeat', capabilities: { ...capabilities, autoEnabled: false } });
    await client.next('heartbeatAck');
    expect(client.frames.filter((f) => f.type === 'offer')).toHaveLength(0);
    expect(s.admin.getJob(job.jobId).status).toBe('queued');
    client.send({ type: 'heartbeat', capabilities });
    expect((await client.next('offer')).claim.jobId).toBe(job.jobId);
  });

  it('offers no job to the heartbeat of a worker that reports a job of its own running', async () => {
    const s = await studio();
    const w = await approvedWorker(s);
    const client = await session(s, w);
    client.send({ type: 'heartbeat', capabilities: { ...capabilities, autoEnabled: false } });
    await client.next('heartbeatAck');
    s.admin.enqueueJob({ task: { kind: 'image', prompt: 'fox' } });
    client.send({ type: 'heartbeat', capabilities, currentJobId: 'j-elsewhere' });
    await client.next('heartbeatAck');
    expect(client.frames.filter((f) => f.type === 'offer')).toHaveLength(0);
    client.send({ type: 'heartbeat', capabilities });
    await client.next('offer');
  });

  it('offers a worker only the jobs its taskKinds and vramThresholdGb cover, unless matchCapabilities is turned off', async () => {
    const s = await studio();
    expect(s.admin.matchCapabilities).toBe(true);
    expect(await (await fetch(`${s.url}admin/match-capabilities`)).json()).toEqual({
      matchCapabilities: true,
    });
    const w = await approvedWorker(s);
    const client = await session(s, w);
    const big = s.admin.enqueueJob({ task: { kind: 'image', prompt: 'big' }, vramGbEstimate: 13 });
    const tts = s.admin.enqueueJob({ task: { kind: 'audio_tts', text: 'hi' } });
    const fits = s.admin.enqueueJob({ task: { kind: 'image', prompt: 'fits' }, vramGbEstimate: 12 });
    expect((await client.next('offer')).claim.jobId).toBe(fits.jobId);
    expect(s.admin.getJob(big.jobId).status).toBe('queued');
    expect(s.admin.getJob(tts.jobId).status).toBe('queued');
    client.send({ type: 'reject', jobId: fits.jobId, reason: 'gone cold', code: 'busy' });
    const off = await fetch(`${s.url}admin/match-capabilities`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ matchCapabilities: false }),
    });
    expect(await off.json()).toEqual({ matchCapabilities: false });
    expect(s.admin.matchCapabilities).toBe(false);
    client.send({ type: 'heartbeat', capabilities });
    expect((await client.next('offer')).claim.jobId).toBe(fits.jobId);
  });

  it('puts an accepted job back in the queue when the socket drops, spending an attempt, and offers it on reconnect', async () => {
    const s = await studio();
    const w = await approvedWorker(s);
    const first = await session(s, w);
    const job = s.admin.enqueueJob({ task: { kind: 'image', prompt: 'fox' } });
    await first.next('offer');
    first.send({ type: 'accept', jobId: job.jobId });
    await s.admin.waitForJob(job.jobId, { until: (j) => j.status === 'accepted' });

    s.admin.dropWorker(w.workerId);
    expect((await first.closed).code).toBe(1006);
    const released = await s.admin.waitForJob(job.jobId, { until: (j) => j.status === 'queued' });
    expect(released).toMatchObject({
      attempts: 1,
      failures: [{ attempt: 1, workerId: w.workerId, via: 'disconnect', retryable: true }],
    });
    expect(released.failures[0]?.error).toContain('1006');

    const second = await session(s, w);
    expect((await second.next('offer')).claim.jobId).toBe(job.jobId);
  });

  it('answers 409 to an upload for a job whose claim was released when its socket closed', async () => {
    const s = await studio();
    const w = await approvedWorker(s);
    const client = await session(s, w);
    const job = s.admin.enqueueJob({ task: { kind: 'image', prompt: 'fox', ext: 'png' } });
    await client.next('offer');
    client.send({ type: 'accept', jobId: job.jobId });
    await s.admin.waitForJob(job.jobId, { until: (j) => j.status === 'accepted' });
    client.ws.terminate();
    await s.admin.waitForJob(job.jobId, { until: (j) => j.status === 'queued' });

    expect((await uploadResult(s, w, job.jobId)).status).toBe(409);
    expect(s.admin.getJob(job.jobId).status).toBe('queued');
  });

  it('puts a job rejected as busy or paused back in the queue, offered again after the next heartbeat', async () => {
    const s = await studio();
    const w = await approvedWorker(s);
    const client = await session(s, w);
    const job = s.admin.enqueueJob({ task: { kind: 'image', prompt: 'fox' } });
    await client.next('offer');
    client.send({ type: 'reject', jobId: job.jobId, reason: 'worker paused by operator', code: 'paused' });
    await s.admin.waitForJob(job.jobId, { until: (j) => j.status === 'queued' && j.rejectCode === 'paused' });
    expect(s.admin.getJob(job.jobId)).toMatchObject({
      transientRejects: 1,
      rejectReason: 'worker paused by operator',
    });
    expect(client.frames.filter((f) => f.type === 'offer')).toHaveLength(0);
    client.send({ type: 'heartbeat', capabilities });
    expect((await client.next('offer')).claim.jobId).toBe(job.jobId);
  });

  it('treats readyForMore as a protocol violation: the studio offers the next job by itself', async () => {
    const s = await studio();
    const w = await approvedWorker(s);
    const client = await session(s, w);
    client.ws.send(JSON.stringify({ type: 'readyForMore' }));
    expect(await client.next('error')).toMatchObject({ code: 'protocol_violation' });
    expect((await client.closed).code).toBe(4002);
    expect(s.admin.violations()[0]?.reason).toContain('readyForMore');
  });

  it('answers the next uploads with an injected failure, then accepts a retry', async () => {
    const s = await studio();
    const w = await approvedWorker(s);
    const client = await session(s, w);
    const job = s.admin.enqueueJob({ task: { kind: 'image', prompt: 'fox', ext: 'png' } });
    await client.next('offer');
    client.send({ type: 'accept', jobId: job.jobId });
    await s.admin.waitForJob(job.jobId, { until: (j) => j.status === 'accepted' });
    s.admin.failNextUploads(1);

    expect((await uploadResult(s, w, job.jobId)).status).toBe(500);
    expect(s.admin.getJob(job.jobId).status).toBe('accepted');
    expect((await uploadResult(s, w, job.jobId)).status).toBe(200);
    expect(s.admin.getJob(job.jobId).status).toBe('completed');
  });

  it('refuses uploads that break the contract, and uploads from a worker without the job', async () => {
    const s = await studio();
    const w = await approvedWorker(s);
    const other = await approvedWorker(s);
    const client = await session(s, w);
    const job = s.admin.enqueueJob({ task: { kind: 'image', prompt: 'fox', ext: 'png' } });
    await client.next('offer');
    client.send({ type: 'accept', jobId: job.jobId });
    await s.admin.waitForJob(job.jobId, { until: (j) => j.status === 'accepted' });

    const wrongType = await uploadResult(s, w, job.jobId, { contentType: 'image/webp' });
    expect(wrongType.status).toBe(400);
    expect(wrongType.body).toContain("ext 'png' needs 'image/png'");
    const wrongName = await uploadResult(s, w, job.jobId, { filename: 'result.png' });
    expect(wrongName.body).toContain(`expected '${job.jobId}.png'`);
    expect((await uploadResult(s, w, job.jobId, { field: 'file' })).body).toContain("expected 'image'");
    expect((await uploadResult(s, w, job.jobId, { prompt: undefined })).body).toContain(
      "missing text field 'prompt'",
    );
    expect((await uploadResult(s, other, job.jobId)).status).toBe(409);
    expect((await uploadResult(s, { ...w, authToken: 'nope' }, job.jobId)).status).toBe(401);
    expect((await uploadResult(s, w, 'j-missing')).status).toBe(404);
    expect(s.admin.getJob(job.jobId).status).toBe('accepted');
  });

  it('treats accepting a job that was not offered, and completeJson for an image job, as violations', async () => {
    const s = await studio();
    const w = await approvedWorker(s);
    const first = await session(s, w);
    const job = s.admin.enqueueJob({ task: { kind: 'image', prompt: 'fox' } });
    await first.next('offer');
    first.send({ type: 'accept', jobId: 'j-other' });
    expect((await first.closed).code).toBe(4002);

    const second = await session(s, w);
    await second.next('offer');
    second.send({ type: 'accept', jobId: job.jobId });
    second.send({ type: 'completeJson', jobId: job.jobId, result: {}, prompt: 'fox' });
    expect((await second.closed).code).toBe(4002);
    expect(s.admin.violations().map((v) => v.reason)).toEqual([
      `accept for job j-other, but ${job.jobId} is held for this session`,
      expect.stringContaining(`completeJson for image job ${job.jobId}`),
    ]);
  });

  it('sends a raw claim untouched, and offers a targeted job only to its worker', async () => {
    const s = await studio();
    const a = await approvedWorker(s);
    const b = await approvedWorker(s);
    const clientA = await session(s, a);
    const targeted = s.admin.enqueueJob({ task: { kind: 'image', prompt: 'for b' }, workerId: b.workerId });
    const raw = s.admin.enqueueJob({
      task: { kind: 'image', prompt: 'x' },
      rawClaim: { jobId: 'j-raw', gameId: 1 },
    });
    expect(raw.jobId).toBe('j-raw');
    expect((await clientA.next('offer')).claim).toEqual({ jobId: 'j-raw', gameId: 1 });
    clientA.send({ type: 'fail', jobId: 'j-raw', error: 'claim has no task', retryable: false });
    await clientA.next('failAck');

    const clientB = await session(s, b);
    expect((await clientB.next('offer')).claim.jobId).toBe(targeted.jobId);
  });

  it('refuses an invalid task at enqueue, in process and over HTTP', async () => {
    const s = await studio();
    expect(() => s.admin.enqueueJob({ task: { kind: 'image' } as never })).toThrow(/prompt/);
    const res = await fetch(`${s.url}admin/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ task: { kind: 'painting', prompt: 'x' } }),
    });
    expect(res.status).toBe(400);
    expect(s.admin.listJobs()).toEqual([]);
  });

  it('enqueues and waits for a job over the admin HTTP API', async () => {
    const s = await studio();
    const w = await approvedWorker(s);
    const client = await session(s, w);
    const res = await fetch(`${s.url}admin/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        task: { kind: 'llm', messages: [{ role: 'user', content: 'hi' }] },
        maxAttempts: 5,
      }),
    });
    expect(res.status).toBe(201);
    const { jobId, maxAttempts, attempts } = (await res.json()) as {
      jobId: string;
      maxAttempts: number;
      attempts: number;
    };
    expect([maxAttempts, attempts]).toEqual([5, 0]);
    const waited = fetch(`${s.url}admin/jobs/${jobId}?wait=1`);
    await client.next('offer');
    client.send({ type: 'accept', jobId });
    client.send({ type: 'completeJson', jobId, result: { text: 'ok' }, prompt: 'hi' });
    expect(await (await waited).json()).toMatchObject({ jobId, status: 'completed' });
    expect(await (await fetch(`${s.url}admin/jobs/${jobId}/result`)).json()).toEqual({ text: 'ok' });
  });

  it('serves the built-in sample WAV and added files', async () => {
    const s = await studio();
    const wav = Buffer.from(await (await fetch(s.admin.sampleAudioUrl)).arrayBuffer());
    expect(wav.toString('ascii', 0, 4)).toBe('RIFF');
    expect(wav.readUInt32LE(24)).toBe(16_000);
    expect(wav.length).toBe(44 + 32_000);
    const url = s.admin.addFile('init.png', png, 'image/png');
    const res = await fetch(url);
    expect(res.headers.get('content-type')).toBe('image/png');
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(png);
  });
});
