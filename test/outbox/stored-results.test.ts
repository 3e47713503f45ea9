import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Outbox, StoredResults } from '../../src/outbox/index.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stored-results-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const quiet = pino({ level: 'silent' });
const meta = (jobId: string) => ({
  jobId,
  workerId: 'w-1',
  apiBaseUrl: 'http://s/',
  ext: 'png',
  prompt: 'p',
});

describe('StoredResults', () => {
  it('finds a JSON result or a binary one by job id, and lists both oldest first', async () => {
    const results = new StoredResults(new Outbox(dir), quiet);
    await results.outbox.put(meta('bin-1'), { data: Buffer.from('png') });
    await new Promise((r) => setTimeout(r, 5));
    await results.json.put('json-1', { object: 'chat.completion' }, 'hi');
    expect(await results.get('json-1')).toMatchObject({
      type: 'json',
      stored: { result: { object: 'chat.completion' }, prompt: 'hi' },
    });
    expect(await results.get('bin-1')).toMatchObject({
      type: 'binary',
      entry: { jobId: 'bin-1', prompt: 'p' },
    });
    expect(await results.get('nope')).toBeUndefined();
    expect(await results.jobIds()).toEqual(['bin-1', 'json-1']);
  });

  it('drops results older than a day, and the oldest first while the store is over its byte limit', async () => {
    const results = new StoredResults(new Outbox(dir), quiet, { maxAgeMs: 24 * 3_600_000, maxBytes: 2500 });
    await results.json.put('old', { n: 0 }, 'p');
    await results.outbox.put(meta('a'), { data: Buffer.alloc(1000) });
    await results.outbox.put(meta('b'), { data: Buffer.alloc(1000) });
    await results.outbox.put(meta('c'), { data: Buffer.alloc(1000) });
    const now = Date.now();
    // Over 2500 bytes: the oldest go first until it fits ("old", then "a").
    expect(await results.expire(now)).toEqual(['old', 'a']);
    expect(await results.jobIds()).toEqual(['b', 'c']);
    // A day later the rest is past the age limit, except the result being delivered now.
    expect(await results.expire(now + 25 * 3_600_000, 'c')).toEqual(['b']);
    expect(await results.jobIds()).toEqual(['c']);
  });
});
