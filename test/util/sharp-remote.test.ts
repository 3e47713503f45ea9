import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { CodecProcess } from '../../src/util/sharp-remote.js';

let codec: CodecProcess | undefined;
afterEach(() => {
  codec?.stop();
  codec = undefined;
});

const pixels = (w: number, h: number) => Buffer.alloc(w * h * 3, 90);
/** A 2×2 PNG made in the codec process. */
const tinyPng = (c: CodecProcess) =>
  c
    .sharp(pixels(2, 2), { raw: { width: 2, height: 2, channels: 3 } })
    .png()
    .toBuffer();

describe('sharp in the image codec process', () => {
  it('runs a pipeline there and gives back the same bytes sharp makes in-process', async () => {
    codec = new CodecProcess();
    const raw = { raw: { width: 16, height: 8, channels: 3 as const } };
    const remote = await codec.sharp(pixels(16, 8), raw).webp({ quality: 80, effort: 0 }).toBuffer();
    const local = await sharp(pixels(16, 8), raw).webp({ quality: 80, effort: 0 }).toBuffer();
    expect(Buffer.from(remote).equals(local)).toBe(true);
    expect(codec.running).toBe(true);

    const meta = await codec.sharp(local).metadata();
    expect(meta).toMatchObject({ format: 'webp', width: 16, height: 8 });
    const { data, info } = await codec.sharp(local).raw().toBuffer({ resolveWithObject: true });
    expect(info).toMatchObject({ width: 16, height: 8 });
    expect(data.length).toBe(info.size);
  });

  it('writes files and reads paths itself', async () => {
    codec = new CodecProcess();
    const dir = await mkdtemp(join(tmpdir(), 'codec-'));
    try {
      const png = join(dir, 'a.png');
      await codec
        .sharp(pixels(4, 4), { raw: { width: 4, height: 4, channels: 3 } })
        .png()
        .toFile(png);
      expect((await sharp(await readFile(png)).metadata()).format).toBe('png');
      expect(await codec.sharp(png).metadata()).toMatchObject({ format: 'png', width: 4 });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('rejects with sharp’s own message for a bad image, and goes on', async () => {
    codec = new CodecProcess();
    await expect(codec.sharp(Buffer.from('not an image')).metadata()).rejects.toThrow(
      /unsupported image format/,
    );
    expect(await tinyPng(codec)).toBeTruthy();
  });

  it('a crash of the codec process fails the image being made, and the next image starts a new one', async () => {
    codec = new CodecProcess();
    await tinyPng(codec);
    const child = (codec as unknown as { current: { child: { kill: (s: string) => void } } }).current.child;
    const dying = codec
      .sharp(pixels(2048, 2048), { raw: { width: 2048, height: 2048, channels: 3 } })
      .png()
      .toBuffer();
    child.kill('SIGKILL');
    await expect(dying).rejects.toThrow(/the image codec process exited \(SIGKILL\)/);
    expect(await tinyPng(codec)).toBeTruthy();
  });

  it('exits when idle, and starts again for the next image', async () => {
    codec = new CodecProcess(100);
    await tinyPng(codec);
    expect(codec.running).toBe(true);
    await new Promise((r) => setTimeout(r, 400));
    expect(codec.running).toBe(false);
    await tinyPng(codec);
    expect(codec.running).toBe(true);
  });
});
