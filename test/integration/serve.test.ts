import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CLI, runCli } from '../support/cli.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sw-serve-'));
  await writeFile(join(dir, 'config.toml'), `models_root = ${JSON.stringify(join(dir, 'models'))}\n`);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const cli = (args: string[]) => runCli(args);

describe('studio-worker serve and local-api', () => {
  it('serves the local API with no studio and no registration, and tidies its discovery file on Ctrl+C', async () => {
    const child = spawn(process.execPath, [CLI, '--config-dir', dir, 'serve', '--port', '0'], {
      env: { ...process.env, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    await expect
      .poll(() => /local API on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1], { timeout: 30_000 })
      .toBeTruthy();
    const url = /local API on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1] ?? '';
    const discovery = JSON.parse(await readFile(join(dir, 'local-api.json'), 'utf8')) as {
      url: string;
      token: string;
    };
    expect(discovery.url).toBe(url);
    // The LAN streaming speech listener beside it, and where.
    await expect
      .poll(() => out)
      .toMatch(/streaming speech on ws:\/\/0\.0\.0\.0:\d+\/transcribe \(tokens: POST \/stream-tokens\)/);
    const models = await fetch(`${url}/v1/models`, {
      headers: { authorization: `Bearer ${discovery.token}` },
    });
    expect(await models.json()).toEqual({ object: 'list', data: [] });
    const shown = await cli(['--config-dir', dir, 'local-api', '--json']);
    expect(JSON.parse(shown.stdout)).toMatchObject({
      url,
      running: true,
      discoveryPath: join(dir, 'local-api.json'),
    });
    const exited = new Promise<number | null>((r) => child.once('exit', r));
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(existsSync(join(dir, 'local-api.json'))).toBe(false);
  });

  it('says plainly that the port is taken (exit 6), as when a second instance starts', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    try {
      const r = await cli(['--config-dir', dir, 'serve', '--port', String(port)]);
      expect(r.code).toBe(6);
      expect(r.stderr).toContain(
        `the local API cannot listen on 127.0.0.1:${port}: another program (or another worker) uses that port`,
      );
      expect(r.stderr).not.toContain('internal error');
    } finally {
      blocker.close();
    }
  });

  it('local-api prints the URL and how to read the token', async () => {
    const r = await cli(['--config-dir', dir, 'local-api']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('http://127.0.0.1:4787');
    expect(r.stdout).toContain(join(dir, 'local-api.json'));
    expect(r.stdout).toContain('Authorization: Bearer');
  });
});
