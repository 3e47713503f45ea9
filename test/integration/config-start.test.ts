import { appendFile, readFile } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
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
    // local_api_port is this worker's own key now (the local API); start_minimised is the original's only.
    await appendFile(h.store.path, 'future_flag = 1\nstart_minimised = true\n');
    const w = h.startWorker();
    await w.next('session:welcomed');
    // Log lines are JSON: the quotes around the key are escaped there.
    const warnings = [...h.logText().matchAll(/unknown key \\"([a-z_]+)\\"/g)].map((m) => m[1]);
    expect(warnings).toEqual(['future_flag']);
    const text = await readFile(h.store.path, 'utf8');
    expect(text).toContain('future_flag = 1');
    expect(text).toContain('start_minimised = true');
  });
});
