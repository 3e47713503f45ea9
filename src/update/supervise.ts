import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { toError } from '../util/index.js';
import { installedVersion, type InstalledVersion } from './install.js';
import { markBadVersion, readUpdateState, updateUpdateState } from './state.js';

/** A supervised worker exits with this code to ask its supervisor to launch the version it just installed. */
export const RELAUNCH_EXIT_CODE = 75;
/** Set in a supervised child's environment, so it hands updates to its supervisor instead of nesting. */
export const SUPERVISED_ENV = 'STUDIO_WORKER_SUPERVISED';
export const DEFAULT_START_WINDOW_MS = 30_000;

/**
 * How supervising ended. `exited`: the new version ran and exited; exit with `code`. `rolled-back`:
 * it died within its start window, was marked bad, and this process's own version should run again.
 */
export type Handoff =
  | { outcome: 'exited'; version: string; code: number }
  | { outcome: 'rolled-back'; version: string; code: number | null; signal: NodeJS.Signals | null };

export interface SuperviseOptions {
  target: InstalledVersion;
  /** The CLI arguments to re-execute with (`process.argv.slice(2)`). */
  argv: readonly string[];
  configDir: string;
  versionsDir: string;
  log: { info: (msg: string) => void; error: (msg: string) => void };
  /** A child that exits sooner than this failed to start (default 30 s). */
  startWindowMs?: number;
}

/**
 * Runs an installed version as a child with the same arguments and stays as a thin supervisor:
 * signals are forwarded, the child's exit code becomes ours. A child that exits within its start
 * window (and was not asked to stop) is marked bad and we roll back: to the version that ran before
 * it, or, when that is this process's own, by returning `rolled-back` so the caller runs itself again.
 * A child that exits with RELAUNCH_EXIT_CODE installed a newer version (`next` in the state): it is
 * launched the same way, with the child as its fallback.
 */
export async function superviseInstalled(opts: SuperviseOptions): Promise<Handoff> {
  const windowMs = opts.startWindowMs ?? DEFAULT_START_WINDOW_MS;
  const fallbacks: InstalledVersion[] = [];
  let target = opts.target;
  for (;;) {
    opts.log.info(`starting studio-worker ${target.version}`);
    const running = target;
    let recorded: Promise<unknown> = Promise.resolve();
    const run = await runChild(running, opts.argv, windowMs, () => {
      recorded = updateUpdateState(opts.configDir, (s) => ({
        ...s,
        current: running.version,
        next: s.next === running.version ? undefined : s.next,
      })).catch((e: unknown) => {
        opts.log.error(`could not record studio-worker ${running.version} as current: ${toError(e).message}`);
      });
    });
    await recorded;
    if (!run.survivedWindow && !run.askedToStop) {
      await markBadVersion(opts.configDir, target.version);
      const how = run.signal ?? `exit code ${run.code}`;
      opts.log.error(
        `studio-worker ${target.version} exited within ${Math.round(windowMs / 1000)} s of starting (${how}): ` +
          'rolled back; this version will not be tried again',
      );
      const previous = fallbacks.pop();
      if (!previous)
        return { outcome: 'rolled-back', version: target.version, code: run.code, signal: run.signal };
      await updateUpdateState(opts.configDir, (s) => ({ ...s, current: previous.version }));
      target = previous;
      continue;
    }
    if (run.code === RELAUNCH_EXIT_CODE) {
      const { next } = await readUpdateState(opts.configDir);
      const installed = next ? await installedVersion(opts.versionsDir, next) : undefined;
      if (installed) {
        fallbacks.push(target);
        target = installed;
      }
      continue;
    }
    const code = run.code ?? 128 + (run.signal ? (constants.signals[run.signal] ?? 0) : 0);
    return { outcome: 'exited', version: target.version, code };
  }
}

interface ChildRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  survivedWindow: boolean;
  /** We forwarded a stop signal: an early exit is then the operator's doing, not a failed start. */
  askedToStop: boolean;
}

function runChild(
  target: InstalledVersion,
  argv: readonly string[],
  windowMs: number,
  onSurvived: () => void,
): Promise<ChildRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [target.entry, ...argv], {
      stdio: 'inherit',
      env: { ...process.env, [SUPERVISED_ENV]: '1' },
      // Its own process group, so a terminal's Ctrl+C reaches it once, through us, not twice.
      detached: process.platform !== 'win32',
    });
    let survivedWindow = false;
    let askedToStop = false;
    const timer = setTimeout(() => {
      survivedWindow = true;
      onSurvived();
    }, windowMs);
    const forward = (signal: NodeJS.Signals): void => {
      askedToStop = true;
      child.kill(signal);
    };
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    const done = (code: number | null, signal: NodeJS.Signals | null): void => {
      clearTimeout(timer);
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      resolve({ code, signal, survivedWindow, askedToStop });
    };
    child.once('error', () => {
      done(null, null);
    });
    child.once('exit', done);
  });
}
