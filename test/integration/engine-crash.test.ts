import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SupervisedEngine } from '../../src/engines/index.js';
import { CatalogStore } from '../../src/local-api/index.js';
import { WorkerMetrics } from '../../src/metrics/index.js';
import { pidAlive } from '../../src/util/index.js';
import { CLI } from '../support/cli.js';
import { oneEngineChild } from '../support/engine-children.js';
import type { Harness, RunningWorker } from '../support/harness.js';
import { startHarness } from '../support/harness.js';

// The real tiny model from ../shared/models beside the clone (see shared/models/README.md).
const MODEL = join(import.meta.dirname, '../../../shared/models/stories260K.gguf');
const SHA256 = '270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d';
const present = existsSync(MODEL);
const skipped = present ? '' : ` (skipped: ${MODEL} is absent)`;
// Long enough (hundreds of tokens) that the crash lands mid-generation, well before the answer.
const LONG = { maxTokens: 480, temperature: 0 };
const cliDefaults = { cfgScale: 1, steps: 1, width: 1, height: 1, contextSize: 512 };

describe.skipIf(!present)(
  `a native abort inside the real llama.cpp engine process (SIGABRT mid-generation) fails only its job${skipped}`,
  () => {
    let h: Harness;
    let w: RunningWorker;
    let metrics: WorkerMetrics;
    let modelUrl: string;
    let url: string;
    let token: string;
    const closed: unknown[] = [];
    beforeAll(async () => {
      h = await startHarness({ config: { gpuOffload: false, llmThreads: 1 } });
      await h.store.update((c) => {
        c.modelsRoot = join(h.configDir, 'models');
      });
      modelUrl = h.studio.admin.addFile('stories260K.gguf', readFileSync(MODEL), 'application/octet-stream');
      await new CatalogStore(h.configDir).upsert({
        id: 'stories260K',
        kind: 'llm',
        source: {
          engine: 'llama-cpp',
          files: [{ role: 'model', url: modelUrl, filename: 'stories260K.gguf', sha256: SHA256 }],
          cliDefaults,
        },
      });
      w = h.startWorker({ localApi: { port: 0 } });
      metrics = new WorkerMetrics(w.worker);
      w.worker.events.on('session:closed', (e) => closed.push(e));
      await w.next('session:welcomed');
      url = w.worker.getStatus().localApi.url ?? '';
      token = (JSON.parse(await readFile(join(h.configDir, 'local-api.json'), 'utf8')) as { token: string })
        .token;
    });
    afterAll(async () => {
      metrics?.stop();
      await h?.close();
    });

    const enqueue = (maxTokens: number) =>
      h.studio.admin.enqueueJob({
        task: { kind: 'llm', messages: [{ role: 'user', content: 'Once upon a time' }], ...LONG, maxTokens },
        model: 'stories260K',
        modelSource: {
          engine: 'llama-cpp',
          files: [{ role: 'model', url: modelUrl, filename: 'stories260K.gguf', sha256: SHA256 }],
          cliDefaults,
        },
      });

    /** Kills the engine process with SIGABRT once `jobId` is generating. */
    const abortWhenGenerating = async (jobId?: string) => {
      await w.next(
        'job:progress',
        (p) => p.message === 'generating' && (jobId === undefined || p.jobId === jobId),
        30_000,
      );
      process.kill(await oneEngineChild(process.pid), 'SIGABRT');
    };

    it('studio job: the attempt fails retryable with the signal, the studio offers it again and the retry completes; the session stays up and the next job succeeds', async () => {
      const job = enqueue(LONG.maxTokens);
      await abortWhenGenerating(job.jobId);
      // flows.md §6: a retryable fail is requeued with the attempt counted; the abort was one-off,
      // so the second attempt (a fresh engine process) completes.
      const done = await h.studio.admin.waitForJob(job.jobId, { timeoutMs: 60_000 });
      expect(done).toMatchObject({ status: 'completed', attempts: 1 });
      expect(done.failures).toHaveLength(1);
      expect(done.failures[0]).toMatchObject({ attempt: 1, via: 'fail', retryable: true });
      expect(done.failures[0]?.error).toMatch(/^llama-cpp crashed \(SIGABRT\) while generating/);
      const next = await h.studio.admin.waitForJob(enqueue(16).jobId, { timeoutMs: 30_000 });
      expect(next.status).toBe('completed');
      expect(closed).toEqual([]);
      expect(w.worker.getStatus().state).toBe('running');
      const llama = w.worker.getStatus().engines.find((e) => e.engine === 'llama-cpp');
      expect(llama?.detail).toMatch(/last crash .*SIGABRT/);
      expect(await metrics.text()).toContain(
        'studio_worker_engine_crashes_total{engine="llama-cpp",signal="SIGABRT"} 1',
      );
    });

    it('local API request: a 500 JSON error naming the crash; the next request is served', async () => {
      const chat = () =>
        fetch(`${url}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({
            model: 'stories260K',
            messages: [{ role: 'user', content: 'Once upon a time' }],
            max_tokens: LONG.maxTokens,
            temperature: 0,
          }),
        });
      const crashed = chat();
      await abortWhenGenerating();
      const res = await crashed;
      expect(res.status).toBe(500);
      expect(JSON.stringify(await res.json())).toMatch(/llama-cpp crashed \(SIGABRT\) while generating/);
      const ok = await chat();
      expect(ok.status).toBe(200);
      expect(closed).toEqual([]);
    });
  },
);

describe.skipIf(!present)(`generate: a native abort in the engine process${skipped}`, () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sw-crash-generate-'));
    await writeFile(
      join(dir, 'config.toml'),
      `models_root = "${join(dir, 'models')}"\ngpu_offload = false\nllm_threads = 1\n`,
    );
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('exits 5 with one line naming the crash, no stack trace', async () => {
    const child = spawn(
      process.execPath,
      [
        CLI,
        '--config-dir',
        dir,
        'generate',
        '--kind',
        'llm',
        '--engine',
        'llama-cpp',
        '--file',
        `model=${MODEL}`,
        '--message',
        'Once upon a time',
        '--max-tokens',
        String(LONG.maxTokens),
        '--cli-default',
        'contextSize=512',
        '-o',
        join(dir, 'out.json'),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LOG_LEVEL: 'info' } },
    );
    let stderr = '';
    const loaded = new Promise<void>((resolve) => {
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
        stderr += chunk;
        if (stderr.includes('llama-cpp loaded a model')) resolve();
      });
    });
    const exit = new Promise<number | null>((resolve) => child.once('close', resolve));
    await loaded;
    process.kill(await oneEngineChild(child.pid ?? 0), 'SIGABRT');
    expect(await exit).toBe(5);
    expect(stderr).toMatch(
      /the llama-cpp engine failed: llama-cpp crashed \(SIGABRT\) while (generating|loading the model)/,
    );
    expect(stderr).not.toMatch(/internal error|\n\s+at /);
  });
});

// This TEST ENGINE (see its header) hangs on request, in a real engine child process.
const TEST_ENGINE = join(import.meta.dirname, '../fixtures/engine-child/test-engine.js');

describe('a hung engine (test engine in a real child process) under the job watchdog', () => {
  let h: Harness;
  let w: RunningWorker;
  let engine: SupervisedEngine;
  beforeAll(async () => {
    h = await startHarness({ config: { jobStallTimeoutSecs: 1 } });
    engine = new SupervisedEngine({
      name: 'llama-cpp',
      module: TEST_ENGINE,
      capabilities: { taskKinds: ['llm'], modelsPerKind: { llm: [] } },
      describe: () => 'test engine',
    });
    w = h.startWorker({ engines: [engine] });
    await w.next('session:welcomed');
  });
  afterAll(async () => {
    await h?.close();
  });

  const enqueue = (command: string, maxAttempts?: number) =>
    h.studio.admin.enqueueJob({
      task: { kind: 'llm', messages: [{ role: 'user', content: command }] },
      model: 'test-model',
      modelSource: { engine: 'llama-cpp', files: [], cliDefaults },
      ...(maxAttempts === undefined ? {} : { maxAttempts }),
    });

  it('is stopped after job_stall_timeout_secs: each attempt fails retryable, its process is killed, the next job runs', async () => {
    // Two attempts, not the studio's three: enough to see the studio offer it again (flows.md §6)
    // and the watchdog stop the retry as well, in a second less.
    const hung = enqueue('hang', 2);
    await w.next('job:progress', (p) => p.jobId === hung.jobId);
    const pid = engine.pid;
    const failed = await h.studio.admin.waitForJob(hung.jobId, { timeoutMs: 15_000 });
    const stalled = 'no progress for 1 s while generating';
    expect(failed).toMatchObject({ status: 'failed', retryable: true, attempts: 2, error: stalled });
    expect(failed.failures.map((f) => [f.via, f.error, f.retryable])).toEqual([
      ['fail', stalled, true],
      ['fail', stalled, true],
    ]);
    expect(pid !== undefined && pidAlive(pid)).toBe(false);
    const next = await h.studio.admin.waitForJob(enqueue('ok').jobId, { timeoutMs: 15_000 });
    expect(next.status).toBe('completed');
    expect(w.worker.getStatus().state).toBe('running');
  });
});
