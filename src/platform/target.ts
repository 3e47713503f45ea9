import { existsSync, realpathSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../util/index.js';

/**
 * Everything a service or autostart entry depends on. Generators are pure functions of this, so
 * tests build all three platforms' files on Linux into a temp home.
 */
export interface ServiceTarget {
  platform: NodeJS.Platform;
  home: string;
  /** Absolute path of node (process.execPath): a service manager has no login PATH. */
  nodePath: string;
  /** Absolute path of dist/cli/main.js. */
  entryScript: string;
  /** Passed as --config-dir when set, so the service uses the same config as the installer. */
  configDir?: string | undefined;
  /** A config file not named config.toml (`--config <file>`): passed as --config instead. */
  configFile?: string | undefined;
  /** XDG_CONFIG_HOME, LOCALAPPDATA, USERDOMAIN / USERNAME are read from here. */
  env?: NodeJS.ProcessEnv;
  /** Numeric user id for launchctl's gui/<uid> domain (macOS). */
  uid?: number;
  /**
   * `install-service --gpus`: one worker per GPU index instead of the one service, each on
   * `gpuConfigDir(configDir, N)` (configDir is then required).
   */
  gpus?: readonly number[] | undefined;
}

/**
 * dist/cli/main.js next to this module (the installed package); from a source checkout, the built
 * one beside src/; else the script node was started with.
 */
export function resolveEntryScript(argv1: string | undefined = process.argv[1]): string {
  const candidates = [
    new URL('../cli/main.js', import.meta.url),
    new URL('../../dist/cli/main.js', import.meta.url),
  ];
  for (const url of candidates) {
    const file = fileURLToPath(url);
    if (existsSync(file)) return file;
  }
  if (argv1 && existsSync(argv1)) return realpathSync(argv1);
  throw new UserError(
    'cannot find the studio-worker entry script (dist/cli/main.js); run `npm run build` first',
  );
}

/** The target for this process: this OS, this user, this node, this install. */
export function currentTarget(
  opts: { configDir?: string | undefined; configFile?: string | undefined } = {},
): ServiceTarget {
  const uid = process.getuid?.();
  return {
    platform: process.platform,
    home: homedir(),
    nodePath: process.execPath,
    entryScript: resolveEntryScript(),
    configDir: opts.configDir === undefined ? undefined : path.resolve(opts.configDir),
    ...(opts.configFile === undefined ? {} : { configFile: path.resolve(opts.configFile) }),
    env: process.env,
    ...(uid === undefined ? {} : { uid }),
  };
}

/**
 * V8 flags for a long-running worker: a 1 MB young generation instead of up to 32 MB keeps an idle
 * worker's resident memory about 40 MB lower, and one V8 background thread instead of four another
 * ~4 MB (each thread's stack and malloc arena; measured in docs/benchmarks.md); the extra minor GCs
 * and the background work queued on one thread cost nothing next to an inference job. Flags must be
 * on node's command line: V8 ignores them once the heap exists.
 */
export const WORKER_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1', '--v8-pool-size=1'];

/** What follows node on a service's command line: V8 flags, the entry script, then our arguments. */
export function cliArgs(t: ServiceTarget, command: readonly string[]): string[] {
  return [
    ...WORKER_NODE_FLAGS,
    t.entryScript,
    ...(t.configFile ? ['--config', t.configFile] : t.configDir ? ['--config-dir', t.configDir] : []),
    ...command,
  ];
}

export function xdgConfigHome(t: ServiceTarget): string {
  const fromEnv = t.env?.XDG_CONFIG_HOME;
  return fromEnv && path.isAbsolute(fromEnv) ? fromEnv : path.join(t.home, '.config');
}

export function localAppData(t: ServiceTarget): string {
  const fromEnv = t.env?.LOCALAPPDATA;
  return fromEnv && path.isAbsolute(fromEnv) ? fromEnv : path.join(t.home, 'AppData', 'Local');
}

/** DOMAIN\user for the Scheduled Task's trigger and principal. */
export function windowsUserId(t: ServiceTarget): string {
  const user = t.env?.USERNAME ?? userInfo().username;
  const domain = t.env?.USERDOMAIN;
  return domain ? `${domain}\\${user}` : user;
}

export function launchdDomain(t: ServiceTarget): string {
  return `gui/${t.uid ?? process.getuid?.() ?? 501}`;
}

/**
 * The config folder of the worker `install-service --gpus` pins to GPU `index`: beside the
 * installer's config.toml, so each GPU's worker has its own registration, lock and ports.
 */
export function gpuConfigDir(baseConfigDir: string, index: number | string): string {
  return path.join(baseConfigDir, `gpu-${index}`);
}
