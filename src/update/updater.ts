import path from 'node:path';
import { toError } from '../util/index.js';
import type { UpdateConfig } from './check.js';
import { InstallNotWritableError } from './errors.js';
import { fetchReleaseFeed } from './http.js';
import { installRelease } from './install.js';
import { selectUpdate } from './select.js';
import { readUpdateState, updateUpdateState } from './state.js';
import { RELAUNCH_EXIT_CODE, SUPERVISED_ENV, superviseInstalled, type Handoff } from './supervise.js';

export interface UpdaterLog {
  debug: (msg: string) => void;
  info: (msg: string) => void;
  warn: (msg: string) => void;
  error: (msg: string) => void;
}

export interface AutoUpdaterOptions {
  /** Read before every check, so config edits apply without a restart; undefined = not loaded yet. */
  config: () => UpdateConfig | undefined;
  /** True when no job is in flight; updates happen only then. */
  isIdle: () => boolean;
  log: UpdaterLog;
  /** The running version. */
  version: string;
  /** Arguments to re-execute with (`process.argv.slice(2)`). */
  argv: readonly string[];
  configDir: string;
  /** Where versions are installed; default `<configDir>/versions`. */
  versionsDir?: string;
  /** Stops the worker gracefully; awaited before the new version starts. */
  onBeforeRestart: () => Promise<void>;
  /** A new version that exits sooner than this is rolled back (default 30 s). */
  startWindowMs?: number;
  /** First check this long after start (default: 60 s, or the interval if shorter). */
  initialDelayMs?: number;
  /** A busy worker is checked again this soon (default: 60 s, or the interval if shorter). */
  busyRetryMs?: number;
  /** Default: whether `STUDIO_WORKER_SUPERVISED` is set (a supervisor then launches new versions). */
  supervised?: boolean;
}

export type UpdateOutcome =
  | { status: 'disabled' | 'busy' | 'up-to-date' | 'stopped' }
  | { status: 'not-writable' | 'failed'; version?: string; error: Error }
  | { status: 'handed-off'; version: string; handoff: Handoff };

export interface AutoUpdater {
  /** One check (and install, when idle and enabled); concurrent calls share one run. */
  checkNow(): Promise<UpdateOutcome>;
  /** Clears the timer; a hand-off already under way carries on. Idempotent. */
  stop(): void;
  /** The hand-off once one has begun (the worker was stopped for it), else undefined. */
  handoff(): Promise<Handoff> | undefined;
}

/**
 * Checks the release feed every `auto_update_interval_secs` while enabled; when a newer version is
 * available and the worker is idle it installs it (verified), stops the worker and re-executes the
 * same arguments on the new version (see supervise.ts for the rollback rules). A version whose
 * install folder cannot be written is reported once, with the command the operator should run.
 */
export function startAutoUpdater(opts: AutoUpdaterOptions): AutoUpdater {
  const versionsDir = opts.versionsDir ?? path.join(opts.configDir, 'versions');
  const supervised = opts.supervised ?? process.env[SUPERVISED_ENV] === '1';
  const reportedNotWritable = new Set<string>();
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<UpdateOutcome> | undefined;
  let handoff: Promise<Handoff> | undefined;

  const cap = (ms: number): number => Math.min(ms, intervalMs());
  const intervalMs = (): number => Math.max(1, opts.config()?.autoUpdateIntervalSecs ?? 1800) * 1000;

  const schedule = (ms: number): void => {
    if (stopped || handoff) return;
    timer = setTimeout(() => {
      void checkNow().then((o) => {
        schedule(o.status === 'busy' ? cap(opts.busyRetryMs ?? 60_000) : intervalMs());
      });
    }, ms);
    timer.unref();
  };

  async function check(): Promise<UpdateOutcome> {
    const config = opts.config();
    if (stopped || handoff) return { status: 'stopped' };
    if (!config?.autoUpdateEnabled) return { status: 'disabled' };
    if (!opts.isIdle()) return { status: 'busy' };
    const state = await readUpdateState(opts.configDir);
    const feed = await fetchReleaseFeed(config.autoUpdateFeed, opts.version);
    const { candidate } = selectUpdate(feed, {
      current: opts.version,
      prerelease: config.autoUpdatePrerelease,
      badVersions: state.badVersions,
    });
    if (!candidate) return { status: 'up-to-date' };
    const { version } = candidate;
    if (reportedNotWritable.has(version)) {
      return { status: 'not-writable', version, error: new Error('reported before') };
    }
    opts.log.info(`studio-worker ${version} is available (running ${opts.version}); installing`);
    let installed;
    try {
      installed = await installRelease({
        candidate,
        versionsDir,
        runningVersion: opts.version,
        log: opts.log,
      });
    } catch (e) {
      const error = toError(e);
      if (!(error instanceof InstallNotWritableError)) throw error;
      reportedNotWritable.add(version);
      opts.log.warn(error.message);
      return { status: 'not-writable', version, error };
    }
    // A job may have arrived while we downloaded: the install is kept and used at the next idle check.
    if (stopped || !opts.isIdle()) return { status: 'busy' };
    opts.log.info(`restarting on studio-worker ${version}`);
    if (supervised) await updateUpdateState(opts.configDir, (s) => ({ ...s, next: version }));
    const target = installed;
    handoff = (async (): Promise<Handoff> => {
      await opts.onBeforeRestart();
      if (supervised) return { outcome: 'exited', version, code: RELAUNCH_EXIT_CODE };
      return superviseInstalled({
        target,
        argv: opts.argv,
        configDir: opts.configDir,
        versionsDir,
        log: opts.log,
        ...(opts.startWindowMs === undefined ? {} : { startWindowMs: opts.startWindowMs }),
      });
    })();
    return { status: 'handed-off', version, handoff: await handoff };
  }

  function checkNow(): Promise<UpdateOutcome> {
    inFlight ??= check()
      .catch((e: unknown): UpdateOutcome => {
        const error = toError(e);
        opts.log.error(`update check failed: ${error.message}`);
        return { status: 'failed', error };
      })
      .finally(() => {
        inFlight = undefined;
      });
    return inFlight;
  }

  schedule(opts.initialDelayMs ?? cap(60_000));
  return {
    checkNow,
    stop(): void {
      stopped = true;
      clearTimeout(timer);
    },
    handoff: () => handoff,
  };
}
