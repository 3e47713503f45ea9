/** What `parseWav` learns from a RIFF/WAVE header. */
export interface WavInfo {
  /** 1 = integer PCM, 3 = IEEE float, 0xFFFE = WAVE_FORMAT_EXTENSIBLE. */
  audioFormat: number;
  sampleRate: number;
  channels: number;
  bitsPerSample: number;
  /** Byte offset of the first sample in the file. */
  dataOffset: number;
  /** Length of the sample data in bytes. */
  dataBytes: number;
  durationSec: number;
}

/** A WAV file that cannot be read, with the reason in its message. */
export class WavError extends Error {
  override readonly name: string = 'WavError';
}

type Fmt = Pick<WavInfo, 'audioFormat' | 'channels' | 'sampleRate' | 'bitsPerSample'> & {
  blockAlign: number;
};

const RIFF_HEADER_BYTES = 12;
const CHUNK_HEADER_BYTES = 8;
const FMT_MIN_BYTES = 16;
/** Streaming writers put this in the data size when they cannot seek back to fill it in. */
const UNKNOWN_SIZE = 0xffffffff;

/** Encodes interleaved 16-bit samples as a canonical 44-byte-header PCM WAV. */
export function encodeWavPcm16(samples: Int16Array, sampleRate: number, channels: number): Uint8Array {
  if (!Number.isInteger(sampleRate) || sampleRate <= 0) throw new RangeError(`bad sample rate ${sampleRate}`);
  if (!Number.isInteger(channels) || channels <= 0) throw new RangeError(`bad channel count ${channels}`);
  if (samples.length % channels !== 0) {
    throw new RangeError(`${samples.length} samples do not split into ${channels} channels`);
  }
  const dataBytes = samples.length * 2;
  const out = new Uint8Array(44 + dataBytes);
  const view = new DataView(out.buffer);
  writeAscii(out, 0, 'RIFF');
  view.setUint32(4, 36 + dataBytes, true);
  writeAscii(out, 8, 'WAVE');
  writeAscii(out, 12, 'fmt ');
  view.setUint32(16, 16, true);
  view.setUint16(20, 1, true);
  view.setUint16(22, channels, true);
  view.setUint32(24, sampleRate, true);
  view.setUint32(28, sampleRate * channels * 2, true);
  view.setUint16(32, channels * 2, true);
  view.setUint16(34, 16, true);
  writeAscii(out, 36, 'data');
  view.setUint32(40, dataBytes, true);
  for (let i = 0; i < samples.length; i++) view.setInt16(44 + i * 2, samples[i] ?? 0, true);
  return out;
}

/**
 * Reads a RIFF/WAVE header: walks the chunks for `fmt ` and `data`, and checks that the data the
 * header promises is really there. Throws a `WavError` naming what is wrong.
 */
export function parseWav(bytes: Uint8Array): WavInfo {
  if (bytes.length < RIFF_HEADER_BYTES || readAscii(bytes, 0) !== 'RIFF' || readAscii(bytes, 8) !== 'WAVE') {
    throw new WavError(`not a WAV file: it does not start with RIFF....WAVE (first bytes ${hexHead(bytes)})`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let fmt: Fmt | undefined;
  let offset = RIFF_HEADER_BYTES;
  while (offset + CHUNK_HEADER_BYTES <= bytes.length) {
    const id = readAscii(bytes, offset);
    const size = view.getUint32(offset + 4, true);
    const body = offset + CHUNK_HEADER_BYTES;
    if (id === 'fmt ') {
      if (size < FMT_MIN_BYTES || body + size > bytes.length)
        throw new WavError(`WAV fmt chunk is truncated`);
      fmt = {
        audioFormat: view.getUint16(body, true),
        channels: view.getUint16(body + 2, true),
        sampleRate: view.getUint32(body + 4, true),
        blockAlign: view.getUint16(body + 12, true),
        bitsPerSample: view.getUint16(body + 14, true),
      };
    } else if (id === 'data') {
      if (!fmt) throw new WavError('WAV data chunk comes before its fmt chunk');
      const available = bytes.length - body;
      const dataBytes = size === UNKNOWN_SIZE ? available : size;
      if (dataBytes > available) {
        throw new WavError(
          `WAV data chunk is truncated: header says ${dataBytes} bytes, file holds ${available}`,
        );
      }
      return describe(fmt, body, dataBytes);
    }
    // Chunks are padded to an even length.
    offset = body + size + (size % 2);
  }
  throw new WavError(fmt ? 'WAV file has no data chunk' : 'WAV file has no fmt chunk');
}

function describe(fmt: Fmt, dataOffset: number, dataBytes: number): WavInfo {
  const { audioFormat, channels, sampleRate, bitsPerSample, blockAlign } = fmt;
  if (channels === 0 || sampleRate === 0 || bitsPerSample === 0) {
    throw new WavError(
      `WAV fmt chunk is invalid: ${channels} channels, ${sampleRate} Hz, ${bitsPerSample} bits`,
    );
  }
  if (blockAlign !== channels * Math.ceil(bitsPerSample / 8)) {
    throw new WavError(
      `WAV block align ${blockAlign} does not fit ${channels} channels × ${bitsPerSample} bits`,
    );
  }
  return {
    audioFormat,
    sampleRate,
    channels,
    bitsPerSample,
    dataOffset,
    dataBytes,
    durationSec: Math.floor(dataBytes / blockAlign) / sampleRate,
  };
}

function writeAscii(out: Uint8Array, offset: number, text: string): void {
  for (let i = 0; i < text.length; i++) out[offset + i] = text.charCodeAt(i);
}

function readAscii(bytes: Uint8Array, offset: number): string {
  return String.fromCharCode(...bytes.subarray(offset, offset + 4));
}

function hexHead(bytes: Uint8Array): string {
  return Buffer.from(bytes.subarray(0, 8)).toString('hex') || 'none';
}
