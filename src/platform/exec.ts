import { execFile } from 'node:child_process';
import { toError } from '../util/index.js';

/** What a finished command left: its exit code (-1 when it could not start) and its output. */
export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
  /** Set when the command could not be started or timed out (ENOENT, ETIMEDOUT…). */
  error?: string;
}

/**
 * Runs one command with an argument array (never a shell). Installers and probes take one of these
 * so tests can record the exact argv of commands that only exist on another OS (reg.exe, launchctl).
 */
export type CommandRunner = (cmd: string, args: readonly string[]) => Promise<CommandResult>;

export interface RunnerOptions {
  timeoutMs?: number;
  /** Environment of the child; its PATH is where `cmd` is looked up. */
  env?: NodeJS.ProcessEnv;
}

export function createCommandRunner(opts: RunnerOptions = {}): CommandRunner {
  const timeout = opts.timeoutMs ?? 10_000;
  return (cmd, args) =>
    new Promise((resolve) => {
      execFile(
        cmd,
        [...args],
        { timeout, windowsHide: true, encoding: 'utf8', ...(opts.env ? { env: opts.env } : {}) },
        (err, stdout, stderr) => {
          if (!err) {
            resolve({ code: 0, stdout, stderr });
            return;
          }
          const e = toError(err) as Error & { code?: unknown; killed?: boolean };
          if (typeof e.code === 'number') {
            resolve({ code: e.code, stdout, stderr });
            return;
          }
          const why = e.killed
            ? `timed out after ${timeout} ms`
            : typeof e.code === 'string'
              ? e.code
              : e.message;
          resolve({ code: -1, stdout, stderr, error: why });
        },
      );
    });
}

/** One line describing how a command ended, for logs and operator output. */
export function describeResult(cmd: string, args: readonly string[], r: CommandResult): string {
  const line = [cmd, ...args].join(' ');
  if (r.error) return `${line}: could not run (${r.error})`;
  const detail = (r.stderr.trim() || r.stdout.trim()).split('\n')[0] ?? '';
  return r.code === 0 ? `${line}: ok` : `${line}: exit ${r.code}${detail ? ` (${detail})` : ''}`;
}
