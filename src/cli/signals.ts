import { ExitCode } from '../util/index.js';

/**
 * Signals are handled once, here: the first SIGINT/SIGTERM asks for a graceful stop, a second one
 * exits at once.
 */
export function onShutdownSignal(
  stop: () => Promise<void>,
  log: { warn: (msg: string) => void },
  /** What the first signal does, as the warning says it; null: no warning (the command says it itself). */
  doing: string | null = 'finishing the current job, then stopping',
): () => void {
  let asked = false;
  const handler = (signal: NodeJS.Signals) => {
    if (asked) {
      log.warn(`${signal} again: exiting now`);
      process.exit(ExitCode.interrupted);
    }
    asked = true;
    if (doing !== null) log.warn(`${signal}: ${doing} (press Ctrl+C again to exit now)`);
    void stop();
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}
