/**
 * The worker's config.toml: raw TOML → validated (every problem, with file, line and key) → a
 * resolved WorkerConfig with every default. See README.md for how to add a field.
 */
export type { WorkerConfig } from './types.js';
export { SECRET_KEYS } from './types.js';
export { DEFAULT_CONFIG, expandHome } from './defaults.js';
export {
  resolveConfigDir,
  defaultConfigDir,
  legacyConfigDirs,
  migrateLegacyConfigDir,
  CONFIG_DIR_ENV,
  type ConfigMove,
  type ResolveConfigDirOptions,
} from './paths.js';
export { ConfigError, type ConfigProblem } from './errors.js';
export { ConfigStore, CONFIG_FILE } from './store.js';
export { ResidencyStore, RESIDENCY_FILE } from './residency.js';
export { configForDisplay, MASK } from './display.js';
export { RawConfigSchema } from './parse.js';
export { FIELDS, type FieldSpec } from './fields.js';
