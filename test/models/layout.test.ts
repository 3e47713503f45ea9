import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EngineError } from '../../src/engines/types.js';
import { SIZE, never, startRig } from './helpers.js';
import type { Rig } from './helpers.js';

// The original's layout (src/engine/download.rs): `<models_root>/<model dir>/<filename>`, the model
// dir being the model id with every character outside [A-Za-z0-9._-] made `_`.

let rig: Rig;
beforeEach(async () => {
  rig = await startRig();
});
afterEach(async () => {
  await rig.close();
});

describe("the model cache keeps the original's per-model layout", () => {
  it('puts each model in its own folder, named as the original names it', async () => {
    const { file } = rig.model('model.gguf');
    const model = await rig.cache().provision([file], never(), { model: 'org/Qwen 3:4b' });
    expect(model.path('model')).toBe(join(rig.root, 'org_Qwen_3_4b', 'model.gguf'));
    model.release();
  });

  it('gives two models that share a file name each its own file', async () => {
    const a = rig.model('model.gguf');
    const cache = rig.cache();
    const first = await cache.provision([a.file], never(), { model: 'model-a' });
    const b = rig.model('model.gguf'); // the server now serves other bytes under the same name
    const second = await cache.provision([b.file], never(), { model: 'model-b' });
    expect(first.path('model')).not.toBe(second.path('model'));
    expect((await readFile(first.path('model')!)).equals(a.body)).toBe(true);
    expect((await readFile(second.path('model')!)).equals(b.body)).toBe(true);
    first.release();
    second.release();
  });

  it('uses a file the original already downloaded into the model folder, without downloading it', async () => {
    const body = randomBytes(SIZE);
    await mkdir(join(rig.root, 'flux-schnell'), { recursive: true });
    await writeFile(join(rig.root, 'flux-schnell', 'flux.gguf'), body);
    const file = {
      role: 'diffusion-model' as const,
      url: `${rig.server.url}/not-served.gguf`,
      filename: 'flux.gguf',
    };
    const model = await rig.cache().provision([file], never(), { model: 'flux-schnell' });
    expect((await readFile(model.path('diffusion-model')!)).equals(body)).toBe(true);
    expect(rig.server.requests).toHaveLength(0);
    model.release();
  });

  it('reuses an older flat file only when its sha256 is the one the job names', async () => {
    const good = randomBytes(SIZE);
    const sha256 = createHash('sha256').update(good).digest('hex');
    await mkdir(rig.root, { recursive: true });
    await writeFile(join(rig.root, 'vae.safetensors'), good);
    const file = {
      role: 'vae' as const,
      url: `${rig.server.url}/not-served.safetensors`,
      filename: 'vae.safetensors',
      sha256: sha256.toUpperCase(),
    };
    const model = await rig.cache().provision([file], never(), { model: 'm1' });
    expect(model.path('vae')).toBe(join(rig.root, 'm1', 'vae.safetensors'));
    expect((await readFile(model.path('vae')!)).equals(good)).toBe(true);
    expect(rig.server.requests).toHaveLength(0);
    model.release();

    // Without a sha256, a flat file of another size than the model declares is another file: downloaded.
    const other = rig.model('vae.safetensors', { withSha: false, role: 'vae', approxBytes: SIZE + 1 });
    const second = await rig.cache().provision([other.file], never(), { model: 'm2' });
    expect((await readFile(second.path('vae')!)).equals(other.body)).toBe(true);
    second.release();
  });

  it("reuses a flat file by name and size when the model has no sha256, as the original does, also from the original's llm/ folder", async () => {
    const body = randomBytes(SIZE);
    await mkdir(join(rig.root, 'llm'), { recursive: true });
    await writeFile(join(rig.root, 'llm', 'qwen.gguf'), body);
    await writeFile(join(rig.root, 'vae.safetensors'), body);
    const qwen = {
      role: 'model' as const,
      url: `${rig.server.url}/not-served.gguf`,
      filename: 'qwen.gguf',
      approxBytes: SIZE,
    };
    const vae = {
      role: 'vae' as const,
      url: `${rig.server.url}/not-served.safetensors`,
      filename: 'vae.safetensors',
    };
    const model = await rig.cache().provision([qwen, vae], never(), { model: 'qwen' });
    expect(model.path('model')).toBe(join(rig.root, 'qwen', 'qwen.gguf'));
    expect((await readFile(model.path('model')!)).equals(body)).toBe(true);
    expect((await readFile(model.path('vae')!)).equals(body)).toBe(true);
    expect(rig.server.requests).toHaveLength(0);
    model.release();
  });

  it('fails a sha256 that is not 64 hex digits where it is used, as a model it cannot serve', async () => {
    const { file } = rig.model('x.gguf');
    const e = await rig
      .cache()
      .provision([{ ...file, sha256: 'not-a-hash' }], never(), { model: 'm' })
      .catch((err: unknown) => err);
    expect(e).toBeInstanceOf(EngineError);
    expect(e).toMatchObject({ cannotServe: true });
    expect((e as Error).message).toContain('is not 64 hex digits');
  });
});
