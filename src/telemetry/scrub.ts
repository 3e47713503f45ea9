export const REDACTED = '[redacted]';

/** Keys whose values are credentials, compared without case, `_` or `-`. */
const SECRET_KEYS = new Set([
  'authtoken',
  'token',
  'accesstoken',
  'refreshtoken',
  'registrationsecret',
  'secret',
  'password',
  'authorization',
  'cookie',
  'cookies',
  'setcookie',
  'apikey',
]);
/** Keys whose values are what an end user asked for: never leaves the machine. */
const PROMPT_KEYS = new Set(['prompt', 'negativeprompt', 'text', 'messages', 'content', 'system', 'input']);

const normalize = (key: string): string => key.toLowerCase().replace(/[-_]/g, '');
const PROMPT_JSON =
  /("(?:prompt|negativePrompt|negative_prompt|text|content|system)"\s*:\s*)"(?:[^"\\]|\\.)*"/g;
const PROMPT_FLAG = /(--(?:negative-)?prompt)(=|\s+)("[^"]*"|'[^']*'|\S+)/g;
const BEARER = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi;
const MAX_DEPTH = 12;

/**
 * Removes credentials and prompt text from anything bound for Sentry: values under secret or prompt
 * keys, registered secret strings wherever they appear, bearer tokens, and prompts quoted in error
 * messages (as JSON fields or as `--prompt` arguments of a command line).
 */
export class TelemetryScrubber {
  #secrets: string[] = [];

  /** Secrets shorter than 8 characters are ignored, as in the logger. */
  add(value: string | undefined): void {
    if (typeof value !== 'string' || value.length < 8 || this.#secrets.includes(value)) return;
    this.#secrets = [...this.#secrets, value].sort((a, b) => b.length - a.length);
  }

  text(value: string): string {
    let out = value;
    for (const secret of this.#secrets) if (out.includes(secret)) out = out.split(secret).join(REDACTED);
    return out
      .replace(BEARER, `$1 ${REDACTED}`)
      .replace(PROMPT_JSON, `$1"${REDACTED}"`)
      .replace(PROMPT_FLAG, `$1$2${REDACTED}`);
  }

  /** A scrubbed deep copy; keys are kept so an event still shows that something was there. */
  value<T>(value: T, depth = 0): T {
    if (typeof value === 'string') return this.text(value) as T;
    if (value === null || typeof value !== 'object') return value;
    if (depth > MAX_DEPTH) return REDACTED as T; // unscrubbed is worse than lost
    if (Array.isArray(value)) return value.map((v: unknown) => this.value(v, depth + 1)) as T;
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
      const k = normalize(key);
      out[key] = SECRET_KEYS.has(k) || PROMPT_KEYS.has(k) ? REDACTED : this.value(v, depth + 1);
    }
    return out as T;
  }
}
