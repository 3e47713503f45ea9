import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AudioTtsTask, ModelSource } from '../../protocol/index.js';
import { throwIfAborted } from '../abort.js';
import { EngineError, type EngineResult, type EngineRunContext, type ProvisionedModel } from '../types.js';
import { runChild } from './child.js';
import { runFfmpeg } from '../media/index.js';
import { pathOf, ttsLayout, type TtsLayout } from './model-files.js';
import { withModel, type OnnxSettings } from './settings.js';
import { missing } from './stt.js';

/** ffmpeg encoders for the audio formats besides WAV a job may ask for. */
const ENCODE_ARGS: Readonly<Record<string, string[]>> = {
  mp3: ['-c:a', 'libmp3lame', '-q:a', '4', '-f', 'mp3'],
  ogg: ['-c:a', 'libvorbis', '-q:a', '5', '-f', 'ogg'],
  opus: ['-c:a', 'libopus', '-b:a', '48k', '-f', 'opus'],
  flac: ['-c:a', 'flac', '-f', 'flac'],
  m4a: ['-c:a', 'aac', '-b:a', '96k', '-f', 'ipod'],
  webm: ['-c:a', 'libopus', '-b:a', '48k', '-f', 'webm'],
};

export const TTS_EXTS = ['wav', ...Object.keys(ENCODE_ARGS)];

/**
 * Text to speech with an ONNX voice (VITS/Piper, Kokoro, Matcha) through sherpa-onnx in a child
 * process: a WAV, encoded by ffmpeg when another format is asked for.
 */
export async function runTts(
  task: AudioTtsTask,
  source: ModelSource,
  ctx: EngineRunContext,
  settings: OnnxSettings,
): Promise<EngineResult> {
  if (task.ext !== 'wav' && !ENCODE_ARGS[task.ext]) {
    throw new EngineError(
      `onnx text-to-speech cannot write "${task.ext}" (it writes ${TTS_EXTS.join(', ')})`,
      false,
    );
  }
  if (task.text.trim() === '') throw new EngineError('there is no text to speak', false);
  const layout = ttsLayout(source);
  if (typeof layout === 'string') throw new EngineError(layout, false);
  if (!settings.sherpaOnnx) throw new EngineError(missing('sherpa-onnx-node'), false);
  const modulePath = settings.sherpaOnnx;
  throwIfAborted(ctx.signal);
  return withModel(source, ctx, async (model, log) => {
    const wav = join(ctx.workDir, 'speech.wav');
    await runChild({
      request: {
        op: 'sherpa-tts',
        modulePath,
        modelPath: pathOf(source, model, layout.model),
        config: ttsConfig(layout, source, model, settings, task.language),
        text: task.text,
        sid: await speakerId(task.voice, layout, source, model),
        speed: task.speed ?? 1,
        out: wav,
      },
      signal: ctx.signal,
      log,
      onProgress: (fraction) => ctx.onProgress?.({ fraction, message: 'speaking' }),
    });
    const encode = ENCODE_ARGS[task.ext];
    if (!encode) return { type: 'file', ext: 'wav', path: wav };
    const out = join(ctx.workDir, `speech.${task.ext}`);
    await runFfmpeg(settings.ffmpegPath, ['-i', wav, ...encode, out], ctx.signal, log);
    return { type: 'file', ext: task.ext, path: out };
  });
}

function ttsConfig(
  layout: TtsLayout,
  source: ModelSource,
  model: ProvisionedModel,
  settings: OnnxSettings,
  language: string | undefined,
): Record<string, unknown> {
  const at = (file: TtsLayout['model'] | undefined): string | undefined =>
    file && pathOf(source, model, file);
  const lexicon = at(layout.lexicon);
  // Voices without a lexicon phonemize through espeak-ng, which needs its data folder.
  const dataDir = lexicon ? undefined : settings.espeakDataDir;
  const common = {
    tokens: at(layout.tokens),
    ...(lexicon ? { lexicon } : {}),
    ...(dataDir ? { dataDir } : {}),
  };
  const family =
    layout.family === 'kokoro'
      ? {
          kokoro: {
            model: at(layout.model),
            voices: at(layout.voices),
            ...common,
            ...(language ? { lang: language } : {}),
          },
        }
      : layout.family === 'matcha'
        ? { matcha: { acousticModel: at(layout.model), vocoder: at(layout.vocoder), ...common } }
        : { vits: { model: at(layout.model), ...common } };
  return {
    model: { ...family, numThreads: settings.threads, provider: 'cpu', debug: 0 },
    maxNumSentences: 1,
  };
}

/**
 * The speaker id for `voice`: "default" is speaker 0, a number is that speaker, a name is looked
 * up in the model's `speakers.txt` (one name per line, line n = speaker n).
 */
async function speakerId(
  voice: string,
  layout: TtsLayout,
  source: ModelSource,
  model: ProvisionedModel,
): Promise<number> {
  if (voice === 'default' || voice === '') return 0;
  if (/^\d+$/.test(voice)) return Number(voice);
  if (!layout.speakers) {
    throw new EngineError(
      `voice "${voice}" is not a speaker id, and this model has no speakers.txt to name its voices`,
      false,
    );
  }
  const names = (await readFile(pathOf(source, model, layout.speakers), 'utf8'))
    .split(/\r?\n/)
    .map((line) => line.trim().toLowerCase());
  const id = names.indexOf(voice.trim().toLowerCase());
  if (id < 0)
    throw new EngineError(
      `voice "${voice}" is not among this model's speakers (${names.filter(Boolean).join(', ')})`,
      false,
    );
  return id;
}
