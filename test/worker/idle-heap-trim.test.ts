import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { WorkerEventBus } from '../../src/events/index.js';
import { fullGc } from '../../src/util/index.js';
import { startIdleHeapTrim } from '../../src/worker/index.js';

const log = pino({ level: 'silent' });
const stops: (() => void)[] = [];
afterEach(() => {
  for (const stop of stops.splice(0)) stop();
});

function trimmed(opts: { idle?: () => boolean } = {}) {
  const events = new WorkerEventBus(log);
  const calls: number[] = [];
  const stop = startIdleHeapTrim({
    events,
    isIdle: opts.idle ?? (() => true),
    log,
    delayMs: 40,
    secondAfterMs: 10,
    gc: () => calls.push(Date.now()),
  });
  stops.push(stop);
  return { events, calls, stop };
}

const done = { jobId: 'j1', kind: 'image', ms: 1 } as const;

describe('the idle heap trim', () => {
  it('collects twice once the worker has had no job for the delay after one ended', async () => {
    const { events, calls } = trimmed();
    await sleep(80);
    expect(calls).toHaveLength(0);
    events.emit('job:completed', done);
    await sleep(20);
    expect(calls).toHaveLength(0);
    await sleep(80);
    expect(calls).toHaveLength(2);
  });

  it('waits for the last of several jobs, after a failed one as well, and trims once', async () => {
    const { events, calls } = trimmed();
    events.emit('job:completed', done);
    await sleep(25);
    events.emit('job:failed', { jobId: 'j2', error: 'x', retryable: false });
    await sleep(25);
    expect(calls).toHaveLength(0);
    await sleep(80);
    expect(calls).toHaveLength(2);
  });

  it('leaves a worker that is running a job alone', async () => {
    const { events, calls } = trimmed({ idle: () => false });
    events.emit('job:completed', done);
    await sleep(120);
    expect(calls).toHaveLength(0);
  });

  it('does nothing once stopped', async () => {
    const { events, calls, stop } = trimmed();
    events.emit('job:completed', done);
    stop();
    await sleep(120);
    expect(calls).toHaveLength(0);
  });

  it("has V8's real full GC at hand without --expose-gc, and it collects", async () => {
    const gc = fullGc();
    expect(gc).toBeTypeOf('function');
    const ref = ((): WeakRef<object> => new WeakRef({ big: new Array(1000).fill(1) }))();
    // A WeakRef's target lives at least until the current task ends.
    await sleep(0);
    gc!();
    expect(ref.deref()).toBeUndefined();
  });
});
