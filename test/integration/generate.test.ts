import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DevStudio } from '../../src/dev-studio/index.js';
import { startDevStudio } from '../../src/dev-studio/index.js';
import { runCli } from '../support/cli.js';

const MODEL = join(import.meta.dirname, '../../../shared/models/stories260K.gguf');

/** `studio-worker generate` on this test's config. */
const generate = (...args: string[]) => runCli(['--config-dir', dir, 'generate', ...args]);

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sw-generate-'));
  await writeFile(
    join(dir, 'config.toml'),
    `models_root = "${join(dir, 'models')}"\ngpu_offload = false\nllm_threads = 1\n`,
  );
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('studio-worker generate', () => {
  it('runs one synthetic image job locally and writes a decodable file', async () => {
    const out = join(dir, 'fox.png');
    const { code, stdout, stderr } = await generate(
      '--kind',
      'image',
      '--engine',
      'synthetic',
      '--prompt',
      'a red fox',
      '--width',
      '96',
      '--height',
      '64',
      '--ext',
      'png',
      '-o',
      out,
    );
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toContain('png 96×64');
    expect((await readFile(out)).subarray(1, 4).toString()).toBe('PNG');
  });

  it('refuses a job the contract does not allow, naming the field', async () => {
    const { code, stderr } = await generate('--kind', 'image', '--engine', 'synthetic', '--width', 'wide');
    expect(code).toBe(2);
    expect(stderr).toContain('--width');
  });

  it('takes a local file as the job input, and --repeat runs the job again in the same process', async () => {
    const wav = join(dir, 'speech.wav');
    const tts = await generate('--kind', 'audio_tts', '--engine', 'synthetic', '--text', 'hello', '-o', wav);
    expect(tts.code).toBe(0);
    const out = join(dir, 'stt.json');
    const { code, stdout, stderr } = await generate(
      '--kind',
      'audio_stt',
      '--engine',
      'synthetic',
      '--input-url',
      wav,
      '--repeat',
      '2',
      '-o',
      out,
    );
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toMatch(/audio_stt on synthetic \(run 1\/2\): .*\naudio_stt on synthetic \(run 2\/2\): /);
    expect(JSON.parse(await readFile(out, 'utf8'))).toHaveProperty('segments');
    expect(
      (await generate('--kind', 'llm', '--engine', 'synthetic', '--message', 'hi', '--repeat', '0')).code,
    ).toBe(2);
  });

  it('says what to install for an engine it cannot run', async () => {
    const { code, stderr } = await generate(
      '--kind',
      'image',
      '--engine',
      'sd-cpp',
      '--prompt',
      'x',
      '--file',
      'diffusion-model=http://127.0.0.1:9/flux.gguf',
    );
    expect(code).toBe(2);
    expect(stderr).toContain('sd_cli_path');
  });

  it.skipIf(!existsSync(MODEL))(
    `runs a real llm job through model provisioning (stories260K.gguf from a local server)${existsSync(MODEL) ? '' : ' — skipped: model absent'}`,
    async () => {
      const bytes = readFileSync(MODEL);
      const server = createServer((_req, res) => res.end(bytes));
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const port = (server.address() as AddressInfo).port;
      try {
        const out = join(dir, 'story.json');
        const { code, stdout, stderr } = await generate(
          '--kind',
          'llm',
          '--engine',
          'llama-cpp',
          '--file',
          `model=http://127.0.0.1:${port}/stories260K.gguf`,
          '--cli-default',
          'contextSize=512',
          '--message',
          'user:Once upon a time',
          '--max-tokens',
          '16',
          '-o',
          out,
        );
        expect(stderr).not.toMatch(/error/i);
        expect(code).toBe(0);
        expect(stdout).toContain('tokens');
        const completion = JSON.parse(await readFile(out, 'utf8')) as { object: string };
        expect(completion.object).toBe('chat.completion');
        // No --model: the model id is the engine's name, and its files sit in that model's folder.
        expect(existsSync(join(dir, 'models', 'llama-cpp', 'stories260K.gguf'))).toBe(true);
      } finally {
        server.close();
      }
    },
  );
});

describe('studio-worker generate with a model file already on disk', () => {
  it.skipIf(!existsSync(MODEL))(
    `uses a local path and a file: URL in place, without copying them into the cache${existsSync(MODEL) ? '' : ' — skipped: model absent'}`,
    async () => {
      for (const [i, spec] of [`model=${MODEL}`, `model=${pathToFileURL(MODEL).href}`].entries()) {
        const out = join(dir, `local-${i}.json`);
        const { code, stdout, stderr } = await generate(
          '--kind',
          'llm',
          '--engine',
          'llama-cpp',
          '--file',
          spec,
          '--cli-default',
          'contextSize=512',
          '--message',
          'user:Once upon a time',
          '--max-tokens',
          '8',
          '-o',
          out,
        );
        expect(stderr).not.toMatch(/error/i);
        expect(code).toBe(0);
        expect(stdout).toContain('tokens');
        expect((JSON.parse(await readFile(out, 'utf8')) as { object: string }).object).toBe(
          'chat.completion',
        );
      }
    },
  );

  it('says plainly when the local model file does not exist (exit 2)', async () => {
    const missing = join(dir, 'nope.gguf');
    const { code, stderr } = await generate(
      '--kind',
      'llm',
      '--engine',
      'llama-cpp',
      '--message',
      'hi',
      '--file',
      `model=${missing}`,
    );
    expect(code).toBe(2);
    expect(stderr.trim()).toBe(`studio-worker: --file model=${missing}: ${missing} does not exist`);
  });
});

describe('studio-worker generate --enqueue', () => {
  let studio: DevStudio;
  beforeAll(async () => {
    studio = await startDevStudio({ port: 0 });
  });
  afterAll(async () => {
    await studio.close();
  });

  it('puts the same job on a dev studio’s queue instead of running it', async () => {
    const { code, stdout } = await generate(
      '--kind',
      'audio_tts',
      '--engine',
      'synthetic',
      '--text',
      'hello',
      '--enqueue',
      studio.url,
    );
    expect(code).toBe(0);
    const [job] = studio.admin.listJobs();
    expect(stdout).toContain(job?.jobId);
    expect(job?.claim.task).toMatchObject({ kind: 'audio_tts', text: 'hello', voice: 'default' });
    expect(job?.claim.modelSource.engine).toBe('synthetic');
  });
});
