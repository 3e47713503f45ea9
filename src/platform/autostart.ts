import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { createCommandRunner, describeResult } from './exec.js';
import type { CommandRunner } from './exec.js';
import {
  HEADER,
  LAUNCHD_UI_LABEL,
  SERVICE_NAME,
  autostartDesktopEntry,
  launchdPlist,
  windowsRunValue,
} from './files.js';
import type { ServiceTarget } from './target.js';
import { cliArgs, xdgConfigHome } from './target.js';

export const RUN_KEY = 'HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run';

export interface AutostartOptions extends ServiceTarget {
  /** config `auto_start`: whether `ui` should start at login. */
  enabled: boolean;
  log: Logger;
  /** Runs reg.exe on Windows; tests pass a recorder. */
  run?: CommandRunner;
}

export interface AutostartResult {
  action: 'written' | 'rewritten' | 'unchanged' | 'removed' | 'absent' | 'failed';
  /** The file, or the registry value. */
  where: string;
  reason?: string;
}

/** Where the entry lives and what it holds, for the file-based platforms. */
export function autostartFile(t: ServiceTarget): { path: string; content: string } | undefined {
  if (t.platform === 'linux') {
    return {
      path: path.join(xdgConfigHome(t), 'autostart', `${SERVICE_NAME}.desktop`),
      content: autostartDesktopEntry(t),
    };
  }
  if (t.platform === 'darwin') {
    return {
      path: path.join(t.home, 'Library', 'LaunchAgents', `${LAUNCHD_UI_LABEL}.plist`),
      // RunAtLoad without KeepAlive: started at login, not resurrected after the operator quits it
      content: launchdPlist({
        label: LAUNCHD_UI_LABEL,
        args: [t.nodePath, ...cliArgs(t, ['ui', '--no-open'])],
        keepAlive: false,
        comment: HEADER.replace(
          '`studio-worker install-service`',
          '`studio-worker ui` (auto_start = true)',
        ).replace('`studio-worker uninstall-service` removes it', 'it is removed when auto_start = false'),
      }),
    };
  }
  return undefined;
}

async function reconcileFile(
  enabled: boolean,
  file: { path: string; content: string },
): Promise<AutostartResult> {
  let existing: string | undefined;
  try {
    existing = await readFile(file.path, 'utf8');
  } catch {
    existing = undefined;
  }
  if (!enabled) {
    if (existing === undefined) return { action: 'absent', where: file.path };
    await rm(file.path, { force: true });
    return { action: 'removed', where: file.path };
  }
  if (existing === file.content) return { action: 'unchanged', where: file.path };
  await mkdir(path.dirname(file.path), { recursive: true });
  await writeFile(file.path, file.content, { mode: 0o644 });
  return { action: existing === undefined ? 'written' : 'rewritten', where: file.path };
}

/** The data of our value in `reg query` output, or undefined when it is not there. */
export function parseRegQuery(stdout: string, name = SERVICE_NAME): string | undefined {
  for (const line of stdout.split(/\r?\n/)) {
    const m =
      /^\s+(.+?)\s{2,}REG_[A-Z_]+\s{2,}(.*)$/.exec(line) ?? /^\s+(.+?)\s+REG_[A-Z_]+\s+(.*)$/.exec(line);
    if (m && m[1] === name) return m[2] ?? '';
  }
  return undefined;
}

async function reconcileRegistry(o: AutostartOptions, run: CommandRunner): Promise<AutostartResult> {
  const where = `${RUN_KEY}\\${SERVICE_NAME}`;
  const query = ['query', RUN_KEY, '/v', SERVICE_NAME];
  const q = await run('reg', query);
  if (q.error) return { action: 'failed', where, reason: describeResult('reg', query, q) };
  // reg query exits 1 when the value does not exist
  const current = q.code === 0 ? parseRegQuery(q.stdout) : undefined;
  const wanted = windowsRunValue(o);
  let args: string[];
  let action: AutostartResult['action'];
  if (!o.enabled) {
    if (current === undefined) return { action: 'absent', where };
    args = ['delete', RUN_KEY, '/v', SERVICE_NAME, '/f'];
    action = 'removed';
  } else {
    if (current === wanted) return { action: 'unchanged', where };
    args = ['add', RUN_KEY, '/v', SERVICE_NAME, '/t', 'REG_SZ', '/d', wanted, '/f'];
    action = current === undefined ? 'written' : 'rewritten';
  }
  const r = await run('reg', args);
  if (r.code !== 0) return { action: 'failed', where, reason: describeResult('reg', args, r) };
  return { action, where };
}

/**
 * Makes the login entry for `studio-worker ui` match `auto_start`: written when enabled and missing,
 * rewritten only when its content differs, removed when disabled. Called each time `ui` starts.
 */
export async function reconcileAutostart(o: AutostartOptions): Promise<AutostartResult> {
  const file = autostartFile(o);
  let result: AutostartResult;
  if (file) result = await reconcileFile(o.enabled, file);
  else if (o.platform === 'win32') result = await reconcileRegistry(o, o.run ?? createCommandRunner());
  else
    result = { action: 'failed', where: o.platform, reason: `autostart is not supported on ${o.platform}` };
  const msg = `autostart (auto_start = ${o.enabled}): ${result.action} ${result.where}`;
  if (result.action === 'failed') o.log.warn(`${msg}: ${result.reason ?? ''}`);
  else o.log.info(msg);
  return result;
}
