import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { linkSignals } from '../../src/util/index.js';

describe('linkSignals', () => {
  it('aborts with the reason of whichever source aborts first', () => {
    const a = new AbortController();
    const b = new AbortController();
    const { signal } = linkSignals(a.signal, b.signal);
    b.abort(new Error('b went'));
    expect(signal.aborted).toBe(true);
    expect((signal.reason as Error).message).toBe('b went');
    a.abort(new Error('a went later'));
    expect((signal.reason as Error).message).toBe('b went');
  });

  it('is aborted at once when a source already is', () => {
    const a = new AbortController();
    a.abort(new Error('already'));
    expect(linkSignals(new AbortController().signal, a.signal).signal.aborted).toBe(true);
  });

  it('leaves nothing on a lifelong source once unlinked (AbortSignal.any kept every job’s signal alive)', () => {
    const lifelong = new AbortController();
    for (let job = 0; job < 1000; job++) {
      const { signal, unlink } = linkSignals(lifelong.signal, new AbortController().signal);
      expect(signal.aborted).toBe(false);
      unlink();
    }
    expect(getEventListeners(lifelong.signal, 'abort')).toHaveLength(0);
    // An aborting source takes its own listeners off too.
    const job = new AbortController();
    linkSignals(lifelong.signal, job.signal);
    job.abort();
    expect(getEventListeners(lifelong.signal, 'abort')).toHaveLength(0);
  });
});
