/** Installing a prebuilt stable-diffusion.cpp into `<models_root>/bin/` (the original's sd_provision). */
export {
  SdCppInstaller,
  detectSdHost,
  exeName,
  INSTALL_MARKER,
  type SdInstallRecord,
  type SdCppInstallerOptions,
} from './installer.js';
export {
  chooseAssets,
  parseRelease,
  releaseApiUrl,
  shaOfTag,
  platformProblem,
  PINNED_SDCPP_RELEASE,
  SDCPP_API_ENV,
  SDCPP_RELEASE_ENV,
  SDCPP_SHA256_ENV,
  SDCPP_URL_ENV,
  type ReleaseAsset,
  type SdBackend,
  type SdHost,
  type SdInstallPlan,
} from './release.js';
export { extractFlat, type ExtractedArchive } from './extract.js';
export { vulkanLoaderPresent, vulkanMissingMessage, vulkanRemedy } from './vulkan.js';
