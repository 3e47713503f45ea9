import { badRequest, notFound } from './errors.js';

export interface ServedFile {
  bytes: Uint8Array;
  contentType: string;
}

const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** A 16-bit PCM mono WAV of a sine tone: the built-in `sample.wav` that audio_stt jobs can point at. */
export function toneWav({ seconds = 1, sampleRate = 16_000, hz = 440, amplitude = 0.3 } = {}): Buffer {
  const samples = Math.round(seconds * sampleRate);
  const dataBytes = samples * 2;
  const wav = Buffer.alloc(44 + dataBytes);
  wav.write('RIFF', 0, 'ascii');
  wav.writeUInt32LE(36 + dataBytes, 4);
  wav.write('WAVE', 8, 'ascii');
  wav.write('fmt ', 12, 'ascii');
  wav.writeUInt32LE(16, 16); // fmt chunk size
  wav.writeUInt16LE(1, 20); // PCM
  wav.writeUInt16LE(1, 22); // mono
  wav.writeUInt32LE(sampleRate, 24);
  wav.writeUInt32LE(sampleRate * 2, 28); // byte rate
  wav.writeUInt16LE(2, 32); // block align
  wav.writeUInt16LE(16, 34); // bits per sample
  wav.write('data', 36, 'ascii');
  wav.writeUInt32LE(dataBytes, 40);
  for (let i = 0; i < samples; i++) {
    const value = Math.round(Math.sin((2 * Math.PI * hz * i) / sampleRate) * amplitude * 32767);
    wav.writeInt16LE(value, 44 + i * 2);
  }
  return wav;
}

/** Small in-memory files served at `GET /files/:name` (audio inputs, init images). */
export class FileStore {
  private readonly files = new Map<string, ServedFile>();

  constructor(private readonly baseUrl: () => string) {}

  /** Serves `bytes` at `/files/:name`; returns that URL. */
  add(name: string, bytes: Uint8Array, contentType: string): string {
    this.put(name, bytes, contentType);
    return this.urlOf(name);
  }

  /** Like `add`, usable before the server knows its URL. */
  put(name: string, bytes: Uint8Array, contentType: string): void {
    if (!SAFE_NAME.test(name))
      throw badRequest(`file name ${JSON.stringify(name)} must match ${SAFE_NAME.source}`);
    this.files.set(name, { bytes, contentType });
  }

  get(name: string): ServedFile {
    const file = this.files.get(name);
    if (!file) throw notFound(`file ${name}`);
    return file;
  }

  urlOf(name: string): string {
    return new URL(`files/${encodeURIComponent(name)}`, this.baseUrl()).href;
  }
}
