import { afterEach, describe, expect, it } from 'vitest';
import type { WorkerEvent } from '../../src/dev-studio/index.js';
import { startRun, type RunProcess } from '../support/cli.js';
import { codecChildPids } from '../support/engine-children.js';
import { startHarness, type Harness } from '../support/harness.js';

let h: Harness | undefined;
let run: RunProcess | undefined;
afterEach(async () => {
  await run?.stop();
  await h?.close();
  run = undefined;
  h = undefined;
});

describe.skipIf(process.platform !== 'linux')('a crash of the image codec process under `run`', () => {
  it('fails only the image being made (retryable); the retry completes in a new codec process, the worker and its session stay', async () => {
    h = await startHarness();
    const workerId = await h.register();
    const sessions: WorkerEvent[] = [];
    h.studio.events.on('worker', (e: WorkerEvent) => {
      if (e.workerId === workerId) sessions.push(e);
    });
    run = startRun(h.configDir);
    const pid = run.child.pid ?? 0;
    // Big enough that the codec process is still loading sharp or encoding when it is killed.
    const job = h.studio.admin.enqueueJob({
      task: { kind: 'image', prompt: 'a fox', width: 2048, height: 2048 },
    });
    let codec: number | undefined;
    await expect
      .poll(async () => (codec = (await codecChildPids(pid))[0]), { timeout: 30_000, interval: 10 })
      .toBeDefined();
    process.kill(codec!, 'SIGKILL');

    const done = await h.studio.admin.waitForJob(job.jobId, { timeoutMs: 60_000 });
    // Killed while it takes the image (the send fails) or while it makes it (its exit is seen).
    expect(done.failures.map((f) => `${f.via}: ${f.error}`)).toEqual([
      expect.stringMatching(
        /^fail: engine "synthetic" failed: (the image codec process exited \(SIGKILL\) while making an image|could not hand an image to the image codec process: .+)$/,
      ),
    ]);
    expect(done).toMatchObject({ status: 'completed', attempts: 1 });
    expect(done.failures[0]).toMatchObject({ attempt: 1, via: 'fail', retryable: true });
    // The retry's image was made by a codec process started for it.
    const now = await codecChildPids(pid);
    expect(now).toHaveLength(1);
    expect(now).not.toContain(codec);

    const next = await h.studio.admin.waitForJob(
      h.studio.admin.enqueueJob({ task: { kind: 'image', prompt: 'a hen', width: 32, height: 32 } }).jobId,
      { timeoutMs: 30_000 },
    );
    expect(next.status).toBe('completed');
    expect(run.child.exitCode).toBeNull();
    expect(sessions.map((e) => e.type)).toEqual(['connected', 'welcomed']);
  });
});
