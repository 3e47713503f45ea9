import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type * as OrtModule from 'onnxruntime-node';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import type { ImageTask, ModelSource } from '../../protocol/index.js';
import { loadSharp, toError } from '../../util/index.js';
import { abortError, throwIfAborted } from '../abort.js';
import { EngineError, type EngineResult, type EngineRunContext } from '../types.js';
import { inpaintLayout, pathOf } from './model-files.js';
import { withModel } from './settings.js';
import { missing } from './stt.js';

type Ort = typeof OrtModule;
type Sharp = Awaited<ReturnType<typeof loadSharp>>;
interface Raw {
  data: Buffer;
  width: number;
  height: number;
}

export const INPAINT_EXTS = ['webp', 'png', 'jpeg', 'jpg'];
export const INPAINT_NEEDS_INPUTS =
  'onnx serves image jobs only as inpainting: initImageUrl and maskUrl are required ' +
  '(a prompt alone is not image work this engine can do)';

/** Why the onnx engine will not inpaint `task`, or undefined when it will. */
export function refuseInpaint(
  task: ImageTask,
  source: ModelSource,
  runtime: string | undefined,
): string | undefined {
  if (!task.initImageUrl || !task.maskUrl) return INPAINT_NEEDS_INPUTS;
  const layout = inpaintLayout(source);
  if (typeof layout === 'string') return layout;
  if (!runtime) return missing('onnxruntime-node');
  if (!INPAINT_EXTS.includes(task.ext))
    return `onnx inpainting cannot write "${task.ext}" (it writes ${INPAINT_EXTS.join(', ')})`;
  return undefined;
}

/**
 * Inpainting with a LaMa-style ONNX model through ONNX Runtime (CPU): inputs `image` [1,3,H,W]
 * and `mask` [1,1,H,W] (1 = fill) in 0..1, output [1,3,H,W] in 0..1. Unlike the audio kinds this
 * runs in the worker process: onnxruntime-node reports a bad model as an exception rather than
 * exiting, runs off the main thread, and a loaded session is worth keeping between jobs. Pixels
 * outside the mask are the original's, whatever the model did to them.
 */
export class OnnxInpainter {
  private readonly sessions = new Map<string, Promise<InferenceSession>>();

  /** Execution providers, best first (see flavour.ts); sessions made after a change use the new ones. */
  providers: ('cuda' | 'cpu')[] = ['cpu'];

  constructor(
    private readonly runtimePath: string | undefined,
    private readonly threads: number,
  ) {}

  async run(task: ImageTask, source: ModelSource, ctx: EngineRunContext): Promise<EngineResult> {
    const refusal = refuseInpaint(task, source, this.runtimePath);
    if (refusal) throw EngineError.cannotServe(refusal);
    const layout = inpaintLayout(source);
    const { initImageUrl, maskUrl } = task;
    if (typeof layout === 'string' || !initImageUrl || !maskUrl)
      throw new EngineError(INPAINT_NEEDS_INPUTS, false);
    const provider = ctx.models;
    throwIfAborted(ctx.signal);
    return withModel(source, ctx, async (model) => {
      // fetchInput names its file itself, so each input gets its own folder.
      const fetchInto = async (url: string, dir: string): Promise<string> => {
        const dest = join(ctx.workDir, dir);
        await mkdir(dest, { recursive: true });
        if (!provider)
          throw new EngineError('the onnx engine needs an input fetcher, and none was given', false);
        return provider.fetchInput(url, dest, ctx.signal);
      };
      // Both settle before the job ends: a failed init download must not leave the mask still
      // being written into a scratch folder the job's cleanup is removing.
      const fetched = await Promise.allSettled([fetchInto(initImageUrl, 'init'), fetchInto(maskUrl, 'mask')]);
      const [init, maskFile] = fetched;
      if (init?.status !== 'fulfilled') throw init?.reason;
      if (maskFile?.status !== 'fulfilled') throw maskFile?.reason;
      const initPath = init.value;
      const maskPath = maskFile.value;
      const sharp = await loadSharp();
      // The result is the task's size, as for any image job; mask and image are stretched alike.
      const image = await decode(sharp, initPath, 'the init image', task.width, task.height);
      const mask = await decodeMask(sharp, maskPath, image.width, image.height);
      const session = await abortable(() => this.session(pathOf(source, model, layout)), ctx.signal);
      ctx.onProgress?.({ fraction: 0.1, message: 'inpainting' });
      const filled = await abortable(() => infer(this.ort(), session, sharp, image, maskPath), ctx.signal);
      const data = Buffer.from(image.data);
      for (let i = 0; i < mask.length; i++) {
        if (mask[i] === 1) for (let c = 0; c < 3; c++) data[i * 3 + c] = filled[i * 3 + c] ?? 0;
      }
      const ext = task.ext === 'jpg' ? 'jpeg' : task.ext;
      const out = sharp(data, { raw: { width: image.width, height: image.height, channels: 3 } });
      const encoded =
        ext === 'webp' ? out.webp({ quality: 90 }) : ext === 'png' ? out.png() : out.jpeg({ quality: 90 });
      return { type: 'bytes', ext: task.ext, data: new Uint8Array(await encoded.toBuffer()) };
    });
  }

  /** Drops the loaded sessions. Idempotent. */
  async close(): Promise<void> {
    const sessions = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(sessions.map((s) => s.then((x) => x.release()).catch(() => undefined)));
  }

  private ort(): Ort {
    if (!this.runtimePath) throw new EngineError(missing('onnxruntime-node'), false);
    return createRequire(import.meta.url)(this.runtimePath) as Ort;
  }

  private session(path: string): Promise<InferenceSession> {
    let session = this.sessions.get(path);
    if (!session) {
      session = Promise.resolve().then(() =>
        this.ort().InferenceSession.create(path, {
          executionProviders: [...this.providers],
          intraOpNumThreads: this.threads,
        }),
      );
      session = session.catch((e: unknown) => {
        this.sessions.delete(path);
        if (e instanceof EngineError) throw e;
        throw new EngineError(
          `ONNX Runtime could not load the model ${path} (${toError(e).message})`,
          false,
          {
            cause: e,
          },
        );
      });
      this.sessions.set(path, session);
    }
    return session;
  }
}

/**
 * Settles with what `start` gives, or rejects with an AbortError as soon as `signal` aborts (ONNX
 * Runtime cannot stop a run). Work is started only when not aborted yet, so no promise is left unwatched.
 */
async function abortable<T>(start: () => Promise<T>, signal: AbortSignal): Promise<T> {
  throwIfAborted(signal);
  const work = start();
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

async function decode(
  sharp: Sharp,
  path: string,
  what: string,
  width?: number,
  height?: number,
): Promise<Raw> {
  try {
    let pipeline = sharp(path).removeAlpha().toColorspace('srgb');
    if (width && height) pipeline = pipeline.resize(width, height, { fit: 'fill' });
    const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
    return { data, width: info.width, height: info.height };
  } catch (e) {
    throw new EngineError(`${what} could not be decoded (${toError(e).message})`, false, { cause: e });
  }
}

/** The mask at `width`×`height`, one value per pixel: 1 where its luminance is over 127 (fill), else 0. */
async function decodeMask(sharp: Sharp, path: string, width: number, height: number): Promise<Uint8Array> {
  const rgb = await decode(sharp, path, 'the mask', width, height);
  const mask = new Uint8Array(width * height);
  for (let i = 0; i < mask.length; i++) {
    const luma =
      0.299 * (rgb.data[i * 3] ?? 0) +
      0.587 * (rgb.data[i * 3 + 1] ?? 0) +
      0.114 * (rgb.data[i * 3 + 2] ?? 0);
    mask[i] = luma > 127 ? 1 : 0;
  }
  return mask;
}

/** The input named like `hint`, else the one at `index`. */
function pick(names: readonly string[], hint: string, index: number): string {
  const name = names.find((n) => n.toLowerCase().includes(hint)) ?? names[index];
  if (!name)
    throw new EngineError(`the inpainting model has no "${hint}" input (it has ${names.join(', ')})`, false);
  return name;
}

/** The model's fixed H×W, when its image input declares one. */
function fixedSize(session: InferenceSession, input: string): { width: number; height: number } | undefined {
  const meta = session.inputMetadata.find((m) => m.name === input);
  if (!meta?.isTensor) return undefined;
  const [, , height, width] = meta.shape;
  return typeof height === 'number' && typeof width === 'number' && height > 0 && width > 0
    ? { width, height }
    : undefined;
}

/** Runs the model at its own size and returns its RGB output at the image's size. */
async function infer(
  ort: Ort,
  session: InferenceSession,
  sharp: Sharp,
  image: Raw,
  maskPath: string,
): Promise<Buffer> {
  const imageName = pick(session.inputNames, 'image', 0);
  const maskName = pick(session.inputNames, 'mask', 1);
  const size = fixedSize(session, imageName) ?? { width: image.width, height: image.height };
  const plane = size.width * size.height;
  const scaled =
    size.width === image.width && size.height === image.height
      ? image.data
      : await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
          .resize(size.width, size.height, { fit: 'fill' })
          .raw()
          .toBuffer();
  const mask = await decodeMask(sharp, maskPath, size.width, size.height);
  const pixels = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++)
    for (let c = 0; c < 3; c++) pixels[c * plane + i] = (scaled[i * 3 + c] ?? 0) / 255;
  const feeds: Record<string, Tensor> = {
    [imageName]: new ort.Tensor('float32', pixels, [1, 3, size.height, size.width]),
    [maskName]: new ort.Tensor('float32', Float32Array.from(mask), [1, 1, size.height, size.width]),
  };
  let output: Tensor | undefined;
  try {
    const results = await session.run(feeds);
    output = results[session.outputNames[0] ?? ''];
  } catch (e) {
    throw new EngineError(`the inpainting model failed to run (${toError(e).message})`, false, { cause: e });
  }
  if (output?.type !== 'float32' || output.data.length < 3 * plane) {
    throw new EngineError(
      `the inpainting model's output is not float32 [1,3,${size.height},${size.width}] (got ${output?.type ?? 'nothing'} [${output?.dims.join(',') ?? ''}])`,
      false,
    );
  }
  const values = output.data as Float32Array;
  const rgb = Buffer.alloc(3 * plane);
  for (let i = 0; i < plane; i++)
    for (let c = 0; c < 3; c++)
      rgb[i * 3 + c] = Math.round(Math.min(1, Math.max(0, values[c * plane + i] ?? 0)) * 255);
  if (size.width === image.width && size.height === image.height) return rgb;
  return sharp(rgb, { raw: { width: size.width, height: size.height, channels: 3 } })
    .resize(image.width, image.height, { fit: 'fill' })
    .raw()
    .toBuffer();
}
