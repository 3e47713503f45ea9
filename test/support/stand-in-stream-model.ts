/**
 * STAND-IN model files for the parakeet engine: the four names a sherpa-onnx streaming
 * transducer needs, holding text, not ONNX (no weights can be obtained here). The real sherpa-onnx
 * refuses them with its own error, which is what the tests that use them check.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ModelSource } from '../../src/protocol/index.js';

const NAMES = ['encoder.onnx', 'decoder.onnx', 'joiner.onnx', 'tokens.txt'];

/** Writes the stand-in files into `dir` and answers a parakeet model source naming them. */
export async function standInStreamModel(dir: string): Promise<ModelSource> {
  await mkdir(dir, { recursive: true });
  for (const name of NAMES) await writeFile(join(dir, name), 'STAND-IN: not an ONNX model\n');
  return {
    engine: 'parakeet',
    files: NAMES.map((filename) => ({
      role: 'model' as const,
      filename,
      url: pathToFileURL(join(dir, filename)).href,
    })),
    cliDefaults: { cfgScale: 1, steps: 1, width: 64, height: 64 },
  };
}
