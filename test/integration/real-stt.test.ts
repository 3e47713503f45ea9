import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyResult } from '../../src/results/index.js';
import { writeTinyWhisperModel } from '../fixtures/onnx/ggml-whisper.js';
import type { Harness } from '../support/harness.js';
import { startHarness } from '../support/harness.js';

describe('an audio_stt job end to end: dev studio → onnx engine → whisper.cpp (a real ggml model with tiny random weights generated here, since no trained whisper weights can be obtained; the transcript is nonsense)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ config: { gpuOffload: false } });
    await h.store.update((c) => {
      c.modelsRoot = join(h.configDir, 'models');
    });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('downloads the model and the audio, transcribes, and delivers whisper-shaped JSON', async () => {
    const modelPath = join(h.configDir, 'ggml-tiny-random.bin');
    await writeTinyWhisperModel(modelPath);
    const modelUrl = h.studio.admin.addFile(
      'ggml-tiny-random.bin',
      await readFile(modelPath),
      'application/octet-stream',
    );
    const w = h.startWorker();
    await w.next('session:welcomed');
    const job = h.studio.admin.enqueueJob({
      task: { kind: 'audio_stt', inputUrl: h.studio.admin.sampleAudioUrl, timestamps: 'word' },
      model: 'whisper-tiny-random',
      modelSource: {
        engine: 'onnx',
        files: [{ role: 'model', url: modelUrl, filename: 'ggml-tiny-random.bin' }],
        cliDefaults: { cfgScale: 1, steps: 1, width: 1, height: 1 },
      },
    });
    const done = await h.studio.admin.waitForJob(job.jobId, { timeoutMs: 60_000 });
    expect(done.error).toBeUndefined();
    expect(done.status).toBe('completed');
    const result = h.studio.admin.jobResult(done.jobId);
    expect(result.type).toBe('json');
    if (result.type !== 'json') return;
    expect(await verifyResult('audio_stt', { json: result.value })).toMatchObject({ ok: true });
  });
});
