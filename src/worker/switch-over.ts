import { DEFAULT_CONFIG, type ConfigStore, type WorkerConfig } from '../config/index.js';

/** The original (Rust) worker's default `auto_update_feed`: a config it wrote carries it. */
export const ORIGINAL_FEED = 'https://api.github.com/repos/webbertakken/studio-worker/releases';

interface Log {
  info: (msg: string) => void;
  warn: (msg: string) => void;
}

/**
 * What a start changes in the config, as the original does at its own start, each said once in
 * the log:
 * - a machine switched over from the original keeps polling the original's releases feed, and would
 *   never receive this worker's updates: the original's default feed becomes this worker's (a feed
 *   the operator chose is theirs, and kept);
 * - on the first start (no config file yet) the VRAM threshold is lowered to what this GPU has
 *   (the original's `clamp_initial_threshold`), so the studio does not offer jobs the card cannot hold.
 * Returns the config as saved, or the one loaded when nothing changed.
 */
export async function adjustConfigAtStart(
  store: ConfigStore,
  opts: { firstStart: boolean; vramTotalGb: number; log: Log },
): Promise<WorkerConfig> {
  const config = await store.load();
  const feed = isOriginalFeed(config.autoUpdateFeed);
  const threshold = opts.firstStart ? initialThreshold(config.vramThresholdGb, opts.vramTotalGb) : undefined;
  if (!feed && threshold === undefined) return config;
  const saved = await store.update((c) => {
    if (feed) c.autoUpdateFeed = DEFAULT_CONFIG.autoUpdateFeed;
    if (threshold !== undefined) c.vramThresholdGb = threshold;
  });
  if (feed) {
    opts.log.info(
      `auto_update_feed was the original studio-worker's releases feed; now ${DEFAULT_CONFIG.autoUpdateFeed}, ` +
        `so this worker's updates reach this machine (saved in ${store.path})`,
    );
  }
  if (threshold !== undefined) {
    opts.log.info(
      `first start: vram_threshold_gb lowered from ${config.vramThresholdGb} to ${threshold} GB, ` +
        `the memory of this machine's GPU (saved in ${store.path})`,
    );
  }
  return saved;
}

/**
 * The operator's threshold above what the GPU holds: the studio would offer jobs that cannot load
 * here. Said at start and whenever the threshold changes (the original says it on every connect).
 */
export function thresholdWarning(thresholdGb: number, vramTotalGb: number): string | undefined {
  if (!(vramTotalGb > 0) || thresholdGb <= vramTotalGb) return undefined;
  const total = vramTotalGb.toFixed(1);
  return (
    `vram_threshold_gb ${thresholdGb.toFixed(1)} GB is more than this GPU's ${total} GB: the studio may offer ` +
    `jobs that cannot load here; lower it to ${total} GB or less (studio-worker set-threshold ${total})`
  );
}

function isOriginalFeed(feed: string): boolean {
  return feed.replace(/\/+$/, '').toLowerCase() === ORIGINAL_FEED.toLowerCase();
}

/** Only ever lowered; to a tenth of a GB at most the GPU's memory. */
function initialThreshold(thresholdGb: number, vramTotalGb: number): number | undefined {
  if (!(vramTotalGb > 0) || thresholdGb <= vramTotalGb) return undefined;
  return Math.floor(vramTotalGb * 10) / 10;
}
