import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BinaryResult } from './types.js';

/** The result's bytes, read from disk when it is a file. */
export async function loadBytes(result: BinaryResult): Promise<Uint8Array> {
  return 'bytes' in result ? result.bytes : new Uint8Array(await readFile(result.path));
}

/** The first `n` bytes (fewer if the result is shorter), without reading a whole file. */
export async function headBytes(result: BinaryResult, n: number): Promise<Uint8Array> {
  if ('bytes' in result) return result.bytes.subarray(0, n);
  const handle = await open(result.path, 'r');
  try {
    const buffer = new Uint8Array(n);
    const { bytesRead } = await handle.read(buffer, 0, n, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/** Runs `fn` with a path to the result on disk; bytes go to a temp file removed afterwards. */
export async function withFile<T>(result: BinaryResult, fn: (path: string) => Promise<T>): Promise<T> {
  if ('path' in result) return fn(result.path);
  const dir = await mkdtemp(join(tmpdir(), 'studio-worker-verify-'));
  try {
    const path = join(dir, `result.${result.ext}`);
    await writeFile(path, result.bytes);
    return await fn(path);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
