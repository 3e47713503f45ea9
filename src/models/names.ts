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
