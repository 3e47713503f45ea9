import type { Sharp } from 'sharp';
import type { ImageTask } from '../../protocol/index.js';
import { throwIfAborted } from '../abort.js';
import { EngineError, type EngineResult, type EngineRunContext } from '../types.js';
import { HashRng } from './rng.js';
import { makeScene, renderScene } from './scene.js';

/** Beyond this the synthetic engine is being misused (a real engine would run out of memory too). */
export const MAX_IMAGE_SIDE = 4096;

const ENCODERS = {
  webp: (s) => s.webp({ quality: 80, effort: 0 }),
  png: (s) => s.png(),
  gif: (s) => s.gif(),
  jpeg: (s) => s.jpeg({ quality: 85 }),
  jpg: (s) => s.jpeg({ quality: 85 }),
} satisfies Record<string, (s: Sharp) => Sharp>;

export function isImageExt(ext: string): ext is keyof typeof ENCODERS {
  return Object.hasOwn(ENCODERS, ext);
}

/** A picture that depends on prompt, negative prompt and seed, encoded to the task's ext. */
export async function runImage(task: ImageTask, ctx: EngineRunContext): Promise<EngineResult> {
  const { width, height, ext } = task;
  if (!isImageExt(ext)) {
    throw new EngineError(`synthetic image cannot write "${ext}" (it writes webp, png, gif or jpeg)`, false);
  }
  checkSize('image', width, height);
  throwIfAborted(ctx.signal);
  const scene = makeScene(new HashRng('image', task.prompt, task.negativePrompt, task.seed));
  const data = await ENCODERS[ext](await renderScene(scene, width, height)).toBuffer();
  throwIfAborted(ctx.signal);
  return { type: 'bytes', ext, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

export function checkSize(what: string, width: number, height: number): void {
  if (width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE) {
    throw new EngineError(
      `synthetic ${what} is capped at ${MAX_IMAGE_SIDE}×${MAX_IMAGE_SIDE}; ${width}×${height} was asked for`,
      false,
    );
  }
}
