import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startRun, type RunProcess } from '../support/cli.js';

let dir: string | undefined;
let run: RunProcess | undefined;
afterEach(async () => {
  await run?.stop();
  run = undefined;
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

async function discovery(configDir: string): Promise<{ url: string; token: string }> {
  const file = join(configDir, 'local-api.json');
  for (let i = 0; i < 300 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 100));
  return JSON.parse(await readFile(file, 'utf8')) as { url: string; token: string };
}

describe("the original's daemon-control routes in every run", () => {
  it('answers /daemon/status and pauses through /daemon/pause with run --no-dashboard, while registration retries', async () => {
    dir = await mkdtemp(join(tmpdir(), 'sw-daemon-run-'));
    // An unreachable studio: the local API serves before registration, as the original's.
    await writeFile(join(dir, 'config.toml'), 'api_base_url = "http://127.0.0.1:1/"\n');
    run = startRun(dir, ['--no-dashboard']);
    const { url, token } = await discovery(dir);
    const auth = { authorization: `Bearer ${token}` };
    const status = await fetch(`${url}/daemon/status`, { headers: auth });
    expect(status.status, run.stderr()).toBe(200);
    const body = (await status.json()) as { pid: number; paused: boolean; configPath: string };
    expect(body).toMatchObject({ paused: false, configPath: join(dir, 'config.toml') });
    expect(body.pid).toBe(run.child.pid);
    const paused = await fetch(`${url}/daemon/pause`, { method: 'POST', headers: auth });
    expect(await paused.json()).toEqual({ paused: true });
    const logs = await fetch(`${url}/daemon/logs?after=0`, { headers: auth });
    expect(logs.status).toBe(200);
    expect(existsSync(join(dir, 'dashboard.json'))).toBe(false);
  });
});
