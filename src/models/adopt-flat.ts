import { copyFile, link, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import type { ModelFile } from '../protocol/index.js';
import { wantedSha256 } from './names.js';
import { judgeCached, statOrUndefined } from './verify.js';

/**
 * Older caches (the original's before per-model folders, and this worker's before 0.5) keep
 * files directly under the root, and the original's llama engine under `llm/`, where two
 * models' files of one name collide. Such a file is reused for this model when the job names
 * its sha256 and the file has it, or, as the original does when the row has no sha256, when its
 * size is the declared `approxBytes` (or none is declared). It is linked (or copied) into the
 * model's folder, and stays where it is for any other model.
 */
export async function adoptFlatFile(
  root: string,
  file: ModelFile,
  dest: string,
  signal: AbortSignal,
  log: Logger,
): Promise<void> {
  if (await statOrUndefined(dest)) return;
  const want = wantedSha256(file);
  for (const flat of [join(root, file.filename), join(root, 'llm', file.filename)]) {
    const st = await statOrUndefined(flat);
    if (!st?.isFile()) continue;
    let why: string;
    if (want) {
      if ((await judgeCached(flat, file, undefined, signal)).kind !== 'verified') continue;
      why = 'its sha256 matches';
    } else if (file.approxBytes !== undefined && file.approxBytes !== st.size) {
      log.info(
        `not reusing ${flat} for ${dest}: it is ${st.size} bytes, the model's file ${file.approxBytes}`,
      );
      continue;
    } else {
      why =
        file.approxBytes === undefined
          ? 'same name; the model declares no sha256 or size, as the original reuses it'
          : 'same name and size; the model declares no sha256';
    }
    await mkdir(dirname(dest), { recursive: true });
    try {
      await link(flat, dest);
    } catch {
      await copyFile(flat, dest);
    }
    log.info(`reusing ${flat} for ${dest} (${why})`);
    return;
  }
}
