/** SentencePiece's word marker (U+2581): a streaming model's pieces start a new word with it. */
export const WORD_MARKER = '\u2581';

/**
 * The transcript as plain text: the word marker becomes a space, then any run of Unicode whitespace
 * becomes one space and the ends are trimmed (the original's `split_whitespace` + `join(" ")`). The
 * session normalises the whole raw transcript each time, so a marker split across pieces still reads
 * as one space.
 */
export function normalise(raw: string): string {
  return raw
    .replaceAll(WORD_MARKER, ' ')
    .split(/\p{White_Space}+/u)
    .filter((word) => word !== '')
    .join(' ');
}
