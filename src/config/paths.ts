import os from 'node:os';
import path from 'node:path';

export const CONFIG_DIR_ENV = 'STUDIO_WORKER_CONFIG_DIR';
const APP_NAME = 'minis-studio-worker';

export interface ResolveConfigDirOptions {
  /** The `--config-dir` option; wins over everything. */
  configDir?: string | undefined;
  env?: NodeJS.ProcessEnv;
  /** For tests: the platform and home directory whose default to compute. */
  platform?: NodeJS.Platform;
  homedir?: string;
}

/**
 * Where config.toml lives: `--config-dir` > `$STUDIO_WORKER_CONFIG_DIR` > the contract's platform
 * default. env-paths is not used: it appends `-nodejs`/`Config` and picks `~/Library/Preferences` on
 * macOS, none of which is the contract's path.
 */
export function resolveConfigDir(opts: ResolveConfigDirOptions = {}): string {
  const env = opts.env ?? process.env;
  if (opts.configDir) return path.resolve(opts.configDir);
  const fromEnv = env[CONFIG_DIR_ENV];
  if (fromEnv) return path.resolve(fromEnv);

  const platform = opts.platform ?? process.platform;
  const home = opts.homedir ?? os.homedir();
  if (platform === 'win32') {
    const appData = env.APPDATA || path.win32.join(home, 'AppData', 'Roaming');
    return path.win32.join(appData, APP_NAME);
  }
  const xdg = env.XDG_CONFIG_HOME;
  // The XDG spec says a relative XDG_CONFIG_HOME is invalid and must be ignored.
  if (platform === 'linux' && xdg && path.posix.isAbsolute(xdg)) return path.posix.join(xdg, APP_NAME);
  return path.posix.join(home, '.config', APP_NAME);
}
