export { SdCppEngine, SD_SERVER_PROGRESS, type SdCppEngineOptions } from './engine.js';
export {
  buildSdCliArgs,
  imageInputArgs,
  DEFAULT_INIT_STRENGTH,
  textEncoderFlag,
  videoFrameCount,
  DEFAULT_VIDEO_FPS,
  type SdCliPaths,
  type SdFilesByRole,
} from './args.js';
export { SD_CLI_NOT_FOUND, SdCliLocator } from './binary.js';
export { parseProgressLine, LineSplitter, type SdProgressStep } from './progress.js';
