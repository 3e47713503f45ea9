import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { modelsListCommand, modelsPruneCommand } from '../../src/cli/commands/models.js';
import type { CommandContext } from '../../src/cli/context.js';
import { ConfigStore } from '../../src/config/index.js';
import { LogShipper } from '../../src/logs/index.js';
import { UserError } from '../../src/util/index.js';
import { SIZE, never, startRig } from './helpers.js';
import type { Rig } from './helpers.js';

let rig: Rig;
let configDir: string;
let lines: string[];
let ctx: CommandContext;

beforeEach(async () => {
  rig = await startRig();
  configDir = await mkdtemp(join(tmpdir(), 'sw-models-cli-'));
  const store = new ConfigStore(configDir);
  await store.update((c) => {
    c.modelsRoot = rig.root;
  });
  lines = [];
  ctx = { store, log: rig.log, shipper: new LogShipper(), out: (line) => lines.push(line) };
});
afterEach(async () => {
  await rig.close();
  await rm(configDir, { recursive: true, force: true });
});

async function fill(): Promise<void> {
  const cache = rig.cache();
  for (const name of ['old.gguf', 'new.gguf']) {
    (await cache.provision([rig.model(name).file], never())).release();
    await delay(5);
  }
  await cache.list();
}

describe('studio-worker models', () => {
  it('list prints a table of the cache at models_root and a total', async () => {
    await fill();
    await modelsListCommand(ctx, {});
    expect(lines[0]).toMatch(/^FILE\s+SIZE\s+SHA256\s+LAST USED\s+IN USE$/);
    expect(lines[1]).toMatch(/^old\.gguf\s+262\.1 kB\s+[0-9a-f]{16}\s+\S+Z\s+no$/);
    expect(lines[2]).toMatch(/^new\.gguf\s+262\.1 kB\s+[0-9a-f]{16}\s+\S+Z\s+no$/);
    expect(lines[3]).toBe(`total: 2 file(s), 524.3 kB in ${rig.root}`);
  });

  it('list --json prints one object with every file and the total', async () => {
    await fill();
    await modelsListCommand(ctx, { json: true });
    const out = JSON.parse(lines.join('')) as {
      root: string;
      files: { filename: string }[];
      totalBytes: number;
    };
    expect(out.root).toBe(rig.root);
    expect(out.files.map((f) => f.filename)).toEqual(['old.gguf', 'new.gguf']);
    expect(out.totalBytes).toBe(2 * SIZE);
  });

  it('list says so when the cache is empty', async () => {
    await modelsListCommand(ctx, {});
    expect(lines).toEqual([`no cached model files in ${rig.root}`]);
  });

  it('prune --max-gb removes the least recently used files first', async () => {
    await fill();
    await modelsPruneCommand(ctx, { maxGb: String(SIZE / 1e9) });
    expect(lines[0]).toMatch(/^removed old\.gguf \(262\.1 kB, last used .*\)$/);
    expect(lines[1]).toBe(`freed 262.1 kB; 262.1 kB kept in ${rig.root}`);
    expect(existsSync(join(rig.root, 'old.gguf'))).toBe(false);
    expect(existsSync(join(rig.root, 'new.gguf'))).toBe(true);
  });

  it('prune --dry-run only says what it would remove', async () => {
    await fill();
    await modelsPruneCommand(ctx, { maxGb: '0', dryRun: true });
    expect(lines.slice(0, 2).map((l) => l.split(' (')[0])).toEqual([
      'would remove old.gguf',
      'would remove new.gguf',
    ]);
    expect(existsSync(join(rig.root, 'old.gguf'))).toBe(true);
  });

  it('prune refuses a --max-gb that is not a number >= 0', async () => {
    await expect(modelsPruneCommand(ctx, { maxGb: 'lots' })).rejects.toThrow(UserError);
    await expect(modelsPruneCommand(ctx, { maxGb: '-1' })).rejects.toThrow(/--max-gb expects a number/);
  });
});
