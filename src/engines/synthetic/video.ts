import { join } from 'node:path';
import type { VideoTask } from '../../protocol/index.js';
import { EngineError, type EngineResult, type EngineRunContext } from '../types.js';
import { VIDEO_OUTPUT_ARGS, feedFfmpeg, isVideoExt, videoSize } from '../media/index.js';
import { checkSize } from './image.js';
import { HashRng } from './rng.js';
import { makeScene, renderSceneRgb } from './scene.js';

const DEFAULT_FPS = 8;
/** Ten minutes at 30 fps; a synthetic job asking for more is a mistake. */
const MAX_FRAMES = 18_000;

/**
 * Discs drifting over a gradient (from the hash of prompt and negative prompt), rendered frame by
 * frame with sharp and encoded by ffmpeg into `workDir/out.<ext>`.
 */
export async function runVideo(task: VideoTask, ctx: EngineRunContext): Promise<EngineResult> {
  const { ext } = task;
  if (!isVideoExt(ext))
    throw new EngineError(`synthetic video cannot write "${ext}" (it writes mp4, webm, gif or webp)`, false);
  checkSize('video', task.width, task.height);
  const fps = task.fps ?? DEFAULT_FPS;
  const frameCount = Math.max(1, Math.round(task.seconds * fps));
  if (frameCount > MAX_FRAMES) {
    throw new EngineError(
      `synthetic video is capped at ${MAX_FRAMES} frames; ${frameCount} were asked for`,
      false,
    );
  }
  const { width, height } = videoSize(ext, task.width, task.height);

  const scene = makeScene(new HashRng('video', task.prompt, task.negativePrompt));
  const path = join(ctx.workDir, `out.${ext}`);
  const input = [
    '-f',
    'rawvideo',
    '-pix_fmt',
    'rgb24',
    '-s',
    `${width}x${height}`,
    '-r',
    String(fps),
    '-i',
    'pipe:0',
  ];
  await feedFfmpeg({
    args: ['-hide_banner', '-loglevel', 'error', '-y', ...input, ...VIDEO_OUTPUT_ARGS[ext], path],
    frameCount,
    signal: ctx.signal,
    log: ctx.log,
    renderFrame: async (i) => {
      const raw = renderSceneRgb(scene, width, height, i / Math.max(frameCount, fps * 2));
      return Promise.resolve(new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength));
    },
    onFrame: (i) =>
      ctx.onProgress?.({ fraction: (i + 1) / frameCount, message: `frame ${i + 1}/${frameCount}` }),
  });
  return { type: 'file', ext, path };
}
