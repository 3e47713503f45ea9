import { ExitCode } from '../util/index.js';

/**
 * Signals are handled once, here: the first SIGINT/SIGTERM asks for a graceful stop, a second one
 * exits at once.
 */
export function onShutdownSignal(
  stop: () => Promise<void>,
  log: { warn: (msg: string) => void },
): () => void {
  let asked = false;
  const handler = (signal: NodeJS.Signals) => {
    if (asked) {
      log.warn(`${signal} again: exiting now`);
      process.exit(ExitCode.interrupted);
    }
    asked = true;
    log.warn(`${signal}: finishing the current job, then stopping (press Ctrl+C again to exit now)`);
    void stop();
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}
