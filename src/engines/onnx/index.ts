import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import type { Logger } from 'pino';
import type { Claim, ModelSource, Task, TaskKind } from '../../protocol/index.js';
import {
  EngineError,
  type Engine,
  type EngineCapabilities,
  type EngineResult,
  type EngineRunContext,
  type WarmModel,
} from '../types.js';
import { sttLayout, ttsLayout } from './model-files.js';
import { refuseInpaint } from './inpaint.js';
import type { OnnxSettings, WhisperVariant } from './settings.js';
import { missing, runStt, WORDS_NEED_CPP } from './stt.js';
import { runTts, TTS_EXTS } from './tts.js';
import { chooseOrtFlavour, ortProviders } from './flavour.js';
import { createCommandRunner } from '../../platform/index.js';
import { builtModulePath } from '../../util/index.js';
import { EngineCrashError, SupervisedEngine, type EngineCrash } from '../supervise/index.js';
import type { InpaintChildOptions } from './inpaint-child.js';
import { BUNDLED_FFMPEG } from '../media/index.js';

export type { WhisperVariant } from './settings.js';

export interface OnnxEngineOptions {
  /**
   * Model names to advertise per kind (the engine runs any modelSource whose files it recognises).
   * `image` (inpainting) is advertised whenever onnxruntime-node is installed.
   */
  models?: { audio_stt?: string[]; audio_tts?: string[]; image?: string[] };
  /**
   * Where the optional native packages are: an absolute module path, or null for "not installed".
   * Left out, each is looked up with `require.resolve`.
   */
  packages?: { whisperCpp?: string | null; sherpaOnnx?: string | null; onnxRuntime?: string | null };
  /** Let whisper.cpp use the GPU (default true; it falls back to the CPU where there is none). */
  useGpu?: boolean;
  /** whisper.cpp build to load (default "default", i.e. CPU + Metal on macOS). */
  whisperVariant?: WhisperVariant;
  /** Inference threads (default: the cores, at most 8). */
  threads?: number;
  ffmpegPath?: string;
  /** espeak-ng's data folder for voices without a lexicon; default: Debian's, when installed. */
  espeakDataDir?: string;
  /** Where STUDIO_WORKER_ORT_FLAVOUR is read (default: this process's environment). */
  env?: NodeJS.ProcessEnv;
  /** Inpainting's engine process stops (and its sessions go) after this long without a job; 0 keeps it. */
  inpaintIdleUnloadMs?: number;
  log?: Logger;
  onCrash?: (crash: EngineCrash) => void;
}

const KINDS = ['audio_stt', 'audio_tts', 'image'] as const;
const SERVES = 'the onnx engine serves audio_stt, audio_tts and image (inpainting) jobs';
const ESPEAK_DATA_DIRS = [
  '/usr/lib/x86_64-linux-gnu/espeak-ng-data',
  '/usr/lib/aarch64-linux-gnu/espeak-ng-data',
  '/usr/share/espeak-ng-data',
];

function resolvePackage(name: string, given: string | null | undefined): string | undefined {
  if (given !== undefined) return given ?? undefined;
  try {
    return createRequire(import.meta.url).resolve(name);
  } catch {
    return undefined;
  }
}

/**
 * Speech-to-text with whisper (whisper.cpp for ggml/gguf models, sherpa-onnx for ONNX exports)
 * and text-to-speech with ONNX voices (sherpa-onnx). Both native packages are optional: a kind
 * whose package is missing is not advertised, and a claim for it is refused with what to install.
 * Audio inference runs in a child process per job (see child.ts for why); image inpainting
 * (onnxruntime-node, also optional) runs in a supervised engine process that keeps its sessions
 * between jobs (see inpaint.ts and ../supervise/).
 */
export class OnnxEngine implements Engine {
  readonly name = 'onnx' as const;
  private readonly settings: OnnxSettings;
  private readonly models: NonNullable<OnnxEngineOptions['models']>;
  private readonly inpainter: SupervisedEngine | undefined;
  /** ONNX Runtime's execution providers, best first (set by `init()`, see flavour.ts). */
  private providers: ('cuda' | 'cpu')[] = ['cpu'];
  /** What ONNX Runtime runs on (set by `init()`), for `engines`. */
  private ortDetail = 'ONNX Runtime on the CPU';
  private readonly env: NodeJS.ProcessEnv;
  private readonly onCrash: ((crash: EngineCrash) => void) | undefined;

  constructor(options: OnnxEngineOptions = {}) {
    this.env = options.env ?? process.env;
    this.onCrash = options.onCrash;
    this.models = options.models ?? {};
    this.settings = {
      whisperCpp: resolvePackage('@fugood/whisper.node', options.packages?.whisperCpp),
      sherpaOnnx: resolvePackage('sherpa-onnx-node', options.packages?.sherpaOnnx),
      onnxRuntime: resolvePackage('onnxruntime-node', options.packages?.onnxRuntime),
      ffmpegPath: options.ffmpegPath ?? BUNDLED_FFMPEG,
      useGpu: options.useGpu ?? true,
      whisperVariant: options.whisperVariant ?? 'default',
      threads: options.threads ?? Math.min(8, availableParallelism()),
      espeakDataDir: options.espeakDataDir ?? ESPEAK_DATA_DIRS.find((dir) => existsSync(dir)),
    };
    const runtimePath = this.settings.onnxRuntime;
    const childOptions: InpaintChildOptions | undefined = runtimePath
      ? { runtimePath, threads: this.settings.threads }
      : undefined;
    this.inpainter = childOptions
      ? new SupervisedEngine({
          name: 'onnx',
          module: builtModulePath(import.meta.url, './inpaint-child.js'),
          options: { ...childOptions },
          settings: () => ({ providers: this.providers }),
          capabilities: { taskKinds: ['image'], modelsPerKind: {} },
          describe: () => this.ortDetail,
          idleUnloadMs: options.inpaintIdleUnloadMs ?? 0,
          ...(options.log ? { log: options.log } : {}),
          ...(options.onCrash ? { onCrash: options.onCrash } : {}),
        })
      : undefined;
  }

  /** Picks ONNX Runtime's flavour (CUDA 12/13 or CPU, as the original picks it). Never throws. */
  async init(): Promise<void> {
    if (!this.settings.onnxRuntime) return;
    try {
      const choice = await chooseOrtFlavour({
        env: this.env,
        platform: process.platform,
        arch: process.arch,
        run: createCommandRunner({ timeoutMs: 5000 }),
      });
      const { providers, detail } = ortProviders(choice, this.settings.onnxRuntime);
      this.providers = providers;
      this.ortDetail = detail;
    } catch (e) {
      this.ortDetail = `ONNX Runtime on the CPU: ${e instanceof Error ? e.message : String(e)}`;
    }
  }

  capabilities(): EngineCapabilities {
    const kinds: TaskKind[] = KINDS.filter((kind) =>
      kind === 'audio_stt'
        ? (this.settings.whisperCpp ?? this.settings.sherpaOnnx)
        : kind === 'audio_tts'
          ? this.settings.sherpaOnnx
          : // Inpainting (initImageUrl + maskUrl + an .onnx model); other image jobs are refused with the reason.
            this.settings.onnxRuntime,
    );
    return {
      taskKinds: kinds,
      modelsPerKind: Object.fromEntries(
        kinds.map((kind) => [kind, [...(this.models[kind as keyof typeof this.models] ?? [])]]),
      ),
    };
  }

  availability() {
    const backends = [
      this.settings.whisperCpp && 'whisper.cpp (speech to text)',
      this.settings.sherpaOnnx && 'sherpa-onnx (speech)',
      this.settings.onnxRuntime && `inpainting (${this.ortDetail})`,
    ].filter((b): b is string => Boolean(b));
    return backends.length > 0
      ? { ready: true, detail: backends.join(', ') }
      : {
          ready: false,
          detail: 'none of @fugood/whisper.node, sherpa-onnx-node, onnxruntime-node is installed',
        };
  }

  refuse(claim: Claim): string | undefined {
    const { task, modelSource } = claim;
    if (task.kind === 'audio_stt') {
      const layout = sttLayout(modelSource);
      if (typeof layout === 'string') return layout;
      if (layout.backend === 'whisper-cpp' && !this.settings.whisperCpp)
        return missing('@fugood/whisper.node');
      if (layout.backend === 'sherpa-whisper' && !this.settings.sherpaOnnx)
        return missing('sherpa-onnx-node');
      if (layout.backend === 'sherpa-whisper' && task.timestamps === 'word') return WORDS_NEED_CPP;
      return undefined;
    }
    if (task.kind === 'audio_tts') {
      const layout = ttsLayout(modelSource);
      if (typeof layout === 'string') return layout;
      if (!this.settings.sherpaOnnx) return missing('sherpa-onnx-node');
      if (!TTS_EXTS.includes(task.ext))
        return `onnx text-to-speech cannot write "${task.ext}" (it writes ${TTS_EXTS.join(', ')})`;
      return undefined;
    }
    if (task.kind === 'image') return refuseInpaint(task, modelSource, this.settings.onnxRuntime);
    return `${SERVES}, not ${task.kind}`;
  }

  async run(task: Task, modelSource: ModelSource, ctx: EngineRunContext): Promise<EngineResult> {
    switch (task.kind) {
      case 'audio_stt':
      case 'audio_tts':
        try {
          return task.kind === 'audio_stt'
            ? await runStt(task, modelSource, ctx, this.settings)
            : await runTts(task, modelSource, ctx, this.settings);
        } catch (e) {
          // Inpainting's process reports its own crashes; an audio job's child is reported here.
          if (e instanceof EngineCrashError) this.onCrash?.(e.crash);
          throw e;
        }
      case 'image': {
        const refusal = refuseInpaint(task, modelSource, this.settings.onnxRuntime);
        if (refusal || !this.inpainter) throw EngineError.cannotServe(refusal ?? missing('onnxruntime-node'));
        return this.inpainter.run(task, modelSource, ctx);
      }
      default:
        throw EngineError.cannotServe(`${SERVES}, not ${task.kind}`);
    }
  }

  /** Inpainting's sessions, kept in its engine process. */
  warmModels(): WarmModel[] {
    return this.inpainter?.warmModels() ?? [];
  }

  async unloadWarm(reason: string, keep?: ReadonlySet<string>): Promise<void> {
    await this.inpainter?.unloadWarm(reason, keep);
  }

  /** Audio jobs leave nothing behind (their child is gone); inpainting's process is stopped here. Idempotent. */
  async close(): Promise<void> {
    await this.inpainter?.close();
  }
}
