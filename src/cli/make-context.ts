import type { Command } from 'commander';
import {
  CONFIG_DIR_ENV,
  ConfigStore,
  legacyConfigDirs,
  migrateLegacyConfigDir,
  resolveConfigDir,
} from '../config/index.js';
import { LogShipper, createLogger } from '../logs/index.js';
import { toError } from '../util/index.js';
import type { CommandContext, GlobalOptions } from './context.js';

/** What every command gets: the config store, a logger at the chosen level, and stdout. */
export function makeContext(program: Command, defaultLevel = 'info'): CommandContext {
  const opts = program.opts<GlobalOptions>();
  const shipper = new LogShipper();
  const log = createLogger({
    level: opts.logLevel ?? process.env.LOG_LEVEL ?? defaultLevel,
    pretty: process.stderr.isTTY,
    destination: 2,
    shipper,
  });
  const explicit = opts.configDir !== undefined || Boolean(process.env[CONFIG_DIR_ENV]);
  const dir = resolveConfigDir(opts.configDir ? { configDir: opts.configDir } : {});
  if (!explicit) moveLegacyConfig(dir, log);
  const store = new ConfigStore(dir);
  return { store, log, shipper, out: (line) => process.stdout.write(`${line}\n`) };
}

/** Earlier versions kept the config elsewhere on macOS and Windows: move it to the original's folder once. */
function moveLegacyConfig(dir: string, log: CommandContext['log']): void {
  try {
    const move = migrateLegacyConfigDir(dir, legacyConfigDirs());
    if (!move) return;
    const kept =
      move.kept.length > 0 ? `; left in place (already present there): ${move.kept.join(', ')}` : '';
    log.info(
      `moved the config folder from ${move.from} to ${move.to} (the original worker's location)${kept}`,
    );
  } catch (e) {
    log.warn(`could not move the config folder to ${dir}: ${toError(e).message}`);
  }
}
