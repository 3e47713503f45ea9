import { toError } from '../util/index.js';
import { loadBytes } from './binary.js';
import { failed, formatBytes, type BinaryResult, type VerifyOutcome } from './types.js';
import { parseWav } from './wav.js';

const PCM = 1;

/** A speech result must be a PCM WAV whose RIFF and data sizes agree with the file. */
export async function verifyTts(result: BinaryResult): Promise<VerifyOutcome> {
  if (result.ext !== 'wav') return failed(`unsupported audio ext "${result.ext}" (expected wav)`);
  const bytes = await loadBytes(result);
  let info;
  try {
    info = parseWav(bytes);
  } catch (e) {
    return failed(toError(e).message);
  }
  if (info.audioFormat !== PCM) return failed(`WAV is not PCM (format tag ${info.audioFormat})`);
  const blockAlign = info.channels * (info.bitsPerSample / 8);
  if (info.dataBytes % blockAlign !== 0) {
    return failed(`WAV data (${info.dataBytes} bytes) is not a whole number of ${blockAlign}-byte frames`);
  }
  const riffSize = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(4, true);
  if (riffSize + 8 !== bytes.length && riffSize + 8 !== bytes.length - 1) {
    return failed(`WAV RIFF size says ${riffSize + 8} bytes, file has ${bytes.length}`);
  }
  if (info.dataBytes === 0) return failed('WAV holds no samples');
  const layout = info.channels === 1 ? 'mono' : info.channels === 2 ? 'stereo' : `${info.channels} ch`;
  return {
    ok: true,
    summary: `wav ${info.sampleRate} Hz ${layout}, ${info.durationSec.toFixed(1)} s`,
    details: { ...info, bytes: bytes.length, size: formatBytes(bytes.length) },
  };
}
