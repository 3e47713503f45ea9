import { once } from 'node:events';
import { createConnection } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Client, startHarness, until, type Harness } from './client.js';
import { WordPerChunk, pcm } from './scripted.js';

let h: Harness | undefined;

afterEach(async () => {
  await h?.listener.close();
  h = undefined;
});

async function start(opts: Parameters<typeof startHarness>[0] = {}): Promise<Harness> {
  h = await startHarness(opts);
  return h;
}

/** A 16 kHz mono 16-bit PCM WAV file. */
function wav(samples: Int16Array): Buffer {
  const data = Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength);
  const header = Buffer.alloc(44);
  header.write('RIFF', 0);
  header.writeUInt32LE(36 + data.length, 4);
  header.write('WAVEfmt ', 8);
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20); // PCM
  header.writeUInt16LE(1, 22); // mono
  header.writeUInt32LE(16_000, 24);
  header.writeUInt32LE(32_000, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36);
  header.writeUInt32LE(data.length, 40);
  return Buffer.concat([header, data]);
}

/** The PCM of a WAV's `data` chunk, after checking it is what the stream takes. */
function wavPcm(file: Buffer): Buffer {
  expect(file.toString('ascii', 0, 4) + file.toString('ascii', 8, 12)).toBe('RIFFWAVE');
  for (let at = 12; at + 8 <= file.length;) {
    const id = file.toString('ascii', at, at + 4);
    const size = file.readUInt32LE(at + 4);
    if (id === 'fmt ') {
      expect([file.readUInt16LE(at + 8), file.readUInt16LE(at + 10), file.readUInt32LE(at + 12)]).toEqual([
        1, 1, 16_000,
      ]);
      expect(file.readUInt16LE(at + 22)).toBe(16);
    }
    if (id === 'data') return file.subarray(at + 8, at + 8 + size);
    at += 8 + size + (size % 2);
  }
  throw new Error('no data chunk');
}

/** 300 ms of noise, 300 ms of silence, 500 ms of a 440 Hz tone: 8 non-silent 100 ms chunks. */
function speechLikeWav(): Buffer {
  const samples = new Int16Array(1100 * 16);
  let seed = 12345;
  for (let i = 0; i < 300 * 16; i += 1) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    samples[i] = Math.round((seed / 2 ** 31 - 0.5) * 12_000);
  }
  for (let i = 0; i < 500 * 16; i += 1) {
    samples[600 * 16 + i] = Math.round(Math.sin((2 * Math.PI * 440 * i) / 16_000) * 10_000);
  }
  return wav(samples);
}

describe('the stream listener on a real socket', () => {
  it("streams a WAV's PCM in odd-sized frames: partials, then exactly one final", async () => {
    const h = await start();
    const client = await h.connect(h.token());
    const audio = wavPcm(speechLikeWav());
    for (let at = 0; at < audio.length; at += 4001) await client.send(audio.subarray(at, at + 4001));
    await client.send('end');
    const { frames, code } = await client.drain();
    const words = Array.from({ length: 8 }, (_, i) => `w${i + 1}`);
    const partials = words.map((_, i) => ({ partial: true, text: words.slice(0, i + 1).join(' ') }));
    expect(frames).toEqual([...partials, { final: true, text: words.join(' ') }]);
    expect(frames.filter((f) => (f as { final?: boolean }).final)).toHaveLength(1);
    expect(code).toBe(1005);
    await until(() => h.listener.activeSessions() === 0);
    expect(h.events.at(-1)).toMatchObject({
      type: 'end',
      finalText: words.join(' '),
      audioBytes: audio.length,
    });
  });

  it('finalises by itself after 1.5 s of silence following speech', async () => {
    const h = await start();
    const client = await h.connect(h.token());
    await client.send(pcm(400, 8000));
    await client.send(pcm(1600, 0));
    const { frames } = await client.drain();
    expect(frames.at(-1)).toEqual({ final: true, text: 'w1 w2 w3 w4' });
  });

  it('refuses a missing or empty token with 401, and plain HTTP with 426/404', async () => {
    const h = await start();
    const base = `ws://127.0.0.1:${h.listener.port}`;
    await expect(Client.connect(`${base}/transcribe`)).rejects.toMatchObject({
      status: 401,
      body: 'missing stream token',
    });
    await expect(h.connect('')).rejects.toMatchObject({ status: 401, body: 'unknown stream token' });
    const plain = await fetch(`http://127.0.0.1:${h.listener.port}/transcribe`);
    expect(plain.status).toBe(426);
    expect((await fetch(`http://127.0.0.1:${h.listener.port}/`)).status).toBe(404);
  });

  it('closes an oversized frame with 1009 and leaks no session', async () => {
    const h = await start({ maxFrameBytes: 4096 });
    const client = await h.connect(h.token());
    client.ws.send(Buffer.alloc(4097));
    expect((await client.drain()).code).toBe(1009);
    await until(() => h.listener.activeSessions() === 0);
    expect(h.events.at(-1)).toMatchObject({ type: 'end', error: 'stream broke: Max payload size exceeded' });
    // The model is free again.
    const next = await h.connect(h.token());
    await next.send(pcm(100, 8000));
    await next.send('end');
    expect((await next.drain()).frames.at(-1)).toEqual({ final: true, text: 'w1' });
  });

  it('a client that drops mid-stream ends its session and frees the model', async () => {
    const h = await start();
    const client = await h.connect(h.token());
    await client.send(pcm(100, 8000));
    expect(await client.next()).toEqual({ partial: true, text: 'w1' });
    client.ws.terminate(); // no close frame: the TCP connection just goes
    await until(() => h.listener.activeSessions() === 0);
    expect(h.transcribers[0]?.closed).toBe(true);
    expect(h.events.at(-1)).toMatchObject({ type: 'end', error: 'client left before the final' });
    const next = await h.connect(h.token());
    await next.send(pcm(100, 8000));
    await next.send('end');
    expect((await next.drain()).frames).toEqual([
      { partial: true, text: 'w1' },
      { final: true, text: 'w1' },
    ]);
  });

  it('refuses a session past the limit with 1013, and takes it once a slot is free', async () => {
    const h = await start({ maxSessions: 2, loaded: ['stt-a', 'stt-b', 'stt-c'] });
    const a = await h.connect(h.token('stt-a'));
    const b = await h.connect(h.token('stt-b'));
    await until(() => h.listener.activeSessions() === 2);
    const c = await h.connect(h.token('stt-c'));
    expect(await c.drain()).toEqual({
      frames: [{ error: 'too many streams open (at most 2); try again later' }],
      code: 1013,
    });
    await a.send('cancel');
    await a.drain();
    await until(() => h.listener.activeSessions() === 1);
    const again = await h.connect(h.token('stt-c'));
    await again.send(pcm(100, 8000));
    expect(await again.next()).toEqual({ partial: true, text: 'w1' });
    await Promise.all([again.send('cancel'), b.send('cancel')]);
  });

  it('a slow model holds back a fast client without losing audio', async () => {
    // Each step takes 5 ms: 20 frames sent at once queue up, pause the socket, and all get heard.
    const slow = new WordPerChunk();
    const step = slow.step.bind(slow);
    slow.step = async (chunk) => {
      await new Promise((r) => setTimeout(r, 5));
      return step(chunk);
    };
    const h = await start({ open: () => Promise.resolve(slow) });
    const client = await h.connect(h.token());
    const sends = Array.from({ length: 20 }, () => client.send(pcm(100, 8000)));
    await Promise.all([...sends, client.send('end')]);
    const { frames } = await client.drain();
    expect(frames).toHaveLength(21);
    expect(frames.at(-1)).toEqual({
      final: true,
      text: Array.from({ length: 20 }, (_, i) => `w${i + 1}`).join(' '),
    });
  });

  it('closes a session that sends nothing for the idle time with 1008', async () => {
    const h = await start({ idleTimeoutMs: 150 });
    const quiet = await h.connect(h.token());
    expect(await quiet.drain()).toEqual({ frames: [{ error: 'no audio for 0.15 s' }], code: 1008 });
    await until(() => h.listener.activeSessions() === 0);
    expect(h.events.at(-1)).toMatchObject({ type: 'end', error: 'no audio for 0.15 s' });
  });

  it('a client that keeps sending is not idle', async () => {
    const h = await start({ idleTimeoutMs: 150 });
    const client = await h.connect(h.token());
    for (let i = 0; i < 6; i += 1) {
      await client.send(pcm(100, 0));
      await new Promise((r) => setTimeout(r, 60));
    }
    await client.send('end');
    expect(await client.drain()).toEqual({ frames: [{ final: true, text: '' }], code: 1005 });
  });

  it('drops a connection that never finishes its handshake', async () => {
    const h = await start({ handshakeTimeoutMs: 100 });
    const socket = createConnection({ host: '127.0.0.1', port: h.listener.port });
    await once(socket, 'connect');
    const started = Date.now();
    await once(socket, 'close');
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('a transcriber that cannot open is reported and recorded', async () => {
    const h = await start({
      open: () => Promise.reject(new Error('no session', { cause: new Error('out of memory') })),
    });
    const client = await h.connect(h.token());
    expect((await client.drain()).frames).toEqual([
      { error: 'could not open a stream: no session: out of memory' },
    ]);
    await until(() => h.listener.activeSessions() === 0);
    expect(h.events.map((e) => e.type)).toEqual(['start', 'end']);
  });

  it('close() tells every session and stops listening', async () => {
    const h = await start();
    const client = await h.connect(h.token());
    await client.send(pcm(100, 8000));
    await client.next();
    await h.listener.close();
    expect(await client.drain()).toEqual({
      frames: [{ partial: true, text: 'w1' }, { error: 'the stream listener is shutting down' }],
      code: 1001,
    });
    expect(h.listener.activeSessions()).toBe(0);
    await expect(h.connect(h.token())).rejects.toThrow();
  });
});
