import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { RUN_KEY, parseRegQuery } from './autostart.js';
import { describeResult } from './exec.js';
import type { CommandRunner } from './exec.js';
import type { ServiceTarget } from './target.js';
import { launchdDomain, xdgConfigHome } from './target.js';

/**
 * What the original (Rust) worker installs to start itself, by its own names (its autostart.rs and,
 * before it, service.rs): its tray's login entry, which starts the tray and so the original's daemon,
 * and the headless service older versions installed. Left in place after a switch-over they start
 * the original beside this worker on the same config and worker id.
 */
export const ORIGINAL_TRAY_ENTRY = 'studio-worker-ui';
export const ORIGINAL_SYSTEMD_UNIT = 'minis-studio-worker.service';
export const ORIGINAL_LAUNCHD_TRAY = 'gg.minis.studio-worker-ui';
/** The original's headless LaunchAgent; this worker's own `install-service` uses the same label. */
export const ORIGINAL_LAUNCHD_DAEMON = 'gg.minis.studio-worker';
export const ORIGINAL_TASK = 'MinisStudioWorker';
/** The first words of every file this worker's install-service and `ui` write (files.ts's HEADER). */
const OURS = 'Written by `studio-worker';

export interface OriginalEntry {
  /** What it is, for the operator. */
  what: string;
  /** The file, or registry value, or task name. */
  where: string;
  kind: 'file' | 'registry' | 'task';
  /** Run before the file goes: stop and deregister (each may fail: the entry may not be loaded). */
  before: string[][];
  /** Run after it went (systemd's daemon-reload). */
  after: string[][];
}

/** The original's entries this target may have, found or not. */
export function originalEntries(t: ServiceTarget): OriginalEntry[] {
  if (t.platform === 'linux') {
    const ctl = (...args: string[]) => ['systemctl', '--user', ...args];
    return [
      {
        what: "the original studio-worker's login entry (it starts the original's tray, which starts its daemon)",
        // The original writes it under $HOME/.config, whatever XDG_CONFIG_HOME says.
        where: path.join(t.home, '.config', 'autostart', `${ORIGINAL_TRAY_ENTRY}.desktop`),
        kind: 'file',
        before: [],
        after: [],
      },
      {
        what: "the original studio-worker's headless service",
        where: path.join(xdgConfigHome(t), 'systemd', 'user', ORIGINAL_SYSTEMD_UNIT),
        kind: 'file',
        before: [ctl('disable', '--now', ORIGINAL_SYSTEMD_UNIT)],
        after: [ctl('daemon-reload')],
      },
    ];
  }
  if (t.platform === 'darwin') {
    const agents = path.join(t.home, 'Library', 'LaunchAgents');
    const bootout = (label: string) => ['launchctl', 'bootout', `${launchdDomain(t)}/${label}`];
    return [
      {
        what: "the original studio-worker's login entry (its tray, which starts its daemon)",
        where: path.join(agents, `${ORIGINAL_LAUNCHD_TRAY}.plist`),
        kind: 'file',
        before: [bootout(ORIGINAL_LAUNCHD_TRAY)],
        after: [],
      },
      {
        what: "the original studio-worker's headless LaunchAgent",
        where: path.join(agents, `${ORIGINAL_LAUNCHD_DAEMON}.plist`),
        kind: 'file',
        before: [bootout(ORIGINAL_LAUNCHD_DAEMON)],
        after: [],
      },
    ];
  }
  if (t.platform === 'win32') {
    const appData = t.env?.APPDATA ?? path.join(t.home, 'AppData', 'Roaming');
    return [
      {
        what: "the original studio-worker's login entry (its tray, which starts its daemon)",
        where: `${RUN_KEY}\\${ORIGINAL_TRAY_ENTRY}`,
        kind: 'registry',
        before: [],
        after: [],
      },
      {
        what: "the original studio-worker's headless Scheduled Task",
        where: ORIGINAL_TASK,
        kind: 'task',
        before: [['schtasks', '/End', '/TN', ORIGINAL_TASK]],
        after: [],
      },
      {
        what: "the original studio-worker's task definition",
        where: path.join(appData, 'minis-studio-worker', 'minis-studio-worker.task.xml'),
        kind: 'file',
        before: [],
        after: [],
      },
    ];
  }
  return [];
}

export interface OriginalRemoval {
  /** "removed <what>: <where>" lines (or "would remove", on a dry run). */
  removed: string[];
  /** Entries that could not be removed, with why. */
  failed: string[];
}

/**
 * Finds the original's entries and removes them: each is stopped and deregistered first, so the
 * original's daemon it started stops too, then its file, registry value or task goes. Every change
 * is said (log and result); a failure is said and the rest still tried. This worker's own entries
 * (the LaunchAgent label both use, when its file is this worker's) are never touched.
 */
export async function removeOriginalEntries(
  t: ServiceTarget,
  opts: { run: CommandRunner; log: Logger; dryRun?: boolean },
): Promise<OriginalRemoval> {
  const out: OriginalRemoval = { removed: [], failed: [] };
  for (const entry of originalEntries(t)) {
    if (!(await isPresent(entry, opts.run))) continue;
    const verb = opts.dryRun ? 'would remove' : 'removed';
    if (opts.dryRun) {
      out.removed.push(`${verb} ${entry.what}: ${entry.where}`);
      continue;
    }
    for (const [cmd = '', ...args] of entry.before) {
      const r = await opts.run(cmd, args);
      opts.log.info(`switch-over: ${describeResult(cmd, args, r)}`);
    }
    const problem = await removeEntry(entry, opts.run);
    for (const [cmd = '', ...args] of entry.after) await opts.run(cmd, args);
    if (problem) {
      out.failed.push(`could not remove ${entry.what} (${entry.where}): ${problem}`);
      opts.log.warn(`switch-over: could not remove ${entry.where}: ${problem}`);
      continue;
    }
    out.removed.push(`${verb} ${entry.what}: ${entry.where}`);
    opts.log.info(`switch-over: removed ${entry.where}`);
  }
  return out;
}

async function isPresent(entry: OriginalEntry, run: CommandRunner): Promise<boolean> {
  if (entry.kind === 'registry') {
    const q = await run('reg', ['query', RUN_KEY, '/v', ORIGINAL_TRAY_ENTRY]);
    return q.code === 0 && parseRegQuery(q.stdout, ORIGINAL_TRAY_ENTRY) !== undefined;
  }
  if (entry.kind === 'task') return (await run('schtasks', ['/Query', '/TN', ORIGINAL_TASK])).code === 0;
  const text = await readFile(entry.where, 'utf8').catch(() => undefined);
  // The LaunchAgent label is shared: a file this worker's install-service wrote is its own.
  return text !== undefined && !text.includes(OURS);
}

async function removeEntry(entry: OriginalEntry, run: CommandRunner): Promise<string | undefined> {
  if (entry.kind === 'file') {
    try {
      await rm(entry.where, { force: true });
      return undefined;
    } catch (e) {
      return (e as Error).message;
    }
  }
  const argv =
    entry.kind === 'registry'
      ? ['reg', 'delete', RUN_KEY, '/v', ORIGINAL_TRAY_ENTRY, '/f']
      : ['schtasks', '/Delete', '/TN', ORIGINAL_TASK, '/F'];
  const [cmd = '', ...args] = argv;
  const r = await run(cmd, args);
  return r.code === 0 ? undefined : describeResult(cmd, args, r);
}
