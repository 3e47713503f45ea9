/**
 * Scripted stand-ins for a streaming speech model, as the original's test fakes are (session.rs's
 * `Scripted`, test_support.rs's `WordPerChunk`): they transcribe nothing, they say what the test
 * wrote for them, so a session's and the listener's behaviour can be checked to the character.
 * Also the original's audio helpers (`pcm`, `tone`).
 */
import type { Transcriber } from '../../src/stt-stream/index.js';

/** session.rs's fake: says `words[n]` on the n-th step ("" past the end), 100 ms chunks. */
export class Scripted implements Transcriber {
  readonly chunkSamples = 1600;
  resets = 0;
  next = 0;
  private readonly words: readonly string[];
  private readonly failAt: number | undefined;

  /** With `failAt`, that step fails with "cuda went away" (before it counts). */
  constructor(words: readonly string[], failAt?: number) {
    this.words = words;
    this.failAt = failAt;
  }

  step(_chunk: Float32Array): Promise<string> {
    if (this.failAt === this.next) return Promise.reject(new Error('cuda went away'));
    const word = this.words[this.next] ?? '';
    this.next += 1;
    return Promise.resolve(word);
  }

  reset(): Promise<void> {
    this.resets += 1;
    this.next = 0;
    return Promise.resolve();
  }
}

/** test_support.rs's fake: "▁w<n>" for each 100 ms chunk that is not all zeros, "" for silence. */
export class WordPerChunk implements Transcriber {
  readonly chunkSamples = 1600;
  words = 0;
  closed = false;

  step(chunk: Float32Array): Promise<string> {
    if (chunk.every((sample) => sample === 0)) return Promise.resolve('');
    this.words += 1;
    return Promise.resolve(`\u2581w${this.words}`);
  }

  reset(): Promise<void> {
    this.words = 0;
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

/** `ms` of 16 kHz s16le PCM alternating +level / -level (so its RMS is level/32768). */
export function pcm(ms: number, level: number): Buffer {
  const bytes = Buffer.alloc(ms * 16 * 2);
  for (let i = 0; i < ms * 16; i += 1) bytes.writeInt16LE(i % 2 === 0 ? level : -level, i * 2);
  return bytes;
}

/** `ms` of samples alternating +amplitude / -amplitude (so its RMS is the amplitude). */
export function tone(ms: number, amplitude: number): Float32Array {
  return Float32Array.from({ length: ms * 16 }, (_, i) => (i % 2 === 0 ? amplitude : -amplitude));
}
