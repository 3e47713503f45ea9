import { basename, dirname, isAbsolute, relative } from 'node:path';
import type { CliDefaults, FileRole, ImageTask, VideoTask } from '../../protocol/index.js';
import { EngineError } from '../types.js';

/** Absolute paths of the provisioned model files, by role, in the modelSource's order. */
export type SdFilesByRole = Partial<Record<FileRole, readonly string[]>>;

/** Where sd-cli reads the job's inputs and writes its output. */
export interface SdCliPaths {
  /** `-o`: a PNG path for images; a `%05d` frame pattern for video. */
  output: string;
  initImage?: string;
  mask?: string;
  refImage?: string;
}

/** Frames per second when a video task names none: Wan, sd.cpp's main video family, is trained at 16. */
export const DEFAULT_VIDEO_FPS = 16;

/**
 * Text-encoder slots of sd-cli, picked by a hint in the file name (case-insensitive, first match
 * wins): `clip_g` → `--clip_g`, `clip_l` → `--clip_l`, `t5xxl`/`umt5`/`t5` → `--t5xxl` (Wan's
 * umt5-xxl goes there too), `qwen`/`llm`/`mistral`/`gemma`/`llama`/`ministral` → `--llm`. A
 * file with no hint takes `--llm` (every single-encoder family sd.cpp runs — Z-Image, Qwen-Image,
 * Flux.2, Ovis — uses that slot); two files for one slot are the job's fault.
 */
const TEXT_ENCODER_HINTS: ReadonlyArray<readonly [RegExp, string]> = [
  [/clip[_-]?g(?![a-z])/i, '--clip_g'],
  [/clip[_-]?l(?![a-z])/i, '--clip_l'],
  [/(u?mt5|t5xxl|(?<![a-z])t5)/i, '--t5xxl'],
  [/(qwen|llm|mistral|ministral|gemma|llama)/i, '--llm'],
];

/** Vision encoders: CLIP vision (Wan i2v) by its name, anything else is an LLM's vision tower. */
const VISION_HINTS: ReadonlyArray<readonly [RegExp, string]> = [[/clip/i, '--clip_vision']];

export function textEncoderFlag(path: string): string {
  return flagByHint(path, TEXT_ENCODER_HINTS, '--llm');
}

/**
 * The sd-cli argument array for a task (no shell ever sees it). Task fields win over the model's
 * `cliDefaults`; a video task has no steps/cfg/sampler of its own, so those come from the
 * defaults alone. Throws a non-retryable EngineError for a modelSource sd-cli cannot run.
 */
export function buildSdCliArgs(
  task: ImageTask | VideoTask,
  cliDefaults: CliDefaults,
  files: SdFilesByRole,
  paths: SdCliPaths,
): string[] {
  const args: string[] = [];
  if (task.kind === 'video') args.push('-M', 'vid_gen');
  args.push(...modelArgs(files));

  const loras = files.lora ?? [];
  const { dir: loraDir, tags } = loraTags(loras);
  if (loraDir) args.push('--lora-model-dir', loraDir);
  args.push('-p', task.prompt + tags);
  if (task.negativePrompt) args.push('-n', task.negativePrompt);

  const image = task.kind === 'image' ? task : undefined;
  args.push('-W', String(task.width), '-H', String(task.height));
  args.push('--steps', String(image?.steps ?? cliDefaults.steps));
  args.push('--cfg-scale', String(image?.cfgScale ?? cliDefaults.cfgScale));
  const sampler = image?.samplingMethod ?? cliDefaults.samplingMethod;
  if (sampler) args.push('--sampling-method', sampler);
  if (image?.seed !== undefined) args.push('-s', String(image.seed));
  if (cliDefaults.flowShift !== undefined) args.push('--flow-shift', String(cliDefaults.flowShift));
  if (cliDefaults.offloadToCpu) args.push('--offload-to-cpu');
  if (cliDefaults.zeroCondT) args.push('--qwen-image-zero-cond-t');

  if (image) args.push(...imageInputArgs(image.denoise, paths));
  else if (paths.initImage) args.push('-i', paths.initImage);
  if (task.kind === 'video') {
    const fps = task.fps ?? DEFAULT_VIDEO_FPS;
    args.push('--video-frames', String(videoFrameCount(task)), '--fps', String(fps));
  }
  args.push('-o', paths.output);
  return args;
}

/**
 * What sd-server is started with for a model: the model files and the model's own settings
 * (`cliDefaults` that are not per request). Equal arrays mean the same loaded model, so the
 * array is also the key a warm server is reused by.
 */
export function buildSdServerArgs(cliDefaults: CliDefaults, files: SdFilesByRole): string[] {
  const args = modelArgs(files);
  if (cliDefaults.flowShift !== undefined) args.push('--flow-shift', String(cliDefaults.flowShift));
  if (cliDefaults.offloadToCpu) args.push('--offload-to-cpu');
  if (cliDefaults.zeroCondT) args.push('--qwen-image-zero-cond-t');
  return args;
}

/** sd-cli's seed when none is given; sent to sd-server too, so both paths draw the same picture. */
export const SD_DEFAULT_SEED = 42;

/** The body of an sd-server `/sdapi/v1/txt2img` (or, with an init image, `img2img`) request. */
export interface SdapiRequest {
  prompt: string;
  negative_prompt: string;
  width: number;
  height: number;
  steps: number;
  cfg_scale: number;
  seed: number;
  batch_size: 1;
  sampler_name?: string;
  init_images?: string[];
  mask?: string;
  denoising_strength?: number;
}

/** The request for an image task, the same settings as {@link buildSdCliArgs} would pass. */
export function buildSdapiRequest(
  task: ImageTask,
  cliDefaults: CliDefaults,
  inputs: { initImage?: Buffer; mask?: Buffer },
): SdapiRequest {
  const sampler = task.samplingMethod ?? cliDefaults.samplingMethod;
  return {
    prompt: task.prompt,
    negative_prompt: task.negativePrompt ?? '',
    width: task.width,
    height: task.height,
    steps: task.steps ?? cliDefaults.steps,
    cfg_scale: task.cfgScale ?? cliDefaults.cfgScale,
    seed: task.seed ?? SD_DEFAULT_SEED,
    batch_size: 1,
    ...(sampler ? { sampler_name: sampler } : {}),
    ...(inputs.initImage
      ? {
          init_images: [inputs.initImage.toString('base64')],
          denoising_strength: task.denoise ?? DEFAULT_INIT_STRENGTH,
          ...(inputs.mask ? { mask: inputs.mask.toString('base64') } : {}),
        }
      : {}),
  };
}

/** sd-cli's img2img strength when a task with an init image names no `denoise` (as the original). */
export const DEFAULT_INIT_STRENGTH = 0.75;

/**
 * How the input images combine, as the original combines them: a reference image wins (`-r`, the
 * edit models' input; no strength, and an init image is not passed); otherwise an init image is
 * img2img with `--strength` (the task's `denoise`, as given, or 0.75); a mask applies only to one
 * of those two, never alone.
 */
export function imageInputArgs(denoise: number | undefined, paths: Omit<SdCliPaths, 'output'>): string[] {
  if (paths.refImage) return ['-r', paths.refImage, ...(paths.mask ? ['--mask', paths.mask] : [])];
  if (!paths.initImage) return [];
  return [
    '-i',
    paths.initImage,
    '--strength',
    String(denoise ?? DEFAULT_INIT_STRENGTH),
    ...(paths.mask ? ['--mask', paths.mask] : []),
  ];
}

/** How many frames a video task asks for: `seconds × fps`, at least one. */
export function videoFrameCount(task: VideoTask): number {
  return Math.max(1, Math.round(task.seconds * (task.fps ?? DEFAULT_VIDEO_FPS)));
}

function modelArgs(files: SdFilesByRole): string[] {
  const args: string[] = [];
  const full = files.model ?? [];
  const diffusion = files['diffusion-model'] ?? [];
  if (full.length === 0 && diffusion.length === 0) {
    throw new EngineError('sd-cpp needs a "diffusion-model" or "model" file in modelSource.files', false);
  }
  if (full.length > 1) throw new EngineError('sd-cpp takes one "model" file, got ' + full.length, false);
  if (full[0]) args.push('-m', full[0]);
  // Wan 2.2 A14B ships two experts; the high-noise one is named so.
  const high = diffusion.filter((p) => /high[_-]?noise/i.test(basename(p)));
  const low = diffusion.filter((p) => !high.includes(p));
  if (low.length > 1 || high.length > 1) {
    throw new EngineError(`sd-cpp cannot tell these diffusion models apart: ${diffusion.join(', ')}`, false);
  }
  if (low[0]) args.push('--diffusion-model', low[0]);
  if (high[0]) args.push(low[0] ? '--high-noise-diffusion-model' : '--diffusion-model', high[0]);

  const slots = new Map<string, string>();
  const assign = (flag: string, path: string): void => {
    const taken = slots.get(flag);
    if (taken) {
      throw new EngineError(`two text encoders map to sd-cli ${flag}: ${taken} and ${path}`, false);
    }
    slots.set(flag, path);
  };
  for (const path of files['text-encoder'] ?? []) assign(textEncoderFlag(path), path);
  for (const path of files['text-encoder-vision'] ?? []) {
    assign(flagByHint(path, VISION_HINTS, '--llm_vision'), path);
  }
  for (const [flag, path] of slots) args.push(flag, path);

  const vae = files.vae ?? [];
  if (vae.length > 1) throw new EngineError('sd-cpp takes one "vae" file, got ' + vae.length, false);
  if (vae[0]) args.push('--vae', vae[0]);
  return args;
}

/**
 * sd-cli applies a LoRA named in the prompt as `<lora:NAME:MULTIPLIER>`, NAME resolved under
 * `--lora-model-dir`. Every LoRA is named relative to the first one's folder so one directory
 * flag serves them all; the tag grammar cannot hold `:` or `>`, so such a path is refused.
 */
function loraTags(loras: readonly string[]): { dir: string | undefined; tags: string } {
  const first = loras[0];
  if (!first) return { dir: undefined, tags: '' };
  const dir = dirname(first);
  const tags = loras.map((path) => {
    const name = relative(dir, path).split('\\').join('/');
    if (isAbsolute(name) || /[:>]/.test(name)) {
      throw new EngineError(`LoRA ${path} cannot be named in an sd-cli prompt tag`, false);
    }
    return `<lora:${name}:1>`;
  });
  return { dir, tags: tags.join('') };
}

function flagByHint(path: string, hints: ReadonlyArray<readonly [RegExp, string]>, fallback: string): string {
  const name = basename(path);
  return hints.find(([pattern]) => pattern.test(name))?.[1] ?? fallback;
}
