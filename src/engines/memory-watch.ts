import { childTrees } from '../util/index.js';
import type { JobWatchdog } from './watchdog.js';

const GIB = 1024 ** 3;
const gb = (bytes: number): string => (bytes / GIB).toFixed(1);

/**
 * While a job runs, checks every engine process of this worker (each child with what it started:
 * a llama.cpp or inpainting process, sd-cli or sd-server, whisper's helper, ffmpeg) against
 * `limitBytes`. One past it has its job stopped by the watchdog (so its engine kills it and the
 * job fails as retryable) and is then killed outright, before the machine starts to swap.
 */
export function watchEngineMemory(watchdog: JobWatchdog, limitBytes: number, pollMs: number): () => void {
  let checking = false;
  const timer = setInterval(() => {
    if (checking) return;
    checking = true;
    void childTrees(process.pid)
      .then((trees) => {
        const over = trees.find((t) => t.rssBytes > limitBytes);
        if (!over || watchdog.stop) return;
        watchdog.stopNow(
          `engine process ${over.pid} used ${gb(over.rssBytes)} GB of memory, over engine_max_rss_gb (${gb(limitBytes)} GB)`,
        );
        for (const pid of over.pids) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // Already gone.
          }
        }
      })
      .finally(() => (checking = false));
  }, pollMs);
  timer.unref();
  return () => clearInterval(timer);
}
