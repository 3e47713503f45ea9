import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { chooseOrtFlavour, cudaFlavourFromLdconfig, ortProviders } from '../../src/engines/onnx/flavour.js';
import type { CommandRunner } from '../../src/platform/index.js';

const ld = (...libs: string[]) =>
  `${libs.length} libs found in cache \`/etc/ld.so.cache'\n` +
  libs.map((l) => `\t${l} (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/${l}`).join('\n');
const cuda = (major: number) => [`libcudart.so.${major}`, `libcublas.so.${major}`, `libcublasLt.so.${major}`];
const common = ['libcurand.so.10', 'libcudnn.so.9'];
const ldconfig =
  (out: string): CommandRunner =>
  () =>
    Promise.resolve({ code: 0, stdout: out, stderr: '' });

describe('ONNX Runtime flavour (the original’s cuda_flavour_from_ldconfig rule)', () => {
  it('takes the newest complete CUDA runtime with cuRAND 10 and cuDNN 9', () => {
    expect(cudaFlavourFromLdconfig(ld(...common, ...cuda(12)))).toBe('cuda12');
    expect(cudaFlavourFromLdconfig(ld(...common, ...cuda(13), 'libcudart.so.12'))).toBe('cuda13');
    expect(cudaFlavourFromLdconfig(ld('libcurand.so.10', 'libcudnn.so.8', ...cuda(12)))).toBeUndefined();
    expect(cudaFlavourFromLdconfig(ld(...common, 'libcudart.so.12', 'libcublasLt.so.12'))).toBeUndefined();
    expect(cudaFlavourFromLdconfig(ld('libcurand.so.10', 'libcudnn.so.9.1', ...cuda(12)))).toBeUndefined();
  });

  it('honours STUDIO_WORKER_ORT_FLAVOUR, and names the three values when it is something else', async () => {
    const base = { platform: 'linux' as const, arch: 'x64', run: ldconfig(ld(...common, ...cuda(12))) };
    expect(await chooseOrtFlavour({ ...base, env: { STUDIO_WORKER_ORT_FLAVOUR: ' CPU ' } })).toEqual({
      flavour: 'cpu',
      source: 'pinned by STUDIO_WORKER_ORT_FLAVOUR',
    });
    await expect(chooseOrtFlavour({ ...base, env: { STUDIO_WORKER_ORT_FLAVOUR: 'rocm' } })).rejects.toThrow(
      'STUDIO_WORKER_ORT_FLAVOUR="rocm" is not one of cpu, cuda12, cuda13',
    );
    expect(await chooseOrtFlavour({ ...base, env: {} })).toMatchObject({ flavour: 'cuda12' });
    expect(await chooseOrtFlavour({ ...base, platform: 'darwin', arch: 'arm64', env: {} })).toMatchObject({
      flavour: 'cpu',
    });
  });

  it('runs on CUDA only when onnxruntime-node’s CUDA provider for that major is installed, else says why not', async () => {
    const pkg = await mkdtemp(join(tmpdir(), 'ort-pkg-'));
    try {
      const runtime = join(pkg, 'dist', 'index.js');
      const choice = { flavour: 'cuda12' as const, source: 'test' };
      const missing = ortProviders(choice, runtime, 'linux', 'x64');
      expect(missing.providers).toEqual(['cpu']);
      expect(missing.detail).toContain('--onnxruntime-node-install=cuda12');
      const bin = join(pkg, 'bin', 'napi-v6', 'linux', 'x64');
      await mkdir(bin, { recursive: true });
      await writeFile(join(bin, 'libonnxruntime_providers_cuda.so'), '');
      expect(ortProviders(choice, runtime, 'linux', 'x64').providers).toEqual(['cuda', 'cpu']);
      const cuda13 = ortProviders({ flavour: 'cuda13', source: 'test' }, runtime, 'linux', 'x64');
      expect(cuda13.providers).toEqual(['cpu']);
      expect(cuda13.detail).toContain('ships a CUDA provider for cuda12 only');
      expect(ortProviders({ flavour: 'cpu', source: 'no GPU' }, runtime).detail).toBe(
        'ONNX Runtime on the CPU (no GPU)',
      );
    } finally {
      await rm(pkg, { recursive: true, force: true });
    }
  });
});
