import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ffmpeg from '@ffmpeg-installer/ffmpeg';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TaskSchema } from '../../src/protocol/index.js';
import { encodeWavPcm16, verifyResult } from '../../src/results/index.js';

let dir: string;
const videos: Record<string, Uint8Array> = {};

/** Real videos made by ffmpeg's own test source, independent of our engines. */
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'verify-'));
  const codecs: Record<string, string[]> = {
    mp4: ['-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-movflags', '+faststart'],
    webm: ['-c:v', 'libvpx', '-deadline', 'realtime'],
    gif: [],
  };
  for (const [ext, args] of Object.entries(codecs)) {
    const path = join(dir, `clip.${ext}`);
    const lavfi = ['-f', 'lavfi', '-i', 'testsrc=size=64x48:rate=8', '-t', '1'];
    const made = spawnSync(ffmpeg.path, ['-v', 'error', '-y', ...lavfi, ...args, path]);
    if (made.status !== 0) throw new Error(`ffmpeg could not make ${ext}: ${String(made.stderr)}`);
    videos[ext] = new Uint8Array(await readFile(path));
  }
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const png = (): Promise<Buffer> =>
  sharp({ create: { width: 64, height: 48, channels: 3, background: '#3a6' } })
    .png()
    .toBuffer();

describe('verifying images', () => {
  it('accepts an image that decodes, summarising format, size and bytes', async () => {
    const bytes = await png();
    const verdict = await verifyResult('image', { bytes, ext: 'png' });
    expect(verdict.ok).toBe(true);
    expect(verdict.summary).toMatch(/^png 64×48, \d+(\.\d)? (B|kB)$/);
  });

  it('rejects truncated bytes, random bytes, a format its ext denies and a size the task did not ask for', async () => {
    const bytes = await png();
    const task = TaskSchema.parse({ kind: 'image', prompt: 'x', width: 64, height: 64, ext: 'png' });
    const cases = [
      verifyResult('image', { bytes: bytes.subarray(0, bytes.length - 40), ext: 'png' }),
      verifyResult('image', { bytes: new Uint8Array(300).fill(7), ext: 'png' }),
      verifyResult('image', { bytes, ext: 'webp' }),
      verifyResult('image', { bytes, ext: 'png' }, task),
      verifyResult('image', { json: { url: 'x' } }),
    ];
    for (const verdict of await Promise.all(cases)) expect(verdict.ok, verdict.summary).toBe(false);
  });
});

describe('verifying completions', () => {
  const completion = (content: unknown = 'Once upon a time there was a castle', extra = {}): unknown => ({
    id: 'chatcmpl-1',
    object: 'chat.completion',
    created: 1700000000,
    model: 'm',
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 3, completion_tokens: 7, total_tokens: 10 },
    ...extra,
  });

  it('accepts a chat.completion, summarising its start and token count', async () => {
    const content = 'Once upon a time there was a castle by a river, and the river sang';
    expect(await verifyResult('llm', { json: completion(content) })).toMatchObject({
      ok: true,
      summary: `"${content.slice(0, 40)}…", 7 tokens`,
    });
  });

  it('rejects other shapes, inconsistent usage and JSON that breaks the task’s schema', async () => {
    const task = TaskSchema.parse({
      kind: 'llm',
      messages: [{ role: 'user', content: 'hi' }],
      jsonSchema: { type: 'object', properties: { n: { type: 'integer' } }, required: ['n'] },
    });
    const cases = [
      verifyResult('llm', { json: { text: 'hello' } }),
      verifyResult('llm', { json: completion(null) }),
      verifyResult('llm', { json: completion('x', { object: 'text_completion' }) }),
      verifyResult('llm', { json: completion('x', { choices: [] }) }),
      verifyResult('llm', {
        json: completion('x', { usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 5 } }),
      }),
      verifyResult('llm', { json: completion('{"n":"seven"}') }, task),
      verifyResult('llm', { json: completion('not json') }, task),
      verifyResult('llm', { bytes: new Uint8Array(4), ext: 'json' }),
    ];
    for (const verdict of await Promise.all(cases)) expect(verdict.ok, verdict.summary).toBe(false);
  });
});

describe('verifying transcripts', () => {
  const segment = (start: number, end: number) => ({ id: 0, start, end, text: ' hello there' });

  it('accepts whisper-shaped JSON, summarising segments and duration', async () => {
    const json = { text: 'hello there', duration: 5, segments: [segment(0, 2.5), segment(2.5, 5)] };
    expect(await verifyResult('audio_stt', { json })).toMatchObject({
      ok: true,
      summary: '2 segments, 5.0 s',
    });
  });

  it('rejects a segment ending before it starts, out-of-order segments and missing fields', async () => {
    const cases = [
      { text: 'x', segments: [segment(3, 1)] },
      { text: 'x', segments: [segment(2, 3), segment(0, 1)] },
      { text: 'x', segments: 'none' },
      { segments: [] },
      { text: 'x', segments: [{ start: 0, end: 1 }] },
    ].map((json) => verifyResult('audio_stt', { json }));
    for (const verdict of await Promise.all(cases)) expect(verdict.ok, verdict.summary).toBe(false);
  });
});

describe('verifying speech', () => {
  const wav = (): Uint8Array => encodeWavPcm16(new Int16Array(22050 * 1.4).fill(1000), 22050, 1);

  it('accepts a PCM WAV, summarising rate, channels and duration', async () => {
    const verdict = await verifyResult('audio_tts', { bytes: wav(), ext: 'wav' });
    expect(verdict).toMatchObject({ ok: true, summary: 'wav 22050 Hz mono, 1.4 s' });
  });

  it('reads the WAV from a file as well', async () => {
    const path = join(dir, 'speech.wav');
    await writeFile(path, wav());
    expect(await verifyResult('audio_tts', { path, ext: 'wav' })).toMatchObject({ ok: true });
  });

  it('rejects a truncated data chunk, a non-RIFF file, float samples, a wrong RIFF size and a non-wav ext', async () => {
    const float = wav();
    new DataView(float.buffer).setUint16(20, 3, true);
    const riff = wav();
    new DataView(riff.buffer).setUint32(4, 12, true);
    const cases = [
      { bytes: wav().subarray(0, 1000), ext: 'wav' },
      { bytes: new TextEncoder().encode('ID3 this is an mp3, honest'), ext: 'wav' },
      { bytes: float, ext: 'wav' },
      { bytes: riff, ext: 'wav' },
      { bytes: wav(), ext: 'mp3' },
    ].map((result) => verifyResult('audio_tts', result));
    for (const verdict of await Promise.all(cases)) expect(verdict.ok, verdict.summary).toBe(false);
  });
});

describe('verifying video', () => {
  it.each(['mp4', 'webm', 'gif'])('accepts a %s that decodes, counting its frames', async (ext) => {
    const verdict = await verifyResult('video', { bytes: videos[ext] ?? new Uint8Array(), ext });
    expect(verdict).toMatchObject({ ok: true, summary: `${ext} 64×48, 8 frames` });
  });

  it('rejects a file cut short mid-stream, bytes without the container magic and a size the task did not ask for', async () => {
    const mp4 = videos['mp4'] ?? new Uint8Array();
    const task = TaskSchema.parse({ kind: 'video', prompt: 'x', width: 128, height: 128 });
    const cases = [
      // With +faststart the index comes first, so only decoding the frames finds the missing tail.
      verifyResult('video', { bytes: mp4.subarray(0, Math.floor(mp4.length * 0.7)), ext: 'mp4' }),
      verifyResult('video', { bytes: new Uint8Array(2000).fill(9), ext: 'mp4' }),
      verifyResult('video', { bytes: videos['gif'] ?? new Uint8Array(), ext: 'webm' }),
      verifyResult('video', { bytes: mp4, ext: 'mp4' }, task),
      verifyResult('video', { bytes: mp4, ext: 'avi' }),
    ];
    for (const verdict of await Promise.all(cases)) expect(verdict.ok, verdict.summary).toBe(false);
  });
});
