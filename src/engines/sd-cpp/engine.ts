import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Claim, ImageTask, ModelSource, Task, VideoTask } from '../../protocol/index.js';
import { FileRoleSchema } from '../../protocol/index.js';
import { throwIfAborted } from '../abort.js';
import {
  EngineError,
  type Engine,
  type EngineCapabilities,
  type EngineResult,
  type EngineRunContext,
  type ProvisionedModel,
} from '../types.js';
import { buildSdCliArgs, DEFAULT_VIDEO_FPS, type SdFilesByRole } from './args.js';
import { SD_CLI_NOT_FOUND, SdCliLocator } from './binary.js';
import { encodeFrames } from './encode-video.js';
import { fetchInputs } from './inputs.js';
import { convertImage, isImageExt, isVideoExt, listFrames, IMAGE_EXTS, VIDEO_EXTS } from './output.js';
import { runSdCli } from './process.js';

/** One hour: a long Wan video on a mid-range GPU; past this sd-cli is stuck, not slow. */
const DEFAULT_TIMEOUT_MS = 60 * 60 * 1000;
const FRAME_PREFIX = 'frame_';

export interface SdCppEngineOptions {
  /** `sd_cli_path` from config.toml; unset = `sd-cli` on PATH. */
  sdCliPath?: string;
  /** Engine-level log (binary lookups); job output goes to each job's own logger. */
  log?: Logger;
  /** Kill sd-cli after this long (default one hour). */
  timeoutMs?: number;
  /**
   * Model names to advertise per kind. sd-cpp runs whatever files the studio's modelSource names,
   * so it knows no model list of its own: the default advertises none, and the worker may pass
   * the names it has provisioned or been configured to offer.
   */
  models?: { image?: string[]; video?: string[] };
}

/**
 * Images and video through stable-diffusion.cpp's `sd-cli`, run as a subprocess per job: the
 * model files are provisioned by the worker's model cache, inputs downloaded into the job's
 * scratch folder, the arguments built from the task and the model's cliDefaults, progress read
 * off sd-cli's bar, and its PNG (or PNG frames) converted to the ext the task asked for.
 */
export class SdCppEngine implements Engine {
  readonly name = 'sd-cpp' as const;
  private readonly locator: SdCliLocator;

  constructor(private readonly opts: SdCppEngineOptions = {}) {
    this.locator = new SdCliLocator(opts.sdCliPath);
  }

  /**
   * Both kinds always, so a claim reaches `refuse()` and its reason says how to install sd-cli;
   * model names only while sd-cli is there to run them.
   */
  capabilities(): EngineCapabilities {
    const found = this.locator.find() !== undefined;
    const models = this.opts.models ?? {};
    return {
      taskKinds: ['image', 'video'],
      modelsPerKind: found ? { image: [...(models.image ?? [])], video: [...(models.video ?? [])] } : {},
    };
  }

  availability() {
    const found = this.locator.find();
    return found ? { ready: true, detail: `sd-cli at ${found}` } : { ready: false, detail: SD_CLI_NOT_FOUND };
  }

  refuse(claim: Claim): string | undefined {
    if (claim.task.kind !== 'image' && claim.task.kind !== 'video') {
      return `sd-cpp serves image and video jobs, not ${claim.task.kind}`;
    }
    if (!this.locator.find()) {
      this.opts.log?.warn({ sdCliPath: this.opts.sdCliPath }, SD_CLI_NOT_FOUND);
      return SD_CLI_NOT_FOUND;
    }
    return undefined;
  }

  async run(task: Task, modelSource: ModelSource, ctx: EngineRunContext): Promise<EngineResult> {
    throwIfAborted(ctx.signal);
    if (task.kind !== 'image' && task.kind !== 'video') {
      throw new EngineError(`sd-cpp serves image and video jobs, not ${task.kind}`, false);
    }
    checkExt(task);
    const binary = this.locator.find();
    if (!binary) throw new EngineError(SD_CLI_NOT_FOUND, false);
    if (!ctx.models)
      throw new EngineError('sd-cpp needs the worker model cache (EngineRunContext.models)', false);

    ctx.onProgress?.({ fraction: 0, message: 'provisioning model files' });
    const model = await ctx.models.provision(modelSource.files, ctx.signal, { model: ctx.claim.model });
    try {
      const inputs = await fetchInputs(task, ctx.models, ctx.workDir, ctx.signal);
      const framesDir = join(ctx.workDir, 'sd-frames');
      const output =
        task.kind === 'video'
          ? join(framesDir, `${FRAME_PREFIX}%05d.png`)
          : join(ctx.workDir, 'sd-output.png');
      if (task.kind === 'video') await mkdir(framesDir, { recursive: true });
      const args = buildSdCliArgs(task, modelSource.cliDefaults, filesByRole(model), { ...inputs, output });
      throwIfAborted(ctx.signal);
      await runSdCli({
        binary,
        args,
        cwd: ctx.workDir,
        signal: ctx.signal,
        log: ctx.log,
        timeoutMs: this.opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
        onProgress: ({ step, steps, secondsPerStep }) =>
          ctx.onProgress?.({
            fraction: step / steps,
            message: `step ${step}/${steps} (${secondsPerStep.toFixed(2)} s/step)`,
          }),
      });
      return task.kind === 'image'
        ? await finishImage(task, output, ctx)
        : await finishVideo(task, framesDir, ctx);
    } catch (e) {
      // A binary that vanished since the lookup should be looked for again, not trusted for 10 s.
      if (e instanceof EngineError && e.message.includes('could not start')) this.locator.invalidate();
      throw e;
    } finally {
      model.release();
    }
  }
}

function checkExt(task: ImageTask | VideoTask): void {
  if (task.kind === 'image' && !isImageExt(task.ext)) {
    throw new EngineError(
      `sd-cpp cannot write "${task.ext}" images (it writes ${IMAGE_EXTS.join(', ')})`,
      false,
    );
  }
  if (task.kind === 'video' && !isVideoExt(task.ext)) {
    throw new EngineError(
      `sd-cpp cannot write "${task.ext}" video (it writes ${VIDEO_EXTS.join(', ')})`,
      false,
    );
  }
}

function filesByRole(model: ProvisionedModel): SdFilesByRole {
  const files: SdFilesByRole = {};
  for (const role of FileRoleSchema.options) {
    const paths = model.byRole(role);
    if (paths.length > 0) files[role] = paths;
  }
  return files;
}

async function finishImage(task: ImageTask, png: string, ctx: EngineRunContext): Promise<EngineResult> {
  if (!isImageExt(task.ext)) throw new EngineError(`unsupported image ext ${task.ext}`, false);
  const data = await convertImage(png, task.ext, task.width, task.height, ctx.log);
  throwIfAborted(ctx.signal);
  return { type: 'bytes', ext: task.ext, data };
}

async function finishVideo(task: VideoTask, framesDir: string, ctx: EngineRunContext): Promise<EngineResult> {
  if (!isVideoExt(task.ext)) throw new EngineError(`unsupported video ext ${task.ext}`, false);
  const { start, paths } = await listFrames(framesDir, FRAME_PREFIX);
  ctx.onProgress?.({ fraction: 1, message: `encoding ${paths.length} frames` });
  const path = join(ctx.workDir, `out.${task.ext}`);
  await encodeFrames({
    pattern: join(framesDir, `${FRAME_PREFIX}%05d.png`),
    startNumber: start,
    fps: task.fps ?? DEFAULT_VIDEO_FPS,
    ext: task.ext,
    width: task.width,
    height: task.height,
    output: path,
    signal: ctx.signal,
    log: ctx.log,
  });
  return { type: 'file', ext: task.ext, path };
}
