import type { AudioSttTask, ModelSource } from '../../protocol/index.js';
import { throwIfAborted } from '../abort.js';
import { EngineError, type EngineResult, type EngineRunContext } from '../types.js';
import { prepareAudio, WHISPER_RATE } from './audio.js';
import { runChild } from './child.js';
import { pathOf, sttLayout } from './model-files.js';
import { withModel, type OnnxSettings } from './settings.js';
import {
  segmentsFromSpans,
  segmentsFromWords,
  transcript,
  wordsFromTokens,
  type TimedText,
  type WhisperSegment,
} from './transcript.js';

/** sherpa-onnx's whisper decodes at most one 30 s window per stream. */
const SHERPA_CHUNK_SEC = 30;

interface CppOutput {
  language?: string;
  segments: { text: string; t0: number; t1: number }[];
}
interface SherpaOutput {
  language?: string;
  chunks: TimedText[];
}

/**
 * Speech to whisper's `verbose_json`: the input is downloaded, resampled to 16 kHz mono, and
 * transcribed by whisper.cpp (ggml/gguf models) or sherpa-onnx (whisper ONNX exports) in a child
 * process.
 */
export async function runStt(
  task: AudioSttTask,
  source: ModelSource,
  ctx: EngineRunContext,
  settings: OnnxSettings,
): Promise<EngineResult> {
  const layout = sttLayout(source);
  if (typeof layout === 'string') throw new EngineError(layout, false);
  throwIfAborted(ctx.signal);
  return withModel(source, ctx, async (model, log) => {
    if (!ctx.models) throw new EngineError('no model provisioning', false);
    const input = await ctx.models.fetchInput(task.inputUrl, ctx.workDir, ctx.signal);
    const audio = await prepareAudio(input, ctx.workDir, settings.ffmpegPath, ctx.signal, log);
    const onProgress = (fraction: number): void => ctx.onProgress?.({ fraction, message: 'transcribing' });
    const words = task.timestamps === 'word';
    let segments: WhisperSegment[];
    let detected: string | undefined;

    if (layout.backend === 'whisper-cpp') {
      if (!settings.whisperCpp) throw new EngineError(missing('@fugood/whisper.node'), false);
      const modelPath = pathOf(source, model, layout.model);
      const out = (await runChild({
        request: {
          op: 'whisper-cpp',
          modulePath: settings.whisperCpp,
          model: modelPath,
          audio: audio.path,
          useGpu: settings.useGpu,
          variant: settings.whisperVariant,
          options: {
            language: task.language ?? 'auto',
            translate: task.translate ?? false,
            ...(task.prompt ? { prompt: task.prompt } : {}),
            maxThreads: settings.threads,
            temperature: 0,
            // One token per segment with its own times; transcript.ts joins them back into words.
            ...(words ? { tokenTimestamps: true, maxLen: 1 } : {}),
          },
        },
        signal: ctx.signal,
        log,
        onProgress,
      })) as CppOutput;
      detected = out.language;
      const spans = out.segments.map((s) => ({ text: s.text, start: s.t0 / 1000, end: s.t1 / 1000 }));
      segments = words ? segmentsFromWords(wordsFromTokens(spans)) : segmentsFromSpans(spans);
    } else {
      if (!settings.sherpaOnnx) throw new EngineError(missing('sherpa-onnx-node'), false);
      if (words) throw new EngineError(WORDS_NEED_CPP, false);
      if (task.prompt) log.info('sherpa-onnx whisper has no initial prompt; the prompt is not used');
      const out = (await runChild({
        request: {
          op: 'sherpa-stt',
          modulePath: settings.sherpaOnnx,
          audio: audio.path,
          chunkSeconds: SHERPA_CHUNK_SEC,
          config: {
            featConfig: { sampleRate: WHISPER_RATE, featureDim: 80 },
            modelConfig: {
              whisper: {
                encoder: pathOf(source, model, layout.encoder),
                decoder: pathOf(source, model, layout.decoder),
                language: task.language ?? '',
                task: task.translate ? 'translate' : 'transcribe',
                tailPaddings: -1,
              },
              tokens: pathOf(source, model, layout.tokens),
              numThreads: settings.threads,
              provider: 'cpu',
              debug: 0,
            },
          },
        },
        signal: ctx.signal,
        log,
        onProgress,
      })) as SherpaOutput;
      detected = out.language;
      segments = segmentsFromSpans(out.chunks);
    }
    return {
      type: 'json',
      value: transcript(segments, {
        translate: task.translate ?? false,
        language: task.language ?? detected ?? 'und',
        duration: audio.durationSec,
      }),
    };
  });
}

export const WORDS_NEED_CPP =
  'word timestamps need a whisper.cpp model (.bin/.gguf); sherpa-onnx whisper gives no token times';

export const missing = (pkg: string): string =>
  `the onnx engine needs ${pkg} for this model, and it is not installed (npm install ${pkg})`;
