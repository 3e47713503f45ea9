import { CONFIG_FILE, type ConfigStore } from '../config/index.js';
import type { LogShipper, WorkerLogger } from '../logs/index.js';

/** Options every command understands. */
export interface GlobalOptions {
  configDir?: string;
  /** The original's `--config <file>`: config.toml's path; its folder is the config folder. */
  config?: string;
  logLevel?: string;
}

/** What a command needs from the entry point, built once per invocation. */
export interface CommandContext {
  store: ConfigStore;
  log: WorkerLogger;
  shipper: LogShipper;
  /** Where human-readable output goes (stdout); logs go to stderr. */
  out: (line: string) => void;
}

/** Where a service or login entry finds this config: its folder, and the file when it is not config.toml. */
export function configLocation(store: ConfigStore): { configDir: string; configFile?: string } {
  return store.fileName === CONFIG_FILE
    ? { configDir: store.dir }
    : { configDir: store.dir, configFile: store.path };
}
