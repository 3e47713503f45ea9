import path from 'node:path';
import type { Command } from 'commander';
import {
  CONFIG_DIR_ENV,
  ConfigStore,
  expandHome,
  legacyConfigDirs,
  migrateLegacyConfigDir,
  resolveConfigDir,
} from '../config/index.js';
import { LogShipper, createLogger } from '../logs/index.js';
import { toError, UserError } from '../util/index.js';
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
  const file = opts.config === undefined ? undefined : configFileOption(opts.config, opts.configDir);
  const explicit = opts.configDir !== undefined || file !== undefined || Boolean(process.env[CONFIG_DIR_ENV]);
  const dir = file
    ? path.dirname(file)
    : resolveConfigDir(opts.configDir ? { configDir: opts.configDir } : {});
  if (!explicit) moveLegacyConfig(dir, log);
  const store = file ? new ConfigStore(dir, path.basename(file)) : new ConfigStore(dir);
  return { store, log, shipper, out: (line) => process.stdout.write(`${line}\n`) };
}

/**
 * `--config <file>` (the original's global flag, which its tray and scripts pass): the file's folder
 * is the config folder. With `--config-dir` too, both must name the same folder.
 */
function configFileOption(value: string, configDir: string | undefined): string {
  if (value.trim() === '')
    throw new UserError(
      '--config needs the path of a config file, e.g. --config ~/.config/minis-studio-worker/config.toml',
    );
  const file = path.resolve(expandHome(value));
  if (configDir !== undefined && path.resolve(expandHome(configDir)) !== path.dirname(file)) {
    throw new UserError(
      `--config ${value} and --config-dir ${configDir} name different folders; give one of them`,
    );
  }
  return file;
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
