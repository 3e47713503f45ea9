import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Metadata } from 'sharp';
import { toError } from '../../util/index.js';
import { EngineError } from '../types.js';
import { loadSharp } from '../../util/index.js';

/** Image extensions the engine writes (sd-cli itself writes PNG; sharp converts). */
export const IMAGE_EXTS = ['webp', 'png', 'jpeg', 'jpg'] as const;
/** Video extensions the engine writes from sd-cli's frames (ffmpeg encodes). */
export { VIDEO_EXTS, isVideoExt } from '../media/index.js';

export function isImageExt(ext: string): ext is (typeof IMAGE_EXTS)[number] {
  return (IMAGE_EXTS as readonly string[]).includes(ext);
}

/**
 * sd-cli's PNG, encoded as `ext` at exactly the size the task asked for. sd-cli may round a size
 * to its latent grid; the picture is then resized back (cover), with a warning, because the
 * studio places assets by the size it asked for.
 */
export async function convertImage(
  png: string,
  ext: (typeof IMAGE_EXTS)[number],
  width: number,
  height: number,
  log: Logger,
): Promise<Uint8Array> {
  const sharp = await loadSharp();
  let image = sharp(png, { failOn: 'truncated' });
  let meta: Metadata;
  try {
    meta = await image.metadata();
  } catch (e) {
    throw new EngineError(`sd-cli wrote no readable image at ${png}: ${toError(e).message}`, false);
  }
  if (meta.width !== width || meta.height !== height) {
    log.warn(
      { got: `${meta.width}×${meta.height}`, want: `${width}×${height}` },
      'sd-cli image resized to the task size',
    );
    image = image.resize(width, height, { fit: 'cover' });
  }
  const encoded =
    ext === 'webp' ? image.webp({ quality: 90 }) : ext === 'png' ? image.png() : image.jpeg({ quality: 90 });
  const data = await encoded.toBuffer();
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** The frames sd-cli wrote for a `frame_%05d.png` pattern, in order, with the first index. */
export async function listFrames(dir: string, prefix: string): Promise<{ paths: string[]; start: number }> {
  const pattern = new RegExp(`^${prefix}(\\d+)\\.png$`);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    throw new EngineError(`sd-cli wrote no frames (${toError(e).message})`, false);
  }
  const indexed = names
    .map((name) => ({ name, index: Number(pattern.exec(name)?.[1] ?? NaN) }))
    .filter((f) => Number.isInteger(f.index))
    .sort((a, b) => a.index - b.index);
  const first = indexed[0];
  if (!first) throw new EngineError(`sd-cli wrote no frames to ${dir}`, false);
  return { paths: indexed.map((f) => join(dir, f.name)), start: first.index };
}
