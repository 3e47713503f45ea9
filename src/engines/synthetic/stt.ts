import { readFile } from 'node:fs/promises';
import type { AudioSttTask } from '../../protocol/index.js';
import { parseWav, type WavInfo } from '../../results/index.js';
import { toError } from '../../util/index.js';
import { throwIfAborted } from '../abort.js';
import { EngineError, type EngineResult, type EngineRunContext } from '../types.js';
import { downloadInput, MAX_INPUT_BYTES } from './download.js';
import { HashRng } from './rng.js';
import { pickWords } from './words.js';

/** Whisper emits roughly one segment per this many seconds of speech. */
const SECONDS_PER_SEGMENT = 2;

const round = (n: number, digits = 3): number => Number(n.toFixed(digits));

/**
 * Downloads the WAV at `inputUrl` and returns whisper's verbose JSON for it: the real duration,
 * one segment per ~2 s, words drawn from the hash of the audio bytes and the prompt.
 */
export async function runStt(task: AudioSttTask, ctx: EngineRunContext): Promise<EngineResult> {
  throwIfAborted(ctx.signal);
  // The worker's downloader when there is one (retries, redirects checked, the https rule and its
  // operator override); the engine's own small one when it runs alone.
  const audio = ctx.models
    ? await readFile(
        await ctx.models.fetchInput(task.inputUrl, ctx.workDir, ctx.signal, { maxBytes: MAX_INPUT_BYTES }),
      )
    : await downloadInput(task.inputUrl, ctx.signal);
  let wav: WavInfo;
  try {
    wav = parseWav(audio);
  } catch (e) {
    throw new EngineError(`input ${task.inputUrl} is not a usable WAV: ${toError(e).message}`, false, {
      cause: e,
    });
  }
  throwIfAborted(ctx.signal);

  const rng = new HashRng('audio_stt', audio, task.prompt);
  const duration = wav.durationSec;
  const count = duration > 0 ? Math.max(1, Math.round(duration / SECONDS_PER_SEGMENT)) : 0;
  const segments = Array.from({ length: count }, (_, id) => {
    const start = (duration * id) / count;
    const end = (duration * (id + 1)) / count;
    const words = pickWords(rng, rng.int(3, 8));
    const step = (end - start) / words.length;
    const segment = {
      id,
      seek: 0,
      start: round(start),
      end: round(end),
      text: ` ${words.join(' ')}`,
      tokens: [] as number[],
      temperature: 0,
      avg_logprob: round(rng.range(-0.6, -0.1)),
      compression_ratio: round(rng.range(1, 2)),
      no_speech_prob: round(rng.range(0.01, 0.2)),
    };
    if (task.timestamps !== 'word') return segment;
    const timed = words.map((word, i) => ({
      word: ` ${word}`,
      start: round(start + i * step),
      end: round(start + (i + 1) * step),
      probability: round(rng.range(0.6, 0.99)),
    }));
    return { ...segment, words: timed };
  });

  return {
    type: 'json',
    value: {
      task: task.translate ? 'translate' : 'transcribe',
      text: segments
        .map((s) => s.text)
        .join('')
        .trim(),
      language: task.language ?? 'en',
      duration: round(duration),
      segments,
    },
  };
}
