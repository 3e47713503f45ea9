import { extname } from 'node:path';
import { UserError } from '../util/index.js';

/** Kinds whose result is a file in a format the task chooses (`ext`); llm and audio_stt answer JSON. */
const FILE_KINDS = new Set(['image', 'video', 'audio_tts']);

const same = (a: string, b: string): boolean =>
  a === b || (['jpg', 'jpeg'].includes(a) && ['jpg', 'jpeg'].includes(b));

/**
 * The result format for `generate`: the one `--ext` names, else the one `-o`'s extension names, so
 * `-o fox.png` writes PNG bytes, never WebP bytes under a .png name. A mismatch between the two is
 * refused plainly rather than guessed at.
 */
export function resultExt(
  kind: string,
  output: string | undefined,
  ext: string | undefined,
): string | undefined {
  if (!FILE_KINDS.has(kind) || output === undefined) return ext;
  const named = extname(output).slice(1).toLowerCase();
  if (named === '') return ext;
  if (ext === undefined) return named;
  if (!same(named, ext.toLowerCase()))
    throw new UserError(
      `-o ${output} names a .${named} file but --ext asks for ${ext}: drop one of them, or make them agree`,
    );
  return ext;
}
