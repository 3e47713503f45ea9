import { readFile } from 'node:fs/promises';
import { parseWav, WavError, type WavInfo } from '../../results/index.js';
import { SAMPLE_RATE } from '../../stt-stream/index.js';
import { UserError } from '../../util/index.js';

/** Bytes of 16 kHz mono s16le PCM per millisecond (16 samples × 2 bytes). */
export const BYTES_PER_MS = (SAMPLE_RATE / 1000) * 2;
/** One frame on the socket: 100 ms of audio, the size a microphone client sends. */
export const FRAME_BYTES = 100 * BYTES_PER_MS;

/** The command that turns any audio into what the stream takes. */
export const CONVERT_HINT = 'ffmpeg -i in.wav -ar 16000 -ac 1 -c:a pcm_s16le out.wav';

/** Where the PCM comes from: frames of at most FRAME_BYTES, a name for messages, and a way to stop reading. */
export interface AudioSource {
  /** What the audio is, for the status line: "speech.wav (3.2 s)" or "stdin". */
  label: string;
  frames: AsyncIterable<Buffer> | Iterable<Buffer>;
  /** Stops reading (stdin would otherwise keep the process alive after the final). */
  close: () => void;
}

/** `-` reads raw PCM from stdin; anything else is a WAV file's path. */
export async function openAudio(
  input: string,
  stdin: NodeJS.ReadStream = process.stdin,
): Promise<AudioSource> {
  return input === '-' ? openStdin(stdin) : openWav(input);
}

/** A WAV file whose header says 16 kHz mono 16-bit integer PCM; anything else is refused with the fix. */
export async function openWav(path: string): Promise<AudioSource> {
  const bytes = await readFile(path);
  let info: WavInfo;
  try {
    info = parseWav(bytes);
  } catch (e) {
    if (!(e instanceof WavError)) throw e;
    throw new UserError(
      `${path}: ${e.message}; the stream takes a 16 kHz mono 16-bit PCM WAV (convert with: ${CONVERT_HINT}) or raw PCM on stdin with -`,
    );
  }
  if (!isStreamFormat(info)) {
    throw new UserError(
      `${path} is ${describeFormat(info)}; the stream takes 16 kHz mono 16-bit PCM: convert it with ${CONVERT_HINT}`,
    );
  }
  // A stray odd byte at the end is half a sample: not audio.
  const whole = info.dataBytes - (info.dataBytes % 2);
  if (whole === 0) throw new UserError(`${path} holds no audio (its data chunk is empty)`);
  const pcm = bytes.subarray(info.dataOffset, info.dataOffset + whole);
  return {
    label: `${path} (${(whole / BYTES_PER_MS / 1000).toFixed(1)} s)`,
    frames: sliceFrames(pcm),
    close: () => undefined,
  };
}

// 1 is plain PCM; WAVE_FORMAT_EXTENSIBLE with 16 bits is what some tools write for the same samples
// (its float subformats are 32 or 64 bits, so 16 bits can only be integers).
function isStreamFormat(info: WavInfo): boolean {
  const pcm = info.audioFormat === 1 || info.audioFormat === 0xfffe;
  return pcm && info.sampleRate === SAMPLE_RATE && info.channels === 1 && info.bitsPerSample === 16;
}

function describeFormat(info: WavInfo): string {
  const channels =
    info.channels === 1 ? 'mono' : info.channels === 2 ? 'stereo' : `${info.channels} channels`;
  const encoding =
    info.audioFormat === 1 || info.audioFormat === 0xfffe
      ? `${info.bitsPerSample}-bit PCM`
      : info.audioFormat === 3
        ? `${info.bitsPerSample}-bit float`
        : `format ${info.audioFormat} (${info.bitsPerSample}-bit)`;
  return `${info.sampleRate} Hz ${channels} ${encoding}`;
}

function* sliceFrames(pcm: Buffer): Generator<Buffer> {
  for (let at = 0; at < pcm.length; at += FRAME_BYTES) yield pcm.subarray(at, at + FRAME_BYTES);
}

/**
 * Raw PCM on stdin (a recorder's pipe). Its first bytes are read before anything is sent, so a
 * terminal, an empty pipe or a whole WAV file piped in is refused before a token is minted.
 */
export async function openStdin(stdin: NodeJS.ReadStream): Promise<AudioSource> {
  if (stdin.isTTY) {
    throw new UserError(
      '--stream - reads raw 16 kHz mono s16le PCM from stdin, but stdin is a terminal: pipe audio in, e.g. arecord -f S16_LE -r 16000 -c 1 | studio-worker transcribe --stream - --model <id>',
    );
  }
  const chunks = stdin[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let head = Buffer.alloc(0);
  while (head.length < 12) {
    const next = await chunks.next();
    if (next.done) break;
    head = Buffer.concat([head, next.value]);
  }
  if (head.length === 0) {
    throw new UserError(
      'stdin is empty: pipe raw 16 kHz mono s16le PCM in (or give a WAV file instead of -)',
    );
  }
  if (
    head.subarray(0, 4).toString('latin1') === 'RIFF' &&
    head.subarray(8, 12).toString('latin1') === 'WAVE'
  ) {
    throw new UserError(
      "stdin holds a WAV file, but - takes raw PCM: give the file's path instead (--stream file.wav), or pipe raw PCM: ffmpeg -i in.wav -ar 16000 -ac 1 -f s16le - | studio-worker transcribe --stream - …",
    );
  }
  return {
    label: 'stdin',
    frames: rechunk(head, chunks),
    close: () => stdin.destroy(),
  };
}

/** The pipe's chunks (whatever size the writer used) cut into 100 ms frames; a short last frame goes too. */
async function* rechunk(head: Buffer, rest: AsyncIterator<Buffer>): AsyncGenerator<Buffer> {
  let pending = head;
  for (;;) {
    while (pending.length >= FRAME_BYTES) {
      yield pending.subarray(0, FRAME_BYTES);
      pending = pending.subarray(FRAME_BYTES);
    }
    const next = await rest.next();
    if (next.done) break;
    pending = pending.length === 0 ? next.value : Buffer.concat([pending, next.value]);
  }
  if (pending.length > 0) yield pending;
}
