import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, runCli } from '../support/cli.js';
import { SD_CLI, SDCPP_MODEL, sdcppReady, sdcppSkipReason } from '../support/sdcpp-real.js';

let dir: string;
const generate = (...args: string[]) => runCli(['--config-dir', dir, 'generate', ...args]);
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sw-generate-out-'));
  await writeFile(
    join(dir, 'config.toml'),
    `models_root = "${join(dir, 'models')}"\nsd_cli_path = "${SD_CLI}"\nimage_idle_unload_secs = 0\n`,
  );
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('generate writes what -o names', () => {
  it('writes PNG bytes for -o fox.png and JPEG for -o fox.jpg, with no --ext', async () => {
    for (const [name, format] of [
      ['fox.png', 'png'],
      ['fox.jpg', 'jpeg'],
    ] as const) {
      const out = join(dir, name);
      const r = await generate('--kind', 'image', '--engine', 'synthetic', '--prompt', 'a fox', '-o', out);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect((await sharp(out).metadata()).format).toBe(format);
    }
  });

  it('refuses an -o extension that disagrees with --ext, plainly (exit 2), and writes nothing', async () => {
    const out = join(dir, 'clash.png');
    const r = await generate(
      '--kind',
      'image',
      '--engine',
      'synthetic',
      '--prompt',
      'x',
      '--ext',
      'webp',
      '-o',
      out,
    );
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(
      `studio-worker: -o ${out} names a .png file but --ext asks for webp: drop one of them, or make them agree`,
    );
    expect(existsSync(out)).toBe(false);
  });
});

describe.skipIf(!sdcppReady)(
  `generate stopped by a signal on the real sd-cli${sdcppSkipReason}`,
  { timeout: 120_000 },
  () => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      it(`stops cleanly on ${signal} mid-job: exit 130, one line, no stack, no file`, async () => {
        const out = join(dir, `stopped-${signal}.png`);
        const child = spawn(
        process.execPath,
        [CLI, '--config-dir', dir, 'generate', '--kind', 'image', '--engine', 'sd-cpp', '--file', `model=${SDCPP_MODEL}`,
          '--prompt', 'x', '--width', '64', '--height', '64', '--steps', '40', '-o', out],
        { env: { ...process.env, LOG_LEVEL: 'debug' }, stdio: ['ignore', 'pipe', 'pipe'] },
      ); // prettier-ignore
        let stderr = '';
        let signalled = false;
        child.stderr.on('data', (chunk: Buffer) => {
          stderr += chunk.toString();
          // Once sd.cpp is sampling (its own line), the operator presses Ctrl+C.
          if (!signalled && stderr.includes('generating image: 1/1')) {
            signalled = true;
            child.kill(signal);
          }
        });
        const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
        expect(signalled).toBe(true);
        expect(code).toBe(130);
        const last = stderr.trim().split('\n').at(-1);
        expect(last).toBe(
          'studio-worker: generate: interrupted, the job was stopped and nothing was written',
        );
        expect(stderr).not.toMatch(/internal error|AbortError|\n\s+at /);
        expect(existsSync(out)).toBe(false);
      });
    }
  },
);
