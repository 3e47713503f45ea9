import type { Claim, ModelSource, Task, TaskKind } from '../../protocol/index.js';
import { TASK_KINDS } from '../../protocol/index.js';
import {
  EngineError,
  type Engine,
  type EngineCapabilities,
  type EngineResult,
  type EngineRunContext,
} from '../types.js';
import { runImage } from './image.js';
import { runLlm } from './llm.js';
import { runStt } from './stt.js';
import { runTts } from './tts.js';
import { runVideo } from './video.js';

/** The model names the synthetic engine advertises, one per kind. */
export const SYNTHETIC_MODELS: Readonly<Record<TaskKind, string>> = {
  image: 'synthetic-image',
  llm: 'synthetic-llm',
  audio_stt: 'synthetic-stt',
  audio_tts: 'synthetic-tts',
  video: 'synthetic-video',
};

/**
 * Real, decodable output for every kind without a model or a GPU: images and video frames drawn
 * by sharp, WAVs, OpenAI- and whisper-shaped JSON. Everything is derived from the SHA-256 of the
 * task's prompt (and seed), so the same task gives the same result. It serves only `synthetic*`
 * models, so it can never stand in for a real one.
 */
export class SyntheticEngine implements Engine {
  readonly name = 'synthetic' as const;

  capabilities(): EngineCapabilities {
    return {
      taskKinds: [...TASK_KINDS],
      modelsPerKind: Object.fromEntries(TASK_KINDS.map((kind) => [kind, [SYNTHETIC_MODELS[kind]]])),
    };
  }

  availability() {
    return { ready: true, detail: 'built in (test output for synthetic* models, no model needed)' };
  }

  refuse(claim: Claim): string | undefined {
    if (!claim.model.startsWith('synthetic')) {
      return `synthetic engine serves only synthetic* models, not ${JSON.stringify(claim.model)}`;
    }
    return undefined;
  }

  async run(task: Task, _modelSource: ModelSource, ctx: EngineRunContext): Promise<EngineResult> {
    const refusal = this.refuse(ctx.claim);
    if (refusal) throw EngineError.cannotServe(refusal);
    switch (task.kind) {
      case 'image':
        return runImage(task, ctx);
      case 'llm':
        return runLlm(task, ctx);
      case 'audio_stt':
        return runStt(task, ctx);
      case 'audio_tts':
        return runTts(task, ctx);
      case 'video':
        return runVideo(task, ctx);
    }
  }
}
