import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkerEventBus } from '../../src/events/index.js';
import { EngineHealthFile } from '../../src/worker/engine-health.js';
import { runCli } from '../support/cli.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sw-engine-health-'));
  await writeFile(join(dir, 'config.toml'), `models_root = "${join(dir, 'models')}"\n`);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('`engines` shows what the running worker found broken', () => {
  it('names a broken GPU backend and the last crash while that worker runs, and nothing once it stopped', async () => {
    // This test process plays the running worker: its pid is alive, and not the CLI's.
    const events = new WorkerEventBus(pino({ enabled: false }));
    const health = new EngineHealthFile(dir, events);
    events.emit('engine:backend-broken', {
      engine: 'llama-cpp',
      backend: 'cuda',
      reason: 'llama-cpp crashed (SIGABRT) while loading the model: CUDA error: no kernel image',
    });
    events.emit('engine:crashed', {
      engine: 'llama-cpp',
      signal: 'SIGABRT',
      code: null,
      phase: 'loading the model',
      message: 'llama-cpp crashed (SIGABRT) while loading the model: CUDA error: no kernel image',
      at: '2026-12-05T10:00:00.000Z',
    });
    await health.flush();
    const shown = await runCli(['--config-dir', dir, 'engines']);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain(
      `cuda broken in the running worker (pid ${process.pid}): llama-cpp crashed (SIGABRT) while loading the model: CUDA error: no kernel image`,
    );
    expect(shown.stdout).toContain('last crash 2026-12-05T10:00:00.000Z: llama-cpp crashed (SIGABRT)');
    const json = JSON.parse((await runCli(['--config-dir', dir, 'engines', '--json'])).stdout) as {
      engines: { engine: string; brokenBackends?: { backend: string }[] }[];
    };
    expect(json.engines.find((e) => e.engine === 'llama-cpp')?.brokenBackends).toEqual([
      expect.objectContaining({ backend: 'cuda' }),
    ]);
    await health.stop();
    expect((await runCli(['--config-dir', dir, 'engines'])).stdout).not.toContain(
      'broken in the running worker',
    );
  });
});
