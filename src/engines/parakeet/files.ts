import { basename } from 'node:path';
import type { ModelSource } from '../../protocol/index.js';
import type { ProvisionedModel } from '../types.js';

/**
 * A streaming transducer as sherpa-onnx loads it: `*encoder*.onnx`, `*decoder*.onnx`,
 * `*joiner*.onnx` and `tokens.txt` (sherpa-onnx's exports of NeMo's streaming models and its own
 * zipformers name them so). The original's parakeet-rs files (`decoder_joint.onnx`,
 * `tokenizer.model`/`.json`) are another export of the same models and do not load here.
 */
export interface StreamLayout {
  encoder: string;
  decoder: string;
  joiner: string;
  tokens: string;
}

/** The original's two families (parakeet.rs): samples per step at 16 kHz. */
export const NEMOTRON_CHUNK_SAMPLES = 8960;
export const EOU_CHUNK_SAMPLES = 2560;

/** Each file of the model with the path it was provisioned at, in the modelSource's order. */
export function provisionedFiles(
  source: ModelSource,
  model: ProvisionedModel,
): { filename: string; path: string }[] {
  const taken = new Map<string, number>();
  return source.files.map((f) => {
    const n = taken.get(f.role) ?? 0;
    taken.set(f.role, n + 1);
    return { filename: f.filename, path: model.byRole(f.role)[n] ?? '' };
  });
}

/** The transducer's parts among `files`, or a sentence saying which are missing. */
export function streamLayout(
  modelId: string,
  files: { filename: string; path: string }[],
): StreamLayout | string {
  const named = (test: (name: string) => boolean) =>
    files.find((f) => test(basename(f.filename).toLowerCase()))?.path;
  const onnx = (part: string) => named((n) => n.endsWith('.onnx') && n.includes(part));
  const encoder = onnx('encoder');
  const decoder = named((n) => n.endsWith('.onnx') && n.includes('decoder') && !n.includes('joint'));
  const joiner = onnx('joiner');
  const tokens = named((n) => n.endsWith('.txt') && n.includes('tokens'));
  if (encoder && decoder && joiner && tokens) return { encoder, decoder, joiner, tokens };
  const listed = files.map((f) => f.filename).join(', ') || 'no files';
  return (
    `${modelId}: a streaming speech model needs sherpa-onnx's transducer export ` +
    `(*encoder*.onnx, *decoder*.onnx, *joiner*.onnx, tokens.txt); it has ${listed}`
  );
}

/**
 * Samples per step, by family as the original steps them: Nemotron's 560 ms, else the EOU model's
 * 160 ms. sherpa-onnx takes audio of any length, so this sets how often partials can change.
 */
export function chunkSamplesFor(modelId: string, layout: StreamLayout): number {
  const names = [modelId, layout.encoder].join(' ').toLowerCase();
  return names.includes('nemotron') ? NEMOTRON_CHUNK_SAMPLES : EOU_CHUNK_SAMPLES;
}

/**
 * sherpa-onnx's OnlineRecognizer config: greedy search, so a transcript only grows (the session
 * sends what each step adds), and no endpointing, since the session finalises by its own VAD.
 */
export function recognizerConfig(layout: StreamLayout, threads: number): Record<string, unknown> {
  return {
    featConfig: { sampleRate: 16_000, featureDim: 80 },
    modelConfig: {
      transducer: { encoder: layout.encoder, decoder: layout.decoder, joiner: layout.joiner },
      tokens: layout.tokens,
      numThreads: threads,
      provider: 'cpu',
      debug: 0,
    },
    decodingMethod: 'greedy_search',
    enableEndpoint: 0,
  };
}
