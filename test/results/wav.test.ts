import { describe, expect, it } from 'vitest';
import { encodeWavPcm16, parseWav, WavError } from '../../src/results/index.js';

/** A WAV with a LIST chunk of odd length (padded to even) between fmt and data, as many tools write. */
function wavWithListChunk(): Uint8Array {
  const plain = encodeWavPcm16(new Int16Array([1, -1, 2, -2, 3, -3]), 8000, 2);
  const list = new Uint8Array([...new TextEncoder().encode('LIST'), 3, 0, 0, 0, 0x61, 0x62, 0x63, 0]);
  const out = new Uint8Array(plain.length + list.length);
  out.set(plain.subarray(0, 36));
  out.set(list, 36);
  out.set(plain.subarray(36), 36 + list.length);
  new DataView(out.buffer).setUint32(4, out.length - 8, true);
  return out;
}

describe('WAV files', () => {
  it('round-trip: what encodeWavPcm16 writes, parseWav reads back', () => {
    const wav = encodeWavPcm16(new Int16Array(16000), 16000, 1);
    expect(parseWav(wav)).toEqual({
      audioFormat: 1,
      sampleRate: 16000,
      channels: 1,
      bitsPerSample: 16,
      dataOffset: 44,
      dataBytes: 32000,
      durationSec: 1,
    });
  });

  it('are read past chunks they do not know, honouring the padding byte', () => {
    expect(parseWav(wavWithListChunk())).toMatchObject({
      channels: 2,
      dataOffset: 56,
      dataBytes: 12,
      durationSec: 3 / 8000,
    });
  });

  it.each([
    ['a file that is not RIFF/WAVE', new TextEncoder().encode('OggS and more bytes'), /not a WAV file/],
    [
      'a file with no data chunk',
      encodeWavPcm16(new Int16Array(4), 8000, 1).subarray(0, 36),
      /no data chunk/,
    ],
    [
      'a data chunk longer than the file',
      encodeWavPcm16(new Int16Array(400), 8000, 1).subarray(0, 100),
      /truncated/,
    ],
  ])('are refused with a clear WavError for %s', (_, bytes, message) => {
    expect(() => parseWav(bytes)).toThrow(WavError);
    expect(() => parseWav(bytes)).toThrow(message);
  });

  it('cannot be encoded from samples that do not split into the channels', () => {
    expect(() => encodeWavPcm16(new Int16Array(3), 8000, 2)).toThrow(RangeError);
  });
});
