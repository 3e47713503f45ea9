/** Secrets shorter than this are ignored: redacting every "abc" would mangle the logs for nothing. */
export const MIN_SECRET_LENGTH = 8;
export const REDACTED = '[redacted]';

/**
 * Replaces known secret values anywhere in a serialized log line, message text included. Free when
 * no secret is known; otherwise one `includes` per secret form, and the last line is memoized because
 * every stream of the multistream is handed the same string.
 */
export class SecretScrubber {
  /** Raw and JSON-escaped forms, longest first so a secret containing another is replaced whole. */
  #forms: string[] = [];
  #lastIn: string | undefined;
  #lastOut = '';

  add(value: string): void {
    if (typeof value !== 'string' || value.length < MIN_SECRET_LENGTH) return;
    const escaped = JSON.stringify(value).slice(1, -1);
    const forms = new Set([...this.#forms, value, escaped]);
    this.#forms = [...forms].sort((a, b) => b.length - a.length);
    this.#lastIn = undefined;
  }

  get size(): number {
    return this.#forms.length;
  }

  scrub(line: string): string {
    if (this.#forms.length === 0) return line;
    if (line === this.#lastIn) return this.#lastOut;
    let out = line;
    for (const form of this.#forms) {
      if (out.includes(form)) out = out.split(form).join(REDACTED);
    }
    this.#lastIn = line;
    this.#lastOut = out;
    return out;
  }
}
