import { deflateSync } from 'node:zlib';

/** A span of text with times in seconds, as a backend reports it. */
export interface TimedText {
  text: string;
  start: number;
  end: number;
  /** Per-token log probabilities, where the backend exposes them (sherpa-onnx sometimes does). */
  logProbs?: number[];
}

export interface WhisperWord {
  word: string;
  start: number;
  end: number;
}

/** One segment of OpenAI whisper's `verbose_json`. */
export interface WhisperSegment {
  id: number;
  seek: number;
  start: number;
  end: number;
  text: string;
  tokens: number[];
  temperature: number;
  /** null where the backend does not expose it (whisper.cpp through its Node binding never does). */
  avg_logprob: number | null;
  compression_ratio: number;
  /** null: neither backend exposes it. */
  no_speech_prob: number | null;
  words?: WhisperWord[];
}

export interface WhisperTranscript {
  task: 'transcribe' | 'translate';
  language: string;
  duration: number;
  text: string;
  segments: WhisperSegment[];
}

/** A new segment starts after a word ending a sentence, or after this much silence. */
const SEGMENT_GAP_SEC = 1;
const MAX_WORDS_PER_SEGMENT = 40;

const round = (n: number): number => Math.round(n * 1000) / 1000;

/** Whisper's measure of repetitiveness: UTF-8 length over its zlib-compressed length. */
export function compressionRatio(text: string): number {
  const bytes = Buffer.from(text, 'utf8');
  return bytes.length === 0 ? 0 : round(bytes.length / deflateSync(bytes).length);
}

function segment(id: number, span: TimedText, words?: WhisperWord[]): WhisperSegment {
  const probs = span.logProbs ?? [];
  return {
    id,
    seek: Math.round(span.start * 100),
    start: round(span.start),
    end: round(Math.max(span.start, span.end)),
    text: span.text,
    tokens: [],
    temperature: 0,
    avg_logprob: probs.length > 0 ? round(probs.reduce((a, b) => a + b, 0) / probs.length) : null,
    compression_ratio: compressionRatio(span.text),
    no_speech_prob: null,
    ...(words ? { words } : {}),
  };
}

/** Segments from spans, dropping those with no text (silence, a chunk with nothing said). */
export function segmentsFromSpans(spans: TimedText[]): WhisperSegment[] {
  return spans.filter((s) => s.text.trim() !== '').map((s, id) => segment(id, s));
}

/**
 * Words from whisper.cpp's one-token segments (`max_len` 1 with token timestamps): a token that
 * starts with a space starts a word, any other continues the word before it — whisper's own rule
 * for splitting on words.
 */
export function wordsFromTokens(tokens: TimedText[]): WhisperWord[] {
  const words: WhisperWord[] = [];
  for (const token of tokens) {
    if (token.text === '') continue;
    const last = words.at(-1);
    if (last && !token.text.startsWith(' ')) {
      last.word += token.text;
      last.end = round(Math.max(last.end, token.end));
    } else {
      words.push({
        word: token.text,
        start: round(token.start),
        end: round(Math.max(token.start, token.end)),
      });
    }
  }
  return words.filter((w) => w.word.trim() !== '');
}

/** Words grouped into segments at sentence ends and pauses, each segment carrying its words. */
export function segmentsFromWords(words: WhisperWord[]): WhisperSegment[] {
  const groups: WhisperWord[][] = [];
  let current: WhisperWord[] = [];
  for (const word of words) {
    const prev = current.at(-1);
    const pause = prev !== undefined && word.start - prev.end > SEGMENT_GAP_SEC;
    if (prev && (pause || current.length >= MAX_WORDS_PER_SEGMENT)) {
      groups.push(current);
      current = [];
    }
    current.push(word);
    if (/[.!?。！？]["')\]]*$/.test(word.word.trim())) {
      groups.push(current);
      current = [];
    }
  }
  if (current.length > 0) groups.push(current);
  return groups.map((group, id) => {
    const first = group[0];
    const last = group.at(-1);
    const span = { text: group.map((w) => w.word).join(''), start: first?.start ?? 0, end: last?.end ?? 0 };
    return segment(id, span, group);
  });
}

/** The transcript, with times clamped to the audio (whisper's last timestamp can overshoot it). */
export function transcript(
  segments: WhisperSegment[],
  opts: { translate: boolean; language: string; duration: number },
): WhisperTranscript {
  const clamp = (t: number): number => round(Math.min(t, opts.duration));
  for (const s of segments) {
    s.start = clamp(s.start);
    s.end = clamp(s.end);
    for (const w of s.words ?? []) {
      w.start = clamp(w.start);
      w.end = clamp(w.end);
    }
  }
  return {
    task: opts.translate ? 'translate' : 'transcribe',
    language: opts.language,
    duration: round(opts.duration),
    text: segments
      .map((s) => s.text)
      .join('')
      .trim(),
    segments,
  };
}
