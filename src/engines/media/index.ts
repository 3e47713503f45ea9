export {
  BUNDLED_FFMPEG,
  VIDEO_EXTS,
  VIDEO_OUTPUT_ARGS,
  isVideoExt,
  runFfmpeg,
  videoSize,
  type VideoExt,
} from './ffmpeg.js';
export { feedFfmpeg, type FeedOptions } from './feed.js';
