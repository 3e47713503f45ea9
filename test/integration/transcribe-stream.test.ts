import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeWavPcm16 } from '../../src/results/index.js';
import {
  StreamTokens,
  startStreamListener,
  type StreamListener,
  type StreamSessionEvent,
  type Transcriber,
} from '../../src/stt-stream/index.js';
import { Scripted, pcm } from '../stt-stream/scripted.js';
import { CLI, runCli, type CliResult } from '../support/cli.js';

// `studio-worker transcribe --stream` (the built CLI) against a REAL stream listener on loopback.
// Only the speech model is a stand-in: the scripted transcriber of test/stt-stream/scripted.ts,
// which says the words the test wrote for it, one per 100 ms of audio.

const WORDS = ['\u2581the', '\u2581quick', '\u2581brown', '\u2581fox'];

let dir: string;
let listener: StreamListener | undefined;
let tokens: StreamTokens;
let events: StreamSessionEvent[];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sw-transcribe-'));
  tokens = new StreamTokens();
  events = [];
});

afterEach(async () => {
  await listener?.close();
  listener = undefined;
  await rm(dir, { recursive: true, force: true });
});

/** A listener on 127.0.0.1:any whose every stream gets `make()` (scripted words by default). */
async function startListener(make: () => Transcriber | string = () => new Scripted(WORDS)): Promise<void> {
  listener = await startStreamListener({
    tokens,
    host: '127.0.0.1',
    port: 0,
    closeGraceMs: 200,
    open: () => Promise.resolve(make()),
    onSession: (e) => events.push(e),
  });
}

function streamUrl(token = tokens.mint('stt-a', 300).token): string {
  return `ws://127.0.0.1:${listener!.port}/transcribe?token=${token}`;
}

/** A WAV of `ms` of speech-loud samples (never silence, so the listener's VAD never ends it early). */
async function writeWav(name: string, ms: number, rate = 16_000, channels = 1): Promise<string> {
  const frames = Math.round((ms * rate) / 1000);
  const samples = Int16Array.from({ length: frames * channels }, (_, i) => (i % 2 === 0 ? 8000 : -8000));
  const path = join(dir, name);
  await writeFile(path, encodeWavPcm16(samples, rate, channels));
  return path;
}

/** The CLI with `input` on its stdin; resolves at its exit. */
function runWithStdin(args: string[], input: Buffer): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, LOG_LEVEL: 'warn' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('exit', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    child.stdin.end(input);
  });
}

function lines(text: string): string[] {
  return text.split('\n').filter((line) => line !== '');
}

describe('transcribe --stream against a real listener (scripted stand-in transcriber)', () => {
  it('prints the partials as they grow, then the one final, and exits 0 (scripted stand-in transcriber)', async () => {
    await startListener();
    const wav = await writeWav('speech.wav', 400);
    const { code, stdout, stderr } = await runCli(['transcribe', '--stream', wav, '--url', streamUrl()]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    // Not a terminal: a line per partial, the final last.
    expect(lines(stdout)).toEqual([
      'the',
      'the quick',
      'the quick brown',
      'the quick brown fox',
      'the quick brown fox',
    ]);
    // Every byte of the WAV's audio reached the listener, in one session that ended on its final.
    const end = events.find((e) => e.type === 'end');
    expect(end).toMatchObject({ model: 'stt-a', finalText: 'the quick brown fox', audioBytes: 400 * 32 });
    expect(end).not.toHaveProperty('error');
  });

  it('--json prints every message from the listener as a JSON line (scripted stand-in transcriber)', async () => {
    await startListener();
    const wav = await writeWav('speech.wav', 200);
    const { code, stdout } = await runCli(['transcribe', '--stream', wav, '--url', streamUrl(), '--json']);
    expect(code).toBe(0);
    expect(lines(stdout).map((line) => JSON.parse(line) as unknown)).toEqual([
      { partial: true, text: 'the' },
      { partial: true, text: 'the quick' },
      { final: true, text: 'the quick brown fox' },
    ]);
  });

  it('reads raw 16 kHz mono s16le PCM from stdin with - (scripted stand-in transcriber)', async () => {
    await startListener();
    // 330 ms: three whole 100 ms frames and a short last one.
    const { code, stdout, stderr } = await runWithStdin(
      ['transcribe', '--stream', '-', '--url', streamUrl()],
      pcm(330, 8000),
    );
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(lines(stdout).at(-1)).toBe('the quick brown fox');
    expect(events.find((e) => e.type === 'end')).toMatchObject({ audioBytes: 330 * 32 });
  });

  it('exits on the final even while the recorder keeps stdin open (scripted stand-in transcriber)', async () => {
    await startListener();
    const child = spawn(process.execPath, [CLI, 'transcribe', '--stream', '-', '--url', streamUrl()], {
      env: { ...process.env, LOG_LEVEL: 'warn' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    // Speech, then 2 s of silence: the listener's VAD ends the utterance; stdin is never closed.
    child.stdin.write(Buffer.concat([pcm(300, 8000), Buffer.alloc(2000 * 32)]));
    expect(await exited).toBe(0);
    expect(lines(stdout).at(-1)).toBe('the quick brown fox');
    child.stdin.destroy();
  });

  it('refuses a WAV piped into - and names the fix', async () => {
    await startListener();
    const wav = encodeWavPcm16(new Int16Array(1600), 16_000, 1);
    const { code, stderr } = await runWithStdin(
      ['transcribe', '--stream', '-', '--url', streamUrl()],
      Buffer.from(wav),
    );
    expect(code).toBe(2);
    expect(stderr).toContain("stdin holds a WAV file, but - takes raw PCM: give the file's path instead");
    expect(events).toEqual([]);
  });

  it('answers a refused token with the 401 in one line and exit code 2', async () => {
    await startListener();
    const wav = await writeWav('speech.wav', 200);
    const { code, stdout, stderr } = await runCli([
      'transcribe',
      '--stream',
      wav,
      '--url',
      streamUrl('0'.repeat(64)),
    ]);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(lines(stderr)).toEqual([
      expect.stringMatching(
        /^studio-worker: the stream listener refused the token \(401 unknown stream token\): .*mint a fresh one/,
      ),
    ]);
  });

  it('refuses a WAV that is not 16 kHz mono with the ffmpeg line that converts it, before connecting', async () => {
    await startListener();
    const wav = await writeWav('cd.wav', 100, 44_100, 2);
    const { code, stderr } = await runCli(['transcribe', '--stream', wav, '--url', streamUrl()]);
    expect(code).toBe(2);
    expect(lines(stderr)).toEqual([
      `studio-worker: ${wav} is 44100 Hz stereo 16-bit PCM; the stream takes 16 kHz mono 16-bit PCM: convert it with ffmpeg -i in.wav -ar 16000 -ac 1 -c:a pcm_s16le out.wav`,
    ]);
    expect(events).toEqual([]);
  });

  it("reports the listener's error in one line with exit code 5 (scripted stand-in transcriber)", async () => {
    await startListener(() => 'model stt-a is not loaded (unloaded)');
    const wav = await writeWav('speech.wav', 200);
    const refused = await runCli(['transcribe', '--stream', wav, '--url', streamUrl()]);
    expect(refused.code).toBe(5);
    expect(refused.stderr).toBe('studio-worker: the stream listener: model stt-a is not loaded (unloaded)\n');

    await listener!.close();
    await startListener(() => new Scripted(WORDS, 2));
    const failed = await runCli(['transcribe', '--stream', wav, '--url', streamUrl()]);
    expect(failed.code).toBe(5);
    expect(lines(failed.stdout)).toEqual(['the', 'the quick']);
    expect(failed.stderr).toBe('studio-worker: the stream listener: transcription failed: cuda went away\n');
  });

  it('exits 0 on the final the listener sends by itself at a pause (1.5 s of silence) (scripted stand-in transcriber)', async () => {
    await startListener();
    const path = join(dir, 'pause.wav');
    const audio = Buffer.concat([pcm(300, 8000), Buffer.alloc(2000 * 32), pcm(3000, 8000)]);
    const samples = new Int16Array(audio.buffer, audio.byteOffset, audio.length / 2);
    await writeFile(path, encodeWavPcm16(samples, 16_000, 1));
    const { code, stdout } = await runCli(['transcribe', '--stream', path, '--url', streamUrl()]);
    expect(code).toBe(0);
    expect(lines(stdout).at(-1)).toBe('the quick brown fox');
    const end = events.find((e) => e.type === 'end');
    expect(end).toMatchObject({ finalText: 'the quick brown fox' });
    expect(end?.type === 'end' && end.audioBytes).toBeLessThan(audio.length);
  });

  it('streams as fast as a slow model takes it, every byte delivered (a slow stand-in transcriber)', async () => {
    // A stand-in that takes 5 ms a step: the listener falls behind, pauses the socket, and the
    // client waits on its writes instead of failing or dropping audio.
    class Slow extends Scripted {
      override async step(chunk: Float32Array): Promise<string> {
        await new Promise((resolve) => setTimeout(resolve, 5));
        return super.step(chunk);
      }
    }
    await startListener(() => new Slow(WORDS));
    const wav = await writeWav('long.wav', 5000);
    const { code, stdout } = await runCli(['transcribe', '--stream', wav, '--url', streamUrl()]);
    expect(code).toBe(0);
    expect(lines(stdout).at(-1)).toBe('the quick brown fox');
    expect(events.find((e) => e.type === 'end')).toMatchObject({ audioBytes: 5000 * 32 });
  });

  it('--realtime paces the audio as a microphone would (scripted stand-in transcriber)', async () => {
    await startListener();
    const wav = await writeWav('speech.wav', 1000);
    const started = Date.now();
    const { code } = await runCli(['transcribe', '--stream', wav, '--url', streamUrl(), '--realtime']);
    expect(code).toBe(0);
    const end = events.find((e) => e.type === 'end');
    expect(end?.type === 'end' && end.finishedAt.getTime() - end.startedAt.getTime()).toBeGreaterThanOrEqual(
      900,
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });

  it('Ctrl+C sends cancel: the listener drops the utterance and the CLI exits 130 (scripted stand-in transcriber)', async () => {
    await startListener();
    const wav = await writeWav('long.wav', 20_000);
    const child = spawn(
      process.execPath,
      [CLI, 'transcribe', '--stream', wav, '--url', streamUrl(), '--realtime'],
      { env: { ...process.env, LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await new Promise<void>((resolve) =>
      child.stdout.on('data', (c: Buffer) => {
        stdout += c.toString();
        if (stdout.includes('\n')) resolve();
      }),
    );
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(stderr).toContain('studio-worker: transcribe: cancelled (Ctrl+C)');
    const end = events.find((e) => e.type === 'end');
    // A cancel is neither a final nor an error, and the 20 s were not all sent.
    expect(end).not.toHaveProperty('finalText');
    expect(end).not.toHaveProperty('error');
    expect(end?.type === 'end' && end.audioBytes).toBeLessThan(20_000 * 32);
  });

  it('teaches itself in --help: a WAV example, the arecord pipe, and its exit codes', async () => {
    const { code, stdout } = await runCli(['transcribe', '--help']);
    expect(code).toBe(0);
    expect(stdout).toMatch(
      /Examples?:\n( {2}#.*\n)? {2}studio-worker transcribe --stream speech\.wav --model /,
    );
    expect(stdout).toContain(
      'arecord -f S16_LE -r 16000 -c 1 | studio-worker transcribe --stream - --model <id>',
    );
    expect(stdout).toContain('raw 16 kHz mono s16le PCM on stdin');
    expect(stdout).toMatch(/130 {2}Ctrl\+C/);
  });
});
