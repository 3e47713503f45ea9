/** What the server sends: a growing partial, the one final, or an error. */
export type ServerFrame =
  { kind: 'partial'; text: string } | { kind: 'final'; text: string } | { kind: 'error'; message: string };

/** The JSON a frame goes out as: `{"partial":true,"text"}`, `{"final":true,"text"}`, `{"error"}`. */
export function toWire(frame: ServerFrame): Record<string, unknown> {
  switch (frame.kind) {
    case 'partial':
      return { partial: true, text: frame.text };
    case 'final':
      return { final: true, text: frame.text };
    case 'error':
      return { error: frame.message };
  }
}

/** A frame's text message, exactly as it goes on the socket. */
export function wireText(frame: ServerFrame): string {
  return JSON.stringify(toWire(frame));
}

/** The client's text commands. */
export type ClientCommand = 'end' | 'cancel';

/** `end` or `cancel` (surrounding whitespace allowed, case-sensitive); undefined for anything else. */
export function parseClientText(text: string): ClientCommand | undefined {
  const trimmed = text.trim();
  return trimmed === 'end' || trimmed === 'cancel' ? trimmed : undefined;
}

// Characters Rust's `{:?}` writes as `\u{..}`: controls, format characters, surrogates, private use,
// unassigned, separators other than the plain space, and combining marks.
const RUST_ESCAPED = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}\p{Grapheme_Extend}]/u;
const RUST_SHORT_ESCAPES: Record<string, string> = {
  '\t': '\\t',
  '\r': '\\r',
  '\n': '\\n',
  '\\': '\\\\',
  '"': '\\"',
  '\0': '\\0',
};

/**
 * `text` quoted as Rust's Debug format quotes a string, so the unknown-frame error reads as the
 * original's did: double quotes, `\"`, `\\`, `\n`-style escapes and `\u{hex}` for the unprintable.
 */
export function rustDebugQuote(text: string): string {
  let out = '"';
  for (const char of text) {
    const short = RUST_SHORT_ESCAPES[char];
    if (short !== undefined) out += short;
    else if (char !== ' ' && RUST_ESCAPED.test(char)) out += `\\u{${char.codePointAt(0)!.toString(16)}}`;
    else out += char;
  }
  return `${out}"`;
}

/** The reply to a text frame that is neither `end` nor `cancel`; the session carries on after it. */
export function unknownFrameMessage(text: string): string {
  return `unknown frame ${rustDebugQuote(text)}; send audio, end or cancel`;
}
