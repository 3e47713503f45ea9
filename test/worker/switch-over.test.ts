import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigStore, DEFAULT_CONFIG } from '../../src/config/index.js';
import { adjustConfigAtStart, ORIGINAL_FEED, thresholdWarning } from '../../src/worker/index.js';

let dir: string;
let store: ConfigStore;
let lines: string[];
const log = { info: (m: string) => lines.push(m), warn: (m: string) => lines.push(m) };

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sw-switch-'));
  store = new ConfigStore(dir);
  lines = [];
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the config at start, as a machine switched over from the original needs it', () => {
  it("replaces the original's releases feed with this worker's, says so once, and keeps the rest of the file", async () => {
    // As the original (0.4.x) writes it.
    await writeFile(
      store.path,
      `api_base_url = "https://studio.minis.gg/"\nworker_id = "w-rust"\nauth_token = "tok"\nvram_threshold_gb = 10.0\n` +
        `auto_update_feed = "${ORIGINAL_FEED}"\nstart_minimised = true\n`,
    );
    const config = await adjustConfigAtStart(store, { firstStart: false, vramTotalGb: 24, log });
    expect(config.autoUpdateFeed).toBe(DEFAULT_CONFIG.autoUpdateFeed);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain("auto_update_feed was the original studio-worker's releases feed");
    const text = await readFile(store.path, 'utf8');
    expect(text).toContain(`auto_update_feed = "${DEFAULT_CONFIG.autoUpdateFeed}"`);
    expect(text).toContain('worker_id = "w-rust"');
    expect(text).toContain('vram_threshold_gb = 10');
    await adjustConfigAtStart(store, { firstStart: false, vramTotalGb: 24, log });
    expect(lines).toHaveLength(1);
  });

  it('keeps a feed the operator chose', async () => {
    await writeFile(store.path, 'auto_update_feed = "https://example.com/feed"\n');
    const before = await readFile(store.path, 'utf8');
    const config = await adjustConfigAtStart(store, { firstStart: false, vramTotalGb: 0, log });
    expect(config.autoUpdateFeed).toBe('https://example.com/feed');
    expect(await readFile(store.path, 'utf8')).toBe(before);
    expect(lines).toEqual([]);
  });

  it("lowers the threshold to the GPU's memory on the first start only, and never raises it", async () => {
    const first = await adjustConfigAtStart(store, { firstStart: true, vramTotalGb: 7.96, log });
    expect(first.vramThresholdGb).toBe(7.9);
    expect(await readFile(store.path, 'utf8')).toContain('vram_threshold_gb = 7.9');
    expect(lines[0]).toContain('first start: vram_threshold_gb lowered from 12 to 7.9 GB');
    await store.update((c) => {
      c.vramThresholdGb = 20;
    });
    expect(
      (await adjustConfigAtStart(store, { firstStart: false, vramTotalGb: 8, log })).vramThresholdGb,
    ).toBe(20);
    await rm(store.path);
    expect(
      (await adjustConfigAtStart(store, { firstStart: true, vramTotalGb: 24, log })).vramThresholdGb,
    ).toBe(12);
    expect(
      (await adjustConfigAtStart(store, { firstStart: true, vramTotalGb: 0, log })).vramThresholdGb,
    ).toBe(12);
    expect(lines).toHaveLength(1);
  });

  it('warns of a threshold above the GPU, naming the fix; not at or below it, nor without a GPU reading', () => {
    expect(thresholdWarning(12, 8)).toBe(
      "vram_threshold_gb 12.0 GB is more than this GPU's 8.0 GB: the studio may offer jobs that cannot load here; " +
        'lower it to 8.0 GB or less (studio-worker set-threshold 8.0)',
    );
    expect(thresholdWarning(8, 8)).toBeUndefined();
    expect(thresholdWarning(12, 0)).toBeUndefined();
  });
});
