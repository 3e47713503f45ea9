import { toError } from '../util/index.js';
import type { Task } from '../protocol/index.js';
import { loadBytes } from './binary.js';
import { failed, formatBytes, type BinaryResult, type VerifyOutcome } from './types.js';
import { loadSharp } from '../util/index.js';

/** sharp's format name for each image extension we accept. */
const FORMAT_OF_EXT: Readonly<Record<string, string>> = {
  webp: 'webp',
  png: 'png',
  gif: 'gif',
  jpeg: 'jpeg',
  jpg: 'jpeg',
};

/** Decodes every pixel (not just the header) and checks format and size against the ext and task. */
export async function verifyImage(result: BinaryResult, task?: Task): Promise<VerifyOutcome> {
  const sharp = await loadSharp();
  const expected = FORMAT_OF_EXT[result.ext];
  if (!expected) return failed(`unsupported image ext "${result.ext}" (expected webp, png, gif or jpeg)`);
  const bytes = await loadBytes(result);
  let format: string | undefined;
  let width: number;
  let height: number;
  try {
    const meta = await sharp(bytes, { failOn: 'truncated' }).metadata();
    format = meta.format;
    // A header can be intact over truncated pixels; only a full decode shows it.
    const { info } = await sharp(bytes, { failOn: 'truncated' }).raw().toBuffer({ resolveWithObject: true });
    width = info.width;
    height = info.height;
  } catch (e) {
    return failed(`image does not decode: ${toError(e).message}`);
  }
  if (format !== expected)
    return failed(`image is ${format ?? 'of unknown format'}, but its ext says ${result.ext}`);
  if (task?.kind === 'image' && (task.width !== width || task.height !== height)) {
    return failed(`image is ${width}×${height}, but the task asked for ${task.width}×${task.height}`);
  }
  return {
    ok: true,
    summary: `${format} ${width}×${height}, ${formatBytes(bytes.length)}`,
    details: { format, width, height, bytes: bytes.length },
  };
}
