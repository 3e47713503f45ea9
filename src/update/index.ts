/**
 * Auto-update: read the release feed (GitHub Releases API shape, contract §7), install a newer
 * version verified by SHA-256 into its own npm prefix, re-execute the same arguments on it, and roll
 * back a version that dies on start. docs/releasing.md describes the release layout this expects.
 */
export {
  startAutoUpdater,
  type AutoUpdater,
  type AutoUpdaterOptions,
  type UpdateOutcome,
  type UpdaterLog,
} from './updater.js';
export { launchInstalledUpdate, type LaunchInstalledOptions } from './launch.js';
export { checkForUpdate, type CheckUpdateResult, type UpdateConfig } from './check.js';
export {
  selectUpdate,
  versionOf,
  packageAssetName,
  CHECKSUMS_ASSET,
  type Selection,
  type SelectOptions,
  type UpdateCandidate,
  type ReleaseAsset,
} from './select.js';
export { installRelease, installedVersion, type InstalledVersion, type InstallOptions } from './install.js';
export {
  superviseInstalled,
  RELAUNCH_EXIT_CODE,
  SUPERVISED_ENV,
  DEFAULT_START_WINDOW_MS,
  type Handoff,
  type SuperviseOptions,
} from './supervise.js';
export { readUpdateState, UPDATE_STATE_FILE, type UpdateState } from './state.js';
export { checksumFor } from './http.js';
export {
  UpdateError,
  ChecksumMismatchError,
  InstallNotWritableError,
  manualInstallCommand,
} from './errors.js';
