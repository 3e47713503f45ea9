import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';

import type { ImageTask, VideoTask } from '../../protocol/index.js';
import { toError } from '../../util/index.js';
import { EngineError, type ModelProvider } from '../types.js';
import type { SdCliPaths } from './args.js';
import { loadSharp } from '../../util/index.js';

/** Inputs past this are not pictures a studio sends; refuse before sharp decodes them. */
const MAX_INPUT_BYTES = 64 * 1024 * 1024;

type Role = 'init' | 'mask' | 'ref';

/**
 * Downloads the task's init / mask / reference images that sd-cli will use (each into its own folder of the job's
 * scratch space, so equal file names cannot collide) and re-encodes them as PNG, which every
 * sd-cli build reads: init and mask at the task's size (builds differ in whether they crop and
 * resize an input themselves, so it is done once here; the mask as one grey channel), the
 * reference as it came.
 */
export async function fetchInputs(
  task: ImageTask | VideoTask,
  models: ModelProvider,
  workDir: string,
  signal: AbortSignal,
): Promise<Omit<SdCliPaths, 'output'>> {
  const image = task.kind === 'image' ? task : undefined;
  // Only what sd-cli will be given (see `imageInputArgs`): a reference image makes the init image
  // unused, and a mask means nothing without one of the two.
  const ref = image?.refImageUrl || undefined;
  const init = ref ? undefined : task.initImageUrl || undefined;
  const mask = ref || init ? image?.maskUrl || undefined : undefined;
  const wanted: Array<[Role, string | undefined]> = [
    ['init', init],
    ['mask', mask],
    ['ref', ref],
  ];
  const paths: Omit<SdCliPaths, 'output'> = {};
  for (const [role, url] of wanted) {
    if (!url) continue;
    const dir = join(workDir, 'inputs', role);
    await mkdir(dir, { recursive: true });
    const downloaded = await models.fetchInput(url, dir, signal, { maxBytes: MAX_INPUT_BYTES });
    const png = join(workDir, 'inputs', `${role}.png`);
    await toPng(downloaded, png, role, task.width, task.height, url);
    if (role === 'init') paths.initImage = png;
    else if (role === 'mask') paths.mask = png;
    else paths.refImage = png;
  }
  return paths;
}

async function toPng(
  source: string,
  dest: string,
  role: Role,
  width: number,
  height: number,
  url: string,
): Promise<void> {
  const sharp = await loadSharp();
  try {
    let image = sharp(source, { failOn: 'truncated' }).rotate();
    if (role !== 'ref') image = image.resize(width, height, { fit: 'cover' });
    if (role === 'mask') image = image.removeAlpha().grayscale();
    await image.png().toFile(dest);
  } catch (e) {
    throw new EngineError(
      `the ${role} image ${url} is not a picture sharp can read: ${toError(e).message}`,
      false,
    );
  }
}
