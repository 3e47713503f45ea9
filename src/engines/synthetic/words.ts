import type { HashRng } from './rng.js';

/** A small vocabulary the synthetic LLM and STT draw their words from. */
// prettier-ignore
export const VOCABULARY: readonly string[] = [
  'the', 'a', 'studio', 'worker', 'pixel', 'river', 'lantern', 'quiet', 'bright', 'forest', 'signal', 'engine',
  'castle', 'glass', 'ember', 'orbit', 'meadow', 'copper', 'whisper', 'thunder', 'velvet', 'harbor', 'spiral',
  'canvas', 'echo', 'marble', 'falcon', 'garden', 'silver', 'shadow', 'crystal', 'drift', 'north', 'golden',
  'tiny', 'ancient', 'swift', 'gentle', 'paints', 'builds', 'carries', 'follows', 'wanders', 'holds', 'sings',
  'under', 'over', 'beside', 'through', 'toward', 'and', 'with', 'of', 'in', 'across', 'every', 'morning',
  'story', 'map', 'sprite', 'level', 'tile', 'hero', 'cloud',
];

/** `n` words from the vocabulary. */
export function pickWords(rng: HashRng, n: number): string[] {
  return Array.from({ length: n }, () => rng.pick(VOCABULARY));
}

/** Words grouped into capitalised sentences of 5–9 words ending in a period; one word per token. */
export function sentences(rng: HashRng, n: number): string[] {
  const words = pickWords(rng, n);
  let sinceStart = 0;
  let sentenceLength = rng.int(5, 9);
  return words.map((word, i) => {
    const first = sinceStart === 0;
    sinceStart++;
    const last = sinceStart === sentenceLength || i === words.length - 1;
    if (last) {
      sinceStart = 0;
      sentenceLength = rng.int(5, 9);
    }
    const cased = first ? word.charAt(0).toUpperCase() + word.slice(1) : word;
    return last ? `${cased}.` : cased;
  });
}

/** Token counts are whitespace-separated word counts. */
export function countWords(text: string): number {
  const trimmed = text.trim();
  return trimmed === '' ? 0 : trimmed.split(/\s+/).length;
}
