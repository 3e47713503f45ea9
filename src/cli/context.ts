import type { ConfigStore } from '../config/index.js';
import type { LogShipper, WorkerLogger } from '../logs/index.js';

/** Options every command understands. */
export interface GlobalOptions {
  configDir?: string;
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
