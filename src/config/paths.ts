import { existsSync, mkdirSync, readdirSync, renameSync, rmdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const CONFIG_DIR_ENV = 'STUDIO_WORKER_CONFIG_DIR';

// The original's `ProjectDirs::from("gg", "minis", "minis-studio-worker")`: one name per platform.
const APP_NAME = 'minis-studio-worker';
const MACOS_BUNDLE = 'gg.minis.minis-studio-worker';
const WINDOWS_ORG = 'minis';

export interface ResolveConfigDirOptions {
  /** The `--config-dir` option; wins over everything. */
  configDir?: string | undefined;
  env?: NodeJS.ProcessEnv;
  /** For tests: the platform and home directory whose default to compute. */
  platform?: NodeJS.Platform;
  homedir?: string;
}

/**
 * Where config.toml lives: `--config-dir` > `$STUDIO_WORKER_CONFIG_DIR` > the platform default,
 * which is the Rust original's config dir so that a machine switching over keeps its registration.
 */
export function resolveConfigDir(opts: ResolveConfigDirOptions = {}): string {
  const env = opts.env ?? process.env;
  if (opts.configDir) return path.resolve(opts.configDir);
  const fromEnv = env[CONFIG_DIR_ENV];
  if (fromEnv) return path.resolve(fromEnv);
  return defaultConfigDir(opts);
}

/** The platform's config folder, as the original's ProjectDirs computes it. */
export function defaultConfigDir(opts: Omit<ResolveConfigDirOptions, 'configDir'> = {}): string {
  const env = opts.env ?? process.env;
  const platform = opts.platform ?? process.platform;
  const home = opts.homedir ?? os.homedir();
  if (platform === 'win32') {
    return path.win32.join(roamingAppData(env, home), WINDOWS_ORG, APP_NAME, 'config');
  }
  if (platform === 'darwin') {
    return path.posix.join(home, 'Library', 'Application Support', MACOS_BUNDLE);
  }
  const xdg = env.XDG_CONFIG_HOME;
  // The XDG spec says a relative XDG_CONFIG_HOME is invalid and must be ignored.
  if (xdg && path.posix.isAbsolute(xdg)) return path.posix.join(xdg, APP_NAME);
  return path.posix.join(home, '.config', APP_NAME);
}

/**
 * Folders earlier versions of this worker used before it moved to the original's paths (macOS and
 * Windows only: on Linux the path was already the original's).
 */
export function legacyConfigDirs(opts: Omit<ResolveConfigDirOptions, 'configDir'> = {}): string[] {
  const env = opts.env ?? process.env;
  const platform = opts.platform ?? process.platform;
  const home = opts.homedir ?? os.homedir();
  if (platform === 'win32') return [path.win32.join(roamingAppData(env, home), APP_NAME)];
  if (platform === 'darwin') return [path.posix.join(home, '.config', APP_NAME)];
  return [];
}

function roamingAppData(env: NodeJS.ProcessEnv, home: string): string {
  return env.APPDATA || path.win32.join(home, 'AppData', 'Roaming');
}

export interface ConfigMove {
  from: string;
  to: string;
  /** Entries moved (config.toml, outbox/, …). */
  moved: string[];
  /** Entries left behind because the new folder already has one of that name. */
  kept: string[];
}

/**
 * Moves a config folder of an earlier version into `target` once: only when `target` has no
 * config.toml yet and a legacy folder has one. Every entry of the old folder moves unless the new
 * folder already has one of that name (then both stay, and the old one is reported); the old
 * folder is removed when it ends up empty. Returns undefined when there was nothing to move.
 */
export function migrateLegacyConfigDir(
  target: string,
  legacyDirs: readonly string[],
): ConfigMove | undefined {
  if (existsSync(path.join(target, 'config.toml'))) return undefined;
  const from = legacyDirs.find((dir) => dir !== target && existsSync(path.join(dir, 'config.toml')));
  if (from === undefined) return undefined;
  mkdirSync(target, { recursive: true, mode: 0o700 });
  const move: ConfigMove = { from, to: target, moved: [], kept: [] };
  // config.toml last: until it has moved, a crash leaves the old folder recognisable as the one to move.
  const names = readdirSync(from).sort((a, b) => Number(a === 'config.toml') - Number(b === 'config.toml'));
  for (const name of names) {
    const dest = path.join(target, name);
    if (existsSync(dest)) {
      move.kept.push(name);
      continue;
    }
    renameSync(path.join(from, name), dest);
    move.moved.push(name);
  }
  if (move.kept.length === 0) {
    try {
      rmdirSync(from);
    } catch {
      // Something appeared meanwhile: the folder stays, nothing in it is lost.
    }
  }
  return move;
}
