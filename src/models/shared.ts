import { toError } from '../util/index.js';

interface Entry<T> {
  promise: Promise<T>;
  controller: AbortController;
  waiters: number;
}

/**
 * Runs at most one task per key and lets every caller wait on it with its own signal. A caller
 * that aborts stops waiting; the task itself is aborted only when its last waiter has left, so one
 * cancelled job never breaks the download another job is waiting for.
 */
export class SharedTasks<T> {
  private readonly running = new Map<string, Entry<T>>();

  has(key: string): boolean {
    return this.running.has(key);
  }

  run(key: string, task: (signal: AbortSignal) => Promise<T>, signal: AbortSignal): Promise<T> {
    let entry = this.running.get(key);
    if (!entry || entry.controller.signal.aborted) {
      // A task whose waiters all left is still unwinding (saving its partial): the next one starts after it.
      const previous = entry?.promise.then(
        () => undefined,
        () => undefined,
      );
      const controller = new AbortController();
      const started = previous ? previous.then(() => task(controller.signal)) : task(controller.signal);
      const created: Entry<T> = {
        promise: started.finally(() => {
          if (this.running.get(key) === created) this.running.delete(key);
        }),
        controller,
        waiters: 0,
      };
      this.running.set(key, created);
      entry = created;
    }
    return wait(entry, signal);
  }
}

function wait<T>(entry: Entry<T>, signal: AbortSignal): Promise<T> {
  entry.waiters++;
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const leave = (): boolean => {
      if (settled) return false;
      settled = true;
      entry.waiters--;
      signal.removeEventListener('abort', onAbort);
      return true;
    };
    const onAbort = (): void => {
      if (!leave()) return;
      if (entry.waiters === 0) entry.controller.abort(signal.reason);
      reject(signal.reason as Error);
    };
    if (signal.aborted) {
      onAbort();
      return;
    }
    signal.addEventListener('abort', onAbort, { once: true });
    entry.promise.then(
      (value) => {
        if (leave()) resolve(value);
      },
      (e: unknown) => {
        if (leave()) reject(toError(e));
      },
    );
  });
}
