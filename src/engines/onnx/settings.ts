import type { Logger } from 'pino';
import type { ModelSource } from '../../protocol/index.js';
import { EngineError, type EngineRunContext, type ProvisionedModel } from '../types.js';

/** whisper.cpp's builds in @fugood/whisper.node: CPU, Vulkan or CUDA. */
export type WhisperVariant = 'default' | 'vulkan' | 'cuda';

/** What the STT and TTS runners need from the engine's options, resolved. */
export interface OnnxSettings {
  /** Absolute module path of @fugood/whisper.node, or undefined when it is not installed. */
  whisperCpp: string | undefined;
  /** Absolute module path of sherpa-onnx-node, or undefined when it is not installed. */
  sherpaOnnx: string | undefined;
  /** Absolute module path of onnxruntime-node (image inpainting), or undefined when it is not installed. */
  onnxRuntime: string | undefined;
  ffmpegPath: string;
  useGpu: boolean;
  whisperVariant: WhisperVariant;
  threads: number;
  /** espeak-ng's data folder, for Piper/Kokoro voices shipped without a lexicon. */
  espeakDataDir: string | undefined;
}

/** Provisions the modelSource's files, runs `body`, and releases them whatever happens. */
export async function withModel<T>(
  source: ModelSource,
  ctx: EngineRunContext,
  body: (model: ProvisionedModel, log: Logger) => Promise<T>,
): Promise<T> {
  if (!ctx.models)
    throw new EngineError('the onnx engine needs model provisioning, and none was given', false);
  const model = await ctx.models.provision(source.files, ctx.signal, { model: ctx.claim.model });
  try {
    return await body(model, ctx.log);
  } finally {
    model.release();
  }
}
