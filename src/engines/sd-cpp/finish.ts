import { join } from 'node:path';
import type { ImageTask, VideoTask } from '../../protocol/index.js';
import { throwIfAborted } from '../abort.js';
import { EngineError, type EngineResult, type EngineRunContext } from '../types.js';
import { DEFAULT_VIDEO_FPS } from './args.js';
import { encodeFrames } from './encode-video.js';
import { convertImage, isImageExt, isVideoExt, listFrames, IMAGE_EXTS, VIDEO_EXTS } from './output.js';

// From what sd.cpp wrote to the job's result: the image in the format and size asked for, or the
// frames encoded as the video asked for.

/** sd-cli writes video frames as `frame_00000.png`, … */
export const FRAME_PREFIX = 'frame_';

/** Refuses, before anything runs, a format the engine cannot write. */
export function checkExt(task: ImageTask | VideoTask): void {
  if (task.kind === 'image' && !isImageExt(task.ext)) {
    throw new EngineError(
      `sd-cpp cannot write "${task.ext}" images (it writes ${IMAGE_EXTS.join(', ')})`,
      false,
    );
  }
  if (task.kind === 'video' && !isVideoExt(task.ext)) {
    throw new EngineError(
      `sd-cpp cannot write "${task.ext}" video (it writes ${VIDEO_EXTS.join(', ')})`,
      false,
    );
  }
}

export async function finishImage(
  task: ImageTask,
  png: string,
  ctx: EngineRunContext,
): Promise<EngineResult> {
  if (!isImageExt(task.ext)) throw new EngineError(`unsupported image ext ${task.ext}`, false);
  const data = await convertImage(png, task.ext, task.width, task.height, ctx.log);
  throwIfAborted(ctx.signal);
  return { type: 'bytes', ext: task.ext, data };
}

export async function finishVideo(
  task: VideoTask,
  framesDir: string,
  ctx: EngineRunContext,
): Promise<EngineResult> {
  if (!isVideoExt(task.ext)) throw new EngineError(`unsupported video ext ${task.ext}`, false);
  const { start, paths } = await listFrames(framesDir, FRAME_PREFIX);
  ctx.onProgress?.({ fraction: 1, message: `encoding ${paths.length} frames` });
  const path = join(ctx.workDir, `out.${task.ext}`);
  await encodeFrames({
    pattern: join(framesDir, `${FRAME_PREFIX}%05d.png`),
    startNumber: start,
    fps: task.fps ?? DEFAULT_VIDEO_FPS,
    ext: task.ext,
    width: task.width,
    height: task.height,
    output: path,
    signal: ctx.signal,
    log: ctx.log,
  });
  return { type: 'file', ext: task.ext, path };
}
