import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  EngineCrashError,
  EngineDispatcher,
  EngineError,
  SupervisedEngine,
  type EngineCrash,
  type EngineRunContext,
  type SupervisedEngineOptions,
} from '../../src/engines/index.js';
import { ModelCache } from '../../src/models/index.js';
import { pidAlive } from '../../src/util/index.js';
import { claimFor } from './contract.js';

// The child loads this TEST ENGINE (see its header): it crashes, hangs and hogs memory on request.
const TEST_ENGINE = join(import.meta.dirname, '../fixtures/engine-child/test-engine.js');
const log = pino({ enabled: false });

let workDir: string;
const engines: SupervisedEngine[] = [];
beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'supervised-'));
});
afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.close()));
});
afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

function engine(opts: Partial<SupervisedEngineOptions> = {}): SupervisedEngine {
  const made = new SupervisedEngine({
    name: 'llama-cpp',
    module: TEST_ENGINE,
    capabilities: { taskKinds: ['llm'], modelsPerKind: { llm: [] } },
    describe: () => 'test engine',
    log,
    ...opts,
  });
  engines.push(made);
  return made;
}

const claim = (command: string, jobId = `job-${command}`) =>
  claimFor('llama-cpp', 'test-model', { kind: 'llm', messages: [{ role: 'user', content: command }] }, jobId);

function ctx(command: string, extra: Partial<EngineRunContext> = {}): EngineRunContext {
  return { signal: new AbortController().signal, log, workDir, claim: claim(command), ...extra };
}

async function run(
  e: SupervisedEngine | EngineDispatcher,
  command: string,
  extra: Partial<EngineRunContext> = {},
) {
  const c = ctx(command, extra);
  const result =
    e instanceof EngineDispatcher
      ? await e.run(c.claim, c)
      : await e.run(c.claim.task, c.claim.modelSource, c);
  if (result.type !== 'json') throw new Error('expected JSON');
  return result.value as { text: string; pid: number; backend: string };
}

const failure = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error('expected the job to fail');
    },
    (e: unknown) => e,
  );

describe('an engine in a supervised child process (test engine, a real process)', () => {
  it('runs jobs in a process of its own and keeps it between jobs', async () => {
    const e = engine();
    const first = await run(e, 'ok');
    expect(first.pid).not.toBe(process.pid);
    expect((await run(e, 'ok')).pid).toBe(first.pid);
    expect(e.availability().detail).toContain(`pid ${first.pid}`);
  });

  it('fails only the job when native code aborts in it, with the signal and its last words; the next job gets a fresh process', async () => {
    const crashes: EngineCrash[] = [];
    const e = engine({ onCrash: (c) => crashes.push(c) });
    const before = await run(e, 'ok');
    const error = await failure(run(e, 'abort'));
    expect(error).toBeInstanceOf(EngineCrashError);
    const crash = error as EngineCrashError;
    expect(crash.retryable).toBe(true);
    expect(crash.cannotServe).toBe(false);
    expect(crash.message).toMatch(/^llama-cpp crashed \(SIGABRT\) while generating: /);
    expect(crash.message).toContain('GGML_ASSERT(test engine) failed');
    expect(crashes).toHaveLength(1);
    expect(crashes[0]).toMatchObject({ engine: 'llama-cpp', signal: 'SIGABRT', phase: 'generating' });
    expect(pidAlive(before.pid)).toBe(false);
    const after = await run(e, 'ok');
    expect(after.pid).not.toBe(before.pid);
    expect(e.availability().detail).toContain('last crash');
  });

  it('reports an exit mid-job with its code and output', async () => {
    const e = engine();
    const error = (await failure(run(e, 'exit'))) as EngineCrashError;
    expect(error.message).toBe('llama-cpp exited with code 7 while loading the model: test engine gives up');
    expect(error.retryable).toBe(true);
  });

  it('cancels a running job and keeps the process (and its warm model)', async () => {
    const e = engine();
    const controller = new AbortController();
    const pending = failure(run(e, 'slow', { signal: controller.signal }));
    await new Promise((r) => setTimeout(r, 400));
    const pid = e.pid;
    controller.abort(new Error('the caller went away'));
    const error = (await pending) as Error;
    expect(error.name).toBe('AbortError');
    expect(e.pid).toBe(pid);
    expect(e.warmModels().map((w) => w.model)).toEqual(['test-model']);
  });

  it('stops the process after it idles, unless its model is kept', async () => {
    const e = engine({ idleUnloadMs: 200 });
    const { pid } = await run(e, 'ok');
    await new Promise((r) => setTimeout(r, 600));
    expect(pidAlive(pid)).toBe(false);
    expect(e.warmModels()).toEqual([]);
    const kept = engine({ idleUnloadMs: 200, kept: () => true });
    const alive = await run(kept, 'ok');
    await new Promise((r) => setTimeout(r, 600));
    expect(pidAlive(alive.pid)).toBe(true);
  });

  it('unloading its warm models stops the process and gives every byte back', async () => {
    const e = engine();
    const { pid } = await run(e, 'ok');
    await e.unloadWarm('another job needs the memory');
    expect(pidAlive(pid)).toBe(false);
    expect(e.warmModels()).toEqual([]);
  });
});

describe('a GPU backend that fails before its first success (test engine)', () => {
  it('is marked broken when it crashes, and the job runs again on the next backend', async () => {
    const e = engine({ gpuFallback: true, options: { backend: 'cuda', crashOn: 'cuda' } });
    const first = await run(e, 'ok');
    expect(first.backend).toBe('cpu');
    expect(e.brokenBackends.get('cuda')).toMatch(/crashed \(SIGABRT\).*no kernel image/);
    expect(e.availability().detail).toMatch(/cuda backend broken here: llama-cpp crashed \(SIGABRT\)/);
    // Later jobs start on the working backend straight away.
    expect((await run(e, 'ok')).pid).toBe(first.pid);
  });

  it('is marked broken when its first evaluation throws a backend error', async () => {
    const e = engine({ gpuFallback: true, options: { backend: 'vulkan' } });
    expect((await run(e, 'gpuerr')).backend).toBe('cpu');
    expect([...e.brokenBackends.keys()]).toEqual(['vulkan']);
  });

  it('is not blamed for a crash after it has worked', async () => {
    const e = engine({ gpuFallback: true, options: { backend: 'cuda' } });
    expect((await run(e, 'ok')).backend).toBe('cuda');
    expect(await failure(run(e, 'abort'))).toBeInstanceOf(EngineCrashError);
    expect(e.brokenBackends.size).toBe(0);
  });
});

describe('the job watchdog (dispatcher + test engine in a child process)', () => {
  it('stops a job with no progress for job_stall_timeout_secs, kills its process and fails it as retryable', async () => {
    const e = engine();
    const dispatcher = new EngineDispatcher([e], { limits: () => ({ stallMs: 500, timeoutMs: 60_000 }) });
    const started = Date.now();
    const error = (await failure(run(dispatcher, 'hang'))) as EngineError;
    expect(error).toBeInstanceOf(EngineError);
    expect(error.message).toBe('no progress for 0.5 s while generating');
    expect(error.retryable).toBe(true);
    expect(error.cannotServe).toBe(false);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(e.pid).toBeUndefined();
    expect((await run(dispatcher, 'ok')).text).toBe('ok');
  });

  it('lets a job that keeps progressing run past the stall limit', async () => {
    const e = engine({ options: { steps: 30 } });
    const dispatcher = new EngineDispatcher([e], { limits: () => ({ stallMs: 400, timeoutMs: 60_000 }) });
    expect((await run(dispatcher, 'slow')).text).toBe('slow');
  });

  it('stops a job that runs longer than job_timeout_secs, progress or not', async () => {
    const e = engine({ options: { steps: 200 } });
    const dispatcher = new EngineDispatcher([e], { limits: () => ({ stallMs: 60_000, timeoutMs: 500 }) });
    const error = (await failure(run(dispatcher, 'slow'))) as EngineError;
    expect(error.message).toBe('ran longer than 0.5 s (job_timeout_secs) while generating');
    expect(error.retryable).toBe(true);
  });

  it('stops a job whose engine process passes engine_max_rss_gb, kills the process and fails the job as retryable', async () => {
    const e = engine();
    const dispatcher = new EngineDispatcher([e], {
      limits: () => ({ stallMs: 60_000, timeoutMs: 60_000, maxRssBytes: 300 * 1024 ** 2 }),
      memoryPollMs: 100,
    });
    const error = (await failure(run(dispatcher, 'hog'))) as EngineError;
    expect(error).toBeInstanceOf(EngineError);
    expect(error.retryable).toBe(true);
    expect(error.message).toMatch(
      /^engine process \d+ used 0\.\d GB of memory, over engine_max_rss_gb \(0\.3 GB\), while generating$/,
    );
    expect(e.pid).toBeUndefined();
    expect((await run(dispatcher, 'ok')).text).toBe('ok');
  });

  describe('with a model download that trickles in', () => {
    let server: Server;
    let url: string;
    const body = Buffer.alloc(24 * 1024, 7);
    beforeAll(async () => {
      server = createServer((_req, res) => {
        res.writeHead(200, { 'content-length': String(body.length) });
        let sent = 0;
        const timer = setInterval(() => {
          res.write(body.subarray(sent, sent + 1024));
          sent += 1024;
          if (sent >= body.length) {
            clearInterval(timer);
            res.end();
          }
        }, 50);
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/model.gguf`;
    });
    afterAll(() => new Promise<void>((r) => server.close(() => r())));

    it('counts downloaded bytes as progress, across the process boundary', async () => {
      const root = await mkdtemp(join(workDir, 'models-'));
      const models = new ModelCache({ root, log, allowInsecure: true });
      const e = engine();
      const dispatcher = new EngineDispatcher([e], { limits: () => ({ stallMs: 400, timeoutMs: 60_000 }) });
      const c = claim('load');
      c.modelSource.files = [
        {
          role: 'model',
          url,
          filename: 'model.gguf',
          sha256: createHash('sha256').update(body).digest('hex'),
        },
      ];
      const result = await dispatcher.run(c, { ...ctx('load'), claim: c, models });
      expect(result.type === 'json' && (result.value as { text: string }).text).toBe(
        join(root, 'test-model', 'model.gguf'),
      );
    });
  });
});
