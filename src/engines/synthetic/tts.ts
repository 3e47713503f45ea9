import type { AudioTtsTask } from '../../protocol/index.js';
import { encodeWavPcm16 } from '../../results/index.js';
import { throwIfAborted } from '../abort.js';
import { EngineError, type EngineResult, type EngineRunContext } from '../types.js';
import { HashRng } from './rng.js';

export const TTS_SAMPLE_RATE = 22050;
const SECONDS_PER_CHAR = 0.07;
const MIN_SECONDS = 0.3;
const MAX_SECONDS = 60;
/** Ramps at every tone edge keep the steps between pitches from clicking. */
const FADE_SECONDS = 0.005;
const AMPLITUDE = 0.3 * 32767;

/** Duration the synthetic voice takes for `text` at `speed`. */
export function ttsDurationSec(text: string, speed = 1): number {
  return Math.min(MAX_SECONDS, Math.max(MIN_SECONDS, (SECONDS_PER_CHAR * text.length) / speed));
}

/**
 * "Speech" as a 16-bit mono 22050 Hz WAV: one tone per character (silence for whitespace), each
 * pitch drawn from the hash of text, voice and language, so different text sounds different.
 */
export function runTts(task: AudioTtsTask, ctx: EngineRunContext): Promise<EngineResult> {
  if (task.ext !== 'wav') throw new EngineError(`synthetic tts writes wav only, not "${task.ext}"`, false);
  throwIfAborted(ctx.signal);
  const rng = new HashRng('audio_tts', task.text, task.voice, task.language);
  const total = Math.round(ttsDurationSec(task.text, task.speed) * TTS_SAMPLE_RATE);
  const samples = new Int16Array(total);
  const chars = Array.from(task.text);
  const slots = Math.max(1, chars.length);
  const base = rng.range(110, 260);
  const fade = Math.round(FADE_SECONDS * TTS_SAMPLE_RATE);

  for (let slot = 0; slot < slots; slot++) {
    const from = Math.floor((total * slot) / slots);
    const to = Math.floor((total * (slot + 1)) / slots);
    const char = chars[slot] ?? 'a';
    const pitch = base * rng.range(1, 2.5);
    if (/\s/.test(char)) continue;
    for (let i = from; i < to; i++) {
      const t = (i - from) / TTS_SAMPLE_RATE;
      const edge = Math.min(1, (i - from) / fade, (to - 1 - i) / fade);
      const wave = Math.sin(2 * Math.PI * pitch * t) + 0.3 * Math.sin(4 * Math.PI * pitch * t);
      samples[i] = Math.round((AMPLITUDE / 1.3) * Math.max(0, edge) * wave);
    }
  }
  throwIfAborted(ctx.signal);
  return Promise.resolve({ type: 'bytes', ext: 'wav', data: encodeWavPcm16(samples, TTS_SAMPLE_RATE, 1) });
}
