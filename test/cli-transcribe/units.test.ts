import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FRAME_BYTES, openStdin, openWav } from '../../src/cli/transcribe/audio.js';
import { parseMessage, redactToken } from '../../src/cli/transcribe/client.js';
import { fitTail, humanView, jsonView } from '../../src/cli/transcribe/view.js';
import { encodeWavPcm16 } from '../../src/results/index.js';

// The pieces of `transcribe --stream` that need no socket: the audio sources, the message parser
// and the two views. The command itself runs against a real listener in
// test/integration/transcribe-stream.test.ts.

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sw-transcribe-units-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function sink(
  isTTY: boolean,
  columns?: number,
): { out: string[]; write: (t: string) => void; isTTY: boolean; columns?: number } {
  const out: string[] = [];
  return {
    out,
    write: (t: string) => void out.push(t),
    isTTY,
    ...(columns !== undefined ? { columns } : {}),
  };
}

async function collect(frames: AsyncIterable<Buffer> | Iterable<Buffer>): Promise<number[]> {
  const sizes: number[] = [];
  for await (const frame of frames) sizes.push(frame.length);
  return sizes;
}

/** A WAV whose fmt chunk says what the test wants, with `dataBytes` of zeros. */
function wavWith(
  fmt: { format: number; rate: number; channels: number; bits: number },
  dataBytes = 3200,
): Buffer {
  const header = Buffer.alloc(44);
  const blockAlign = fmt.channels * Math.ceil(fmt.bits / 8);
  header.write('RIFF', 0, 'latin1');
  header.writeUInt32LE(36 + dataBytes, 4);
  header.write('WAVEfmt ', 8, 'latin1');
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(fmt.format, 20);
  header.writeUInt16LE(fmt.channels, 22);
  header.writeUInt32LE(fmt.rate, 24);
  header.writeUInt32LE(fmt.rate * blockAlign, 28);
  header.writeUInt16LE(blockAlign, 32);
  header.writeUInt16LE(fmt.bits, 34);
  header.write('data', 36, 'latin1');
  header.writeUInt32LE(dataBytes, 40);
  return Buffer.concat([header, Buffer.alloc(dataBytes)]);
}

describe('the audio sources', () => {
  it('cuts a 16 kHz mono 16-bit WAV into 100 ms frames (3200 bytes), the last one short', async () => {
    const path = join(dir, 'ok.wav');
    await writeFile(path, encodeWavPcm16(new Int16Array(16_000 * 0.35), 16_000, 1));
    const source = await openWav(path);
    expect(FRAME_BYTES).toBe(3200);
    expect(source.label).toMatch(/ok\.wav \(0\.[34] s\)$/);
    expect(await collect(source.frames)).toEqual([3200, 3200, 3200, 1600]);
  });

  it('names what a WAV is when it is not what the stream takes, with the ffmpeg line', async () => {
    const cases: [Parameters<typeof wavWith>[0], string][] = [
      [{ format: 3, rate: 16_000, channels: 1, bits: 32 }, '16000 Hz mono 32-bit float'],
      [{ format: 1, rate: 16_000, channels: 1, bits: 8 }, '16000 Hz mono 8-bit PCM'],
      [{ format: 1, rate: 48_000, channels: 6, bits: 16 }, '48000 Hz 6 channels 16-bit PCM'],
      [{ format: 6, rate: 8_000, channels: 1, bits: 8 }, '8000 Hz mono format 6 (8-bit)'],
    ];
    for (const [fmt, said] of cases) {
      const path = join(dir, 'x.wav');
      await writeFile(path, wavWith(fmt));
      await expect(openWav(path)).rejects.toThrow(
        `${path} is ${said}; the stream takes 16 kHz mono 16-bit PCM: convert it with ffmpeg -i in.wav -ar 16000 -ac 1 -c:a pcm_s16le out.wav`,
      );
    }
    // WAVE_FORMAT_EXTENSIBLE at 16 bits is the same samples: taken.
    const ext = join(dir, 'ext.wav');
    await writeFile(ext, wavWith({ format: 0xfffe, rate: 16_000, channels: 1, bits: 16 }));
    expect(await collect((await openWav(ext)).frames)).toEqual([3200]);
  });

  it('refuses an empty WAV and a file that is no WAV, each in one line with exit code 2', async () => {
    const empty = join(dir, 'empty.wav');
    await writeFile(empty, wavWith({ format: 1, rate: 16_000, channels: 1, bits: 16 }, 0));
    await expect(openWav(empty)).rejects.toMatchObject({
      message: `${empty} holds no audio (its data chunk is empty)`,
      exitCode: 2,
    });
    const text = join(dir, 'notes.txt');
    await writeFile(text, 'hello, this is not audio');
    await expect(openWav(text)).rejects.toMatchObject({
      message: expect.stringMatching(/^.*notes\.txt: not a WAV file: .*convert with: ffmpeg/) as unknown,
      exitCode: 2,
    });
  });

  it('re-cuts stdin into 100 ms frames whatever sizes the pipe delivers', async () => {
    const pipe = Readable.from([Buffer.alloc(5), Buffer.alloc(7000), Buffer.alloc(1), Buffer.alloc(300)], {
      objectMode: false,
    }) as unknown as NodeJS.ReadStream;
    const source = await openStdin(pipe);
    expect(source.label).toBe('stdin');
    expect(await collect(source.frames)).toEqual([3200, 3200, 906]);
  });

  it('refuses a terminal on stdin and says how to pipe a recorder in', async () => {
    const tty = Object.assign(Readable.from([]), { isTTY: true }) as unknown as NodeJS.ReadStream;
    await expect(openStdin(tty)).rejects.toThrow(
      /stdin is a terminal: pipe audio in, e\.g\. arecord -f S16_LE -r 16000 -c 1 \| studio-worker transcribe --stream - --model <id>/,
    );
  });
});

describe("the listener's messages", () => {
  it('parses partials, the final and errors; keeps anything else as it came', () => {
    expect(parseMessage('{"partial":true,"text":"hi"}')).toMatchObject({ kind: 'partial', text: 'hi' });
    expect(parseMessage('{"final":true,"text":"hi there"}')).toMatchObject({
      kind: 'final',
      text: 'hi there',
    });
    expect(parseMessage('{"error":"model unloaded"}')).toMatchObject({
      kind: 'error',
      message: 'model unloaded',
    });
    expect(parseMessage('{"hello":1}')).toEqual({ raw: { hello: 1 }, kind: 'other' });
    expect(parseMessage('not json')).toMatchObject({
      raw: undefined,
      kind: 'error',
      message: 'the listener sent something that is not JSON: not json',
    });
  });

  it('never shows a token', () => {
    expect(redactToken('ws://h:4798/transcribe?token=abc123')).toBe('ws://h:4798/transcribe?token=…');
    expect(redactToken('ws://h/transcribe?a=1&token=abc&b=2')).toBe('ws://h/transcribe?a=1&token=…&b=2');
  });
});

describe('the views', () => {
  it('rewrites one line on a terminal, then leaves the final on its own line', () => {
    const tty = sink(true, 40);
    const view = humanView(tty);
    view.message(parseMessage('{"partial":true,"text":"the"}'));
    view.message(parseMessage('{"partial":true,"text":"the quick"}'));
    view.message(parseMessage('{"final":true,"text":"the quick fox"}'));
    view.abandon();
    expect(tty.out).toEqual(['\r\x1b[2Kthe', '\r\x1b[2Kthe quick', '\r\x1b[2Kthe quick fox\n']);
  });

  it('shows the tail of a partial wider than the terminal, and ends an abandoned line', () => {
    const tty = sink(true, 20);
    const view = humanView(tty);
    view.message(parseMessage(`{"partial":true,"text":"${'a'.repeat(30)}bcd"}`));
    view.abandon();
    expect(tty.out).toEqual([`\r\x1b[2K…${'a'.repeat(15)}bcd`, '\n']);
    expect(fitTail('short', 80)).toBe('short');
  });

  it('prints a line per partial and the final last in a pipe; errors are left to stderr', () => {
    const pipe = sink(false);
    const view = humanView(pipe);
    view.message(parseMessage('{"partial":true,"text":"a"}'));
    view.message(parseMessage('{"error":"busy"}'));
    view.message(parseMessage('{"final":true,"text":"a b"}'));
    view.abandon();
    expect(pipe.out.join('')).toBe('a\na b\n');
  });

  it('--json: every message as one JSON line, unknown ones too', () => {
    const out = sink(false);
    const view = jsonView(out);
    for (const text of ['{"partial":true,"text":"a"}', '{"x":1}', '{"error":"busy"}', 'junk']) {
      view.message(parseMessage(text));
    }
    expect(out.out.join('')).toBe('{"partial":true,"text":"a"}\n{"x":1}\n{"error":"busy"}\n');
  });
});
