import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine, EngineResult, EngineRunContext } from '../../src/engines/index.js';
import { SyntheticEngine } from '../../src/engines/index.js';
import { CatalogStore } from '../../src/local-api/index.js';
import type { ModelSource, Task } from '../../src/protocol/index.js';
import type { Harness, RunningWorker } from '../support/harness.js';
import { startHarness } from '../support/harness.js';

/**
 * Test fixture, not a stand-in for a real engine: the synthetic engine, made to take a while, that
 * counts how many jobs it runs at once — the one thing the one-job gate exists to keep at 1.
 */
class OverlapCountingEngine implements Engine {
  readonly name = 'synthetic' as const;
  private readonly inner = new SyntheticEngine();
  private readonly active = new Set<string>();
  /** `start <id>` and `end <id>` of every run, in order. */
  readonly sequence: string[] = [];
  maxActive = 0;
  runs = 0;

  constructor(private readonly delayMs: number) {}

  capabilities() {
    return this.inner.capabilities();
  }
  refuse(claim: Parameters<NonNullable<Engine['refuse']>>[0]) {
    return this.inner.refuse(claim);
  }
  /** The studio job on the engine now, if one is. */
  studioJob(): string | undefined {
    return [...this.active].find((id) => !id.startsWith('local-'));
  }

  async run(task: Task, modelSource: ModelSource, ctx: EngineRunContext): Promise<EngineResult> {
    const jobId = ctx.claim.jobId;
    this.active.add(jobId);
    this.sequence.push(`start ${jobId}`);
    this.runs += 1;
    this.maxActive = Math.max(this.maxActive, this.active.size);
    try {
      await new Promise((r) => setTimeout(r, this.delayMs));
      return await this.inner.run(task, modelSource, ctx);
    } finally {
      this.active.delete(jobId);
      this.sequence.push(`end ${jobId}`);
    }
  }
}

let h: Harness;
let w: RunningWorker;
let engine: OverlapCountingEngine;
let url: string;
let token: string;

beforeAll(async () => {
  h = await startHarness();
  await new CatalogStore(h.configDir).upsert({
    id: 'synthetic-image',
    kind: 'image',
    source: { engine: 'synthetic', files: [], cliDefaults: { cfgScale: 1, steps: 1, width: 16, height: 16 } },
  });
  engine = new OverlapCountingEngine(120);
  w = h.startWorker({ engines: [engine], localApi: { port: 0 } });
  await w.next('session:welcomed');
  url = w.worker.getStatus().localApi.url ?? '';
  token = (JSON.parse(await readFile(join(h.configDir, 'local-api.json'), 'utf8')) as { token: string })
    .token;
});
afterAll(async () => {
  await h.close();
});

describe('the one-job gate, the hard way (dev studio offering the next job before it answers /complete)', () => {
  it('never runs two jobs at once: consecutive binary studio jobs and local requests throughout, each 503 while a studio job runs', async () => {
    // Every start and end of a job on the engine, studio and local, in order.
    const sequence = engine.sequence;
    sequence.length = 0;
    const jobs = Array.from({ length: 6 }, (_, i) =>
      h.studio.admin.enqueueJob({
        jobId: `gate-${i}`,
        task: { kind: 'image', prompt: `fox ${i}`, width: 16, height: 16, ext: 'png' },
      }),
    );
    const allDone = Promise.all(jobs.map((j) => h.studio.admin.waitForJob(j.jobId, { timeoutMs: 60_000 })));
    let finished = false;
    void allDone.finally(() => (finished = true));

    const answers: { status: number; during: string | undefined }[] = [];
    const fire = async () => {
      const before = engine.studioJob();
      const res = await fetch(`${url}/image`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ prompt: 'local fox', width: 16, height: 16 }),
      });
      await res.arrayBuffer();
      // The same studio job on the engine when the request went out and when it was answered: it
      // held the gate all along, so the answer must be 503.
      const after = engine.studioJob();
      answers.push({
        status: res.status,
        during: before !== undefined && before === after ? before : undefined,
      });
    };
    const local = (async () => {
      while (!finished) {
        await Promise.all([fire(), fire()]);
        await new Promise((r) => setTimeout(r, 10));
      }
    })();

    const done = await allDone;
    await local;

    expect(done.map((j) => j.status)).toEqual(jobs.map(() => 'completed'));
    expect(engine.maxActive).toBe(1);
    // Starts and ends alternate: nothing (studio or local) starts before the job before it ended.
    for (let i = 0; i < sequence.length; i++) {
      expect(sequence[i], sequence.join(', ')).toMatch(i % 2 === 0 ? /^start / : /^end /);
      if (i % 2 === 1) expect(sequence[i]?.slice(4)).toBe(sequence[i - 1]?.slice(6));
    }
    expect(answers.filter((a) => a.during !== undefined).length).toBeGreaterThan(0);
    for (const a of answers) {
      if (a.during !== undefined) expect(a.status, `a local request during ${a.during}`).toBe(503);
      else expect([200, 503]).toContain(a.status);
    }
    // The dev studio offered each next job before answering the upload: the next job started
    // while that answer was still on its way, the gate passing straight to it.
    expect(h.logText()).toContain('is still uploading: the studio has it, the next job starts');
    expect(h.studio.admin.violations()).toEqual([]);
  });
});
