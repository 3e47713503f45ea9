import { EngineError } from '../engines/types.js';

/** Base names Windows reserves for devices, whatever the extension (`CON.gguf` opens the console). */
const WINDOWS_RESERVED = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])(\.|$)/i;
/** Characters Windows refuses in a file name, plus both separators. */
const FORBIDDEN_CHARS = /[<>:"|?*/\\]/;
// eslint-disable-next-line no-control-regex -- control characters (NUL included) are what we refuse
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;
const MAX_NAME_LENGTH = 255;

/**
 * Why `name` cannot be a file directly under the cache folder, or undefined when it can.
 * Checked before any I/O: a studio-supplied name must never reach outside the cache, collide with
 * the cache's own dot-files, or mean something special to Windows.
 */
export function filenameProblem(name: string): string | undefined {
  if (name.length === 0) return 'it is empty';
  if (name.length > MAX_NAME_LENGTH) return `it is longer than ${MAX_NAME_LENGTH} characters`;
  if (CONTROL_CHARS.test(name)) return 'it contains a NUL or control character';
  if (FORBIDDEN_CHARS.test(name))
    return 'it contains a path separator or a character Windows forbids (<>:"|?*)';
  if (name.includes('..')) return 'it contains ".."';
  if (name.startsWith('.')) return 'it starts with "." (hidden names are reserved for the cache itself)';
  if (/[. ]$/.test(name)) return 'it ends with a dot or a space (Windows would silently rename it)';
  if (WINDOWS_RESERVED.test(name)) return 'it is a reserved Windows device name';
  return undefined;
}

/** Throws a non-retryable EngineError when `name` is not a safe cache file name. */
export function assertSafeFilename(name: string): void {
  const problem = filenameProblem(name);
  if (problem) {
    throw new EngineError(`refusing model file name ${JSON.stringify(name)}: ${problem}`, false);
  }
}

/**
 * A safe local name for a job input, from the URL's last path segment: unsafe characters become
 * `_`, and anything still unusable falls back to `input`.
 */
export function inputFilename(url: URL): string {
  let base = url.pathname.split('/').pop() ?? '';
  try {
    base = decodeURIComponent(base);
  } catch {
    // A malformed escape is kept literally; the replacement below makes it safe anyway.
  }
  const cleaned = base
    // eslint-disable-next-line no-control-regex -- control characters are what we replace
    .replace(/[<>:"|?*/\\\u0000-\u001f\u007f]/g, '_')
    .replace(/^\.+/, '')
    .replace(/[. ]+$/, '')
    .slice(-100);
  return cleaned && !filenameProblem(cleaned) ? cleaned : 'input';
}

/**
 * The folder of a model's files under the cache root, from the model id, as the original names
 * it: every character but `A-Z a-z 0-9 . _ -` becomes `_`, an empty id is `_`, and a leading dot
 * becomes `_` (so no `..` and no hidden folder).
 */
export function modelDirName(model: string): string {
  const safe = model.replace(/[^A-Za-z0-9._-]/g, '_');
  if (safe === '') return '_';
  return safe.startsWith('.') ? `_${safe.slice(1)}` : safe;
}

/** The sha256 a file must have, lowercase and trimmed (the studio may send any case), if any. */
export function wantedSha256(file: { sha256?: string | undefined }): string | undefined {
  const want = file.sha256?.trim().toLowerCase();
  return want ? want : undefined;
}

/** A sha256 that is not 64 hex digits can never match: the model cannot be served as sent. */
export function assertUsableSha256(file: { filename: string; sha256?: string | undefined }): void {
  const want = wantedSha256(file);
  if (want !== undefined && !/^[0-9a-f]{64}$/.test(want)) {
    throw EngineError.cannotServe(
      `cannot serve model file ${JSON.stringify(file.filename)}: its sha256 ${JSON.stringify(file.sha256)} is not 64 hex digits`,
    );
  }
}
