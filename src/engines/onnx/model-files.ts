import { basename } from 'node:path';
import type { ModelFile, ModelSource } from '../../protocol/index.js';
import type { ProvisionedModel } from '../types.js';

/**
 * What the files of a `modelSource` make, recognised by file name (the contract gives ONNX parts
 * no roles of their own):
 * - `whisper-cpp`: a ggml/gguf whisper file (`.bin` / `.gguf`), run by whisper.cpp;
 * - `sherpa-whisper`: `*encoder*.onnx` + `*decoder*.onnx` + `*tokens*.txt`, run by sherpa-onnx;
 * - `sherpa-tts`: one voice model `.onnx` + `tokens.txt`, with optional `lexicon*.txt`,
 *   `voices.bin` (Kokoro / Kitten), `*vocoder*.onnx` (Matcha) and `speakers.txt` (one name per line).
 */
export type SttLayout =
  | { backend: 'whisper-cpp'; model: ModelFile }
  | { backend: 'sherpa-whisper'; encoder: ModelFile; decoder: ModelFile; tokens: ModelFile };

export interface TtsLayout {
  family: 'vits' | 'kokoro' | 'matcha';
  model: ModelFile;
  tokens: ModelFile;
  vocoder?: ModelFile | undefined;
  voices?: ModelFile | undefined;
  lexicon?: ModelFile | undefined;
  speakers?: ModelFile | undefined;
}

const name = (f: ModelFile): string => basename(f.filename).toLowerCase();
const find = (files: ModelFile[], test: (n: string) => boolean): ModelFile | undefined =>
  files.find((f) => test(name(f)));

const listed = (source: ModelSource): string => source.files.map((f) => f.filename).join(', ') || 'no files';

/** The STT layout of `source`, or a sentence saying why it is not one. */
export function sttLayout(source: ModelSource): SttLayout | string {
  const ggml = find(source.files, (n) => n.endsWith('.bin') || n.endsWith('.gguf'));
  if (ggml) return { backend: 'whisper-cpp', model: ggml };
  const onnx = source.files.filter((f) => name(f).endsWith('.onnx'));
  const encoder = find(onnx, (n) => n.includes('encoder'));
  const decoder = find(onnx, (n) => n.includes('decoder'));
  const tokens = find(source.files, (n) => n.endsWith('.txt') && n.includes('tokens'));
  if (encoder && decoder && tokens) return { backend: 'sherpa-whisper', encoder, decoder, tokens };
  return (
    `onnx speech-to-text needs a whisper.cpp model (.bin/.gguf) or a whisper ONNX export ` +
    `(*encoder*.onnx, *decoder*.onnx, *tokens*.txt); the modelSource has ${listed(source)}`
  );
}

/** The TTS layout of `source`, or a sentence saying why it is not one. */
export function ttsLayout(source: ModelSource): TtsLayout | string {
  const onnx = source.files.filter((f) => name(f).endsWith('.onnx'));
  const vocoder = find(onnx, (n) => n.includes('vocoder') || n.includes('vocos') || n.includes('hifigan'));
  const model = onnx.find((f) => f !== vocoder);
  const tokens = find(source.files, (n) => n.endsWith('.txt') && n.includes('tokens'));
  if (!model || !tokens) {
    return `onnx text-to-speech needs a voice model .onnx and its tokens.txt; the modelSource has ${listed(source)}`;
  }
  const voices = find(source.files, (n) => n.endsWith('.bin') && n.includes('voices'));
  return {
    family: voices ? 'kokoro' : vocoder ? 'matcha' : 'vits',
    model,
    tokens,
    vocoder,
    voices,
    lexicon: find(source.files, (n) => n.endsWith('.txt') && n.includes('lexicon')),
    speakers: find(source.files, (n) => n.endsWith('.txt') && n.includes('speakers')),
  };
}

/** The inpainting model of `source` (its one `.onnx` file), or a sentence saying why there is none. */
export function inpaintLayout(source: ModelSource): ModelFile | string {
  const onnx = source.files.filter((f) => name(f).endsWith('.onnx'));
  if (onnx.length === 1 && onnx[0]) return onnx[0];
  return `onnx inpainting needs exactly one .onnx model (LaMa-style: inputs image and mask); the modelSource has ${listed(source)}`;
}

/** The cached path of `file`: its place among the files of its role, as `byRole` lists them. */
export function pathOf(source: ModelSource, model: ProvisionedModel, file: ModelFile): string {
  const sameRole = source.files.filter((f) => f.role === file.role);
  const path = model.byRole(file.role)[sameRole.indexOf(file)];
  if (path === undefined) throw new Error(`model file ${file.filename} was not provisioned`);
  return path;
}
