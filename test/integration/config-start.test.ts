import { readFile, writeFile } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from '../../src/config/index.js';
import { ORIGINAL_FEED } from '../../src/worker/index.js';
import type { Harness } from '../support/harness.js';
import { startHarness } from '../support/harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('a config with keys this worker does not use', () => {
  it("warns once per unknown key at start, says nothing of the original's own keys, and keeps them all", async () => {
    h = await startHarness();
    // stream_port is the original's too (its streaming listener, served here as well); start_minimised
    // is told to the studio.
    const written = await readFile(h.store.path, 'utf8');
    expect(written).toContain('start_minimised = true');
    expect(written).toContain('stream_port = 4798');
    await writeFile(
      h.store.path,
      written
        .replace('start_minimised = true', 'start_minimised = false')
        .replace('stream_port = 4798', 'stream_port = 4791') + 'future_flag = 1\n',
    );
    const w = h.startWorker();
    const { workerId } = await w.next('session:welcomed');
    // Log lines are JSON: the quotes around the key are escaped there.
    const warnings = [...h.logText().matchAll(/unknown key \\"([a-z_]+)\\"/g)].map((m) => m[1]);
    expect(warnings).toEqual(['future_flag']);
    const text = await readFile(h.store.path, 'utf8');
    expect(text).toContain('future_flag = 1');
    expect(text).toContain('stream_port = 4791');
    expect(text).toContain('start_minimised = false');
    // As the original's capabilities carry it (tests/ws_wire.rs): the operator's setting, not a constant.
    const caps = h.studio.admin.listWorkers().find((x) => x.workerId === workerId)?.capabilities;
    expect(caps).toMatchObject({ startMinimised: false });
  });
});

describe("a config the original wrote, at the worker's start", () => {
  it("moves to this worker's releases feed and warns of a threshold above the GPU's memory", async () => {
    h = await startHarness({ config: { autoUpdateFeed: ORIGINAL_FEED, vramThresholdGb: 30 } });
    const w = h.startWorker();
    await w.next('session:welcomed');
    expect((await h.store.load()).autoUpdateFeed).toBe(DEFAULT_CONFIG.autoUpdateFeed);
    expect(h.logText()).toContain("auto_update_feed was the original studio-worker's releases feed");
    // The harness's machine has 24 GB.
    expect(h.logText()).toContain("vram_threshold_gb 30.0 GB is more than this GPU's 24.0 GB");
  });
});
