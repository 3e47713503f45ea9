import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { EngineError, type EngineResult } from '../../src/engines/index.js';
import { OnnxEngine } from '../../src/engines/onnx/index.js';
import { ModelCache } from '../../src/models/index.js';
import type { ModelFile, TaskInput } from '../../src/protocol/index.js';
import { tinyInpaintModel } from '../fixtures/onnx/tiny-onnx.js';
import { withModelFiles } from '../fixtures/onnx/provider.js';
import { bytesFingerprint, claimFor, engineContract } from './contract.js';

/*
 * Inpainting through the real ONNX Runtime with a model generated here: a tiny graph computing
 * `image * (1 - mask) + mask * 0.5` (no trained inpainter can be obtained on this machine). What
 * is real is everything around it — downloads, the model cache, decoding, tensors, the session,
 * compositing, encoding.
 */
const log = pino({ enabled: false });
const W = 48;
const H = 40;
/** The left half of the image is masked (white), the right half kept (black). */
const isMasked = (x: number): boolean => x < W / 2;

const solid = (r: number, g: number, b: number, width = W, height = H): Promise<Buffer> =>
  sharp({ create: { width, height, channels: 3, background: { r, g, b } } })
    .png()
    .toBuffer();

async function halfMask(): Promise<Buffer> {
  const pixels = Buffer.alloc(W * H);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) pixels[y * W + x] = isMasked(x) ? 255 : 0;
  return sharp(pixels, { raw: { width: W, height: H, channels: 1 } })
    .png()
    .toBuffer();
}

/** A local server for models and inputs; `/init/<text>.png` is a colour derived from the text. */
let server: Server;
let base: string;
let root: string;
let cache: ModelCache;
const files: Record<string, Buffer> = {};

beforeAll(async () => {
  files['/model.onnx'] = Buffer.from(tinyInpaintModel());
  files['/fixed-32.onnx'] = Buffer.from(tinyInpaintModel({ size: { width: 32, height: 32 } }));
  files['/corrupt.onnx'] = Buffer.from('this is not an ONNX protobuf at all');
  files['/init.png'] = await solid(200, 40, 10);
  files['/mask.png'] = await halfMask();
  server = createServer((req, res) => {
    void (async () => {
      const path = decodeURIComponent(req.url ?? '/');
      const seeded = /^\/init\/(.+)\.png$/.exec(path)?.[1];
      const hash = seeded === undefined ? undefined : createHash('sha256').update(seeded).digest();
      const body = hash ? await solid(hash[0] ?? 0, hash[1] ?? 0, hash[2] ?? 0) : files[path];
      if (body) res.writeHead(200, { 'content-length': body.length }).end(body);
      else res.writeHead(404).end('not found');
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  contractModel.url = url('/model.onnx');
  root = await mkdtemp(join(tmpdir(), 'onnx-inpaint-cache-'));
  cache = new ModelCache({ root, log });
});
afterAll(async () => {
  await engine.close();
  await cache?.close();
  server?.closeAllConnections();
  await new Promise<void>((resolve) => server?.close(() => resolve()));
  await rm(root, { recursive: true, force: true });
});

const url = (path: string): string => `${base}${path}`;
const modelFile = (name: string): ModelFile => ({ role: 'model', url: url(`/${name}`), filename: name });
/** The contract's model file, its URL filled in once the server listens. */
const contractModel: ModelFile = { role: 'model', url: '', filename: 'model.onnx' };
const engine = new OnnxEngine({ threads: 1, models: { image: ['tiny-grey-fill'] } });
type ImageInput = Extract<TaskInput, { kind: 'image' }>;
const inpaint = (extra: Partial<ImageInput> = {}): ImageInput => ({
  kind: 'image',
  prompt: 'fill it',
  initImageUrl: url('/init.png'),
  maskUrl: url('/mask.png'),
  ext: 'png',
  width: W,
  height: H,
  ...extra,
});

async function rgbAt(result: EngineResult, x: number, y: number): Promise<number[]> {
  if (result.type !== 'bytes') throw new Error('expected bytes');
  const { data, info } = await sharp(result.data).raw().toBuffer({ resolveWithObject: true });
  expect([info.width, info.height]).toEqual([W, H]);
  const at = (y * W + x) * info.channels;
  return [data[at] ?? -1, data[at + 1] ?? -1, data[at + 2] ?? -1];
}

describe('onnx inpainting with a tiny generated graph (grey fill, not a trained inpainter)', () => {
  let workDir: string;
  beforeEach(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'onnx-inpaint-job-'));
  });
  afterEach(async () => {
    await rm(workDir, { recursive: true, force: true });
  });
  const run = (
    input: TaskInput,
    model = 'model.onnx',
    signal = new AbortController().signal,
    onProgress?: () => void,
  ) => {
    const claim = claimFor('onnx', 'tiny-grey-fill', input);
    return engine.run(
      claim.task,
      { ...claim.modelSource, files: [modelFile(model)] },
      { signal, log, workDir, claim, models: cache, onProgress },
    );
  };

  it('advertises image jobs (inpainting) with onnxruntime-node, and not without it', () => {
    expect(engine.capabilities().taskKinds).toContain('image');
    expect(engine.capabilities().modelsPerKind.image).toEqual(['tiny-grey-fill']);
    expect(new OnnxEngine().capabilities().taskKinds).toContain('image');
    const without = new OnnxEngine({
      packages: { onnxRuntime: null },
      models: { image: ['tiny-grey-fill'] },
    });
    expect(without.capabilities().taskKinds).not.toContain('image');
    const claim = claimFor('onnx', 'm', inpaint());
    expect(
      without.refuse({ ...claim, modelSource: { ...claim.modelSource, files: [modelFile('model.onnx')] } }),
    ).toMatch(/npm install onnxruntime-node/);
  });

  it('turns masked pixels mid-grey and keeps unmasked pixels, through the model cache and a real session', async () => {
    const result = await run(inpaint());
    expect(result).toMatchObject({ type: 'bytes', ext: 'png' });
    for (const [x, y] of [
      [0, 0],
      [10, 20],
      [W / 2 - 1, H - 1],
    ] as const) {
      const [r, g, b] = await rgbAt(result, x, y);
      for (const v of [r, g, b]) expect(Math.abs((v ?? 0) - 128)).toBeLessThanOrEqual(1);
    }
    for (const [x, y] of [
      [W / 2, 0],
      [W - 1, H - 1],
      [40, 5],
    ] as const) {
      expect(await rgbAt(result, x, y)).toEqual([200, 40, 10]);
    }
  });

  it('resizes to a model with a fixed 32×32 input and back to the image size', async () => {
    const result = await run(inpaint(), 'fixed-32.onnx');
    const [r, g, b] = await rgbAt(result, 5, 20);
    for (const v of [r, g, b]) expect(Math.abs((v ?? 0) - 128)).toBeLessThanOrEqual(2);
    expect(await rgbAt(result, W - 3, 20)).toEqual([200, 40, 10]);
  });

  it('refuses an image job without a mask, naming what inpainting needs', () => {
    const withModel = (input: ImageInput) => {
      const claim = claimFor('onnx', 'tiny-grey-fill', input);
      return { ...claim, modelSource: { ...claim.modelSource, files: [modelFile('model.onnx')] } };
    };
    expect(engine.refuse(withModel(inpaint({ maskUrl: undefined })))).toBe(
      'onnx serves image jobs only as inpainting: initImageUrl and maskUrl are required ' +
        '(a prompt alone is not image work this engine can do)',
    );
    expect(engine.refuse(withModel(inpaint()))).toBeUndefined();
  });

  it('fails non-retryable, naming the file, when the .onnx does not load', async () => {
    const error: unknown = await run(inpaint(), 'corrupt.onnx').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EngineError);
    expect(error).toMatchObject({
      retryable: false,
      message: expect.stringMatching(/corrupt\.onnx/) as unknown,
    });
  });

  it('rejects with an AbortError when cancelled as inpainting starts', async () => {
    const controller = new AbortController();
    const running = run(inpaint(), 'model.onnx', controller.signal, () => controller.abort());
    await expect(running).rejects.toMatchObject({ name: 'AbortError' });
  });
});

/*
 * The shared contract varies a task by its prompt, which inpainting ignores; here the prompt picks
 * the init image (a colour derived from it), so a different prompt is a different picture to fill.
 */
engineContract(
  // The cache and the server exist only once beforeAll has run, hence the late lookups.
  withModelFiles(engine, [contractModel], {
    provision: (files, signal) => cache.provision(files, signal),
    fetchInput: (input, dir, signal) => cache.fetchInput(input, dir, signal),
  }),
  [
    {
      kind: 'image',
      model: 'tiny-grey-fill',
      task: (prompt) =>
        inpaint({ prompt, initImageUrl: url(`/init/${encodeURIComponent(prompt)}.png`), ext: 'webp' }),
      fingerprint: bytesFingerprint,
      badTask: () => inpaint({ initImageUrl: url('/missing.png') }),
    },
  ],
);
