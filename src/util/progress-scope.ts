import { AsyncLocalStorage } from 'node:async_hooks';

/** Called whenever work on behalf of a job moves forward; `phase` names what it is doing now. */
export type ProgressListener = (phase?: string) => void;

/**
 * The job a piece of work belongs to, carried through its async calls. Code deep below an engine
 * (a model download's byte counter) reports progress here without every layer passing a callback
 * down: the job's watchdog listens (see engines/watchdog.ts).
 */
const scope = new AsyncLocalStorage<ProgressListener>();

/** Runs `fn` with `listener` told of the progress reported inside it. */
export function withProgressListener<T>(listener: ProgressListener, fn: () => T): T {
  return scope.run(listener, fn);
}

/** The listener of the work running now, if any (to carry it across an IPC hop). */
export function currentProgressListener(): ProgressListener | undefined {
  return scope.getStore();
}

/** Tells the current job's listener (if any) that its work moved forward. */
export function reportProgress(phase?: string): void {
  scope.getStore()?.(phase);
}
