import { join } from 'node:path';
import type { VideoTask } from '../../protocol/index.js';
import { EngineError, type EngineResult, type EngineRunContext } from '../types.js';
import { feedFfmpeg } from './ffmpeg.js';
import { checkSize } from './image.js';
import { HashRng } from './rng.js';
import { makeScene, renderSceneRgb } from './scene.js';

const DEFAULT_FPS = 8;
/** Ten minutes at 30 fps; a synthetic job asking for more is a mistake. */
const MAX_FRAMES = 18_000;

/** ffmpeg output arguments per container; `yuv420p` is what players expect of H.264/VP9. */
const OUTPUT_ARGS: Readonly<Record<string, string[]>> = {
  mp4: [
    '-c:v',
    'libx264',
    '-preset',
    'veryfast',
    '-pix_fmt',
    'yuv420p',
    '-movflags',
    '+faststart',
    '-f',
    'mp4',
  ],
  webm: [
    '-c:v',
    'libvpx-vp9',
    '-deadline',
    'realtime',
    '-cpu-used',
    '8',
    '-b:v',
    '0',
    '-crf',
    '40',
    '-pix_fmt',
    'yuv420p',
    '-f',
    'webm',
  ],
  gif: ['-f', 'gif'],
  webp: ['-c:v', 'libwebp_anim', '-loop', '0', '-q:v', '75', '-f', 'webp'],
};

/**
 * Discs drifting over a gradient (from the hash of prompt and negative prompt), rendered frame by
 * frame with sharp and encoded by ffmpeg into `workDir/out.<ext>`.
 */
export async function runVideo(task: VideoTask, ctx: EngineRunContext): Promise<EngineResult> {
  const { ext } = task;
  const output = OUTPUT_ARGS[ext];
  if (!output)
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
  // yuv420p stores colour per 2×2 block, so H.264/VP9 need even sides: an odd side is rounded
  // down by one pixel (at least 2). GIF and WebP keep the exact size.
  const evenOnly = ext === 'mp4' || ext === 'webm';
  const width = evenOnly ? Math.max(2, task.width - (task.width % 2)) : task.width;
  const height = evenOnly ? Math.max(2, task.height - (task.height % 2)) : task.height;

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
    args: ['-hide_banner', '-loglevel', 'error', '-y', ...input, ...output, path],
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
