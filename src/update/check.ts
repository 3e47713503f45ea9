import type { WorkerConfig } from '../config/types.js';
import { manualInstallCommand } from './errors.js';
import { fetchReleaseFeed } from './http.js';
import { selectUpdate, type Selection } from './select.js';
import { readUpdateState } from './state.js';

export type UpdateConfig = Pick<
  WorkerConfig,
  'autoUpdateEnabled' | 'autoUpdateIntervalSecs' | 'autoUpdateFeed' | 'autoUpdatePrerelease'
>;

export interface CheckUpdateResult {
  current: string;
  /** The version an update would install, if any. */
  latest: string | undefined;
  updateAvailable: boolean;
  feed: string;
  autoUpdateEnabled: boolean;
  skipped: Selection['skipped'];
  /** One line for people: the CLI prints it, the dashboard shows it. */
  message: string;
}

/** Reads the feed and says what an update would install; installs nothing. */
export async function checkForUpdate(
  config: UpdateConfig,
  current: string,
  opts: { configDir?: string; signal?: AbortSignal } = {},
): Promise<CheckUpdateResult> {
  const feed = await fetchReleaseFeed(config.autoUpdateFeed, current, opts.signal);
  const { badVersions } = opts.configDir ? await readUpdateState(opts.configDir) : { badVersions: [] };
  const { candidate, skipped } = selectUpdate(feed, {
    current,
    prerelease: config.autoUpdatePrerelease,
    badVersions,
  });
  const latest = candidate?.version;
  const auto = config.autoUpdateEnabled
    ? `it will be installed when the worker is next idle (checked every ${config.autoUpdateIntervalSecs} s)`
    : `auto-update is off: install it with \`${manualInstallCommand(latest ?? current)}\``;
  const message = latest
    ? `studio-worker ${latest} is available (running ${current}); ${auto}`
    : `studio-worker ${current} is up to date`;
  return {
    current,
    latest,
    updateAvailable: latest !== undefined,
    feed: config.autoUpdateFeed,
    autoUpdateEnabled: config.autoUpdateEnabled,
    skipped,
    message,
  };
}
