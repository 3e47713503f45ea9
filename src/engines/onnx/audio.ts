import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { parseWav, type WavInfo } from '../../results/index.js';
import { EngineError } from '../types.js';
import { runFfmpeg } from '../media/index.js';

/** Whisper (both backends) hears 16 kHz mono. */
export const WHISPER_RATE = 16000;

export interface PreparedAudio {
  /** A 16 kHz mono 16-bit PCM WAV. */
  path: string;
  durationSec: number;
  /** Whether ffmpeg had to convert the input (false: it was already 16 kHz mono PCM16). */
  converted: boolean;
}

function tryParseWav(bytes: Uint8Array): WavInfo | undefined {
  try {
    return parseWav(bytes);
  } catch {
    return undefined;
  }
}

const isWhisperReady = (wav: WavInfo | undefined): wav is WavInfo =>
  wav !== undefined &&
  wav.audioFormat === 1 &&
  wav.sampleRate === WHISPER_RATE &&
  wav.channels === 1 &&
  wav.bitsPerSample === 16;

/**
 * Turns a downloaded input into what whisper reads: a 16 kHz mono PCM16 WAV is used as it is;
 * anything else ffmpeg decodes (other WAV layouts, mp3, ogg, webm, m4a…) is resampled to one.
 * Input ffmpeg cannot decode is the job's fault (non-retryable).
 */
export async function prepareAudio(
  input: string,
  workDir: string,
  ffmpegPath: string,
  signal: AbortSignal,
  log: Logger,
): Promise<PreparedAudio> {
  const original = tryParseWav(await readFile(input));
  if (isWhisperReady(original)) return { path: input, durationSec: original.durationSec, converted: false };
  const path = join(workDir, 'input-16k.wav');
  const args = [
    '-i',
    input,
    '-vn',
    '-ac',
    '1',
    '-ar',
    String(WHISPER_RATE),
    '-c:a',
    'pcm_s16le',
    '-f',
    'wav',
    path,
  ];
  try {
    await runFfmpeg(ffmpegPath, args, signal, log);
  } catch (e) {
    if (e instanceof EngineError && e.message.startsWith('ffmpeg exited'))
      throw new EngineError(`the input is not audio ffmpeg can decode: ${e.message}`, false);
    throw e;
  }
  const converted = tryParseWav(await readFile(path));
  if (!isWhisperReady(converted)) throw new EngineError('ffmpeg did not produce a 16 kHz mono WAV', false);
  log.debug(
    { from: original ?? 'not a WAV', durationSec: converted.durationSec },
    'input resampled to 16 kHz mono',
  );
  return { path, durationSec: converted.durationSec, converted: true };
}
