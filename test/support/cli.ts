import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';

/** The built CLI, as an operator runs it. */
export const CLI = join(import.meta.dirname, '../../dist/cli/main.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI to its end (60 s at most), warnings and worse logged; `env` adds to this process's. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { env: { ...process.env, LOG_LEVEL: 'warn', ...env }, timeout: 60_000 },
      (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

export interface RunProcess {
  child: ChildProcess;
  /** Everything it printed to stdout so far. */
  stdout: () => string;
  /** Everything it printed to stderr (its log lines) so far. */
  stderr: () => string;
  /** SIGTERM, as a service manager stops it; resolves once it has exited. */
  stop: () => Promise<void>;
}

/**
 * `run` as a worker process on `configDir`, its local API and its stream listener on any free port
 * (tests run side by side); `env` adds to this process's.
 */
export function startRun(configDir: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): RunProcess {
  const child = spawn(process.execPath, [CLI, '--config-dir', configDir, 'run', ...args], {
    env: runEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** The environment a test's `run` gets: this process's, quiet logs, its listeners on any free port, then `env`. */
export function runEnv(env: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    LOG_LEVEL: 'warn',
    STUDIO_WORKER_LOCAL_API_PORT: '0',
    STUDIO_WORKER_STREAM_PORT: '0',
    ...env,
  };
}
