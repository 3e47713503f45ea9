import { join } from 'node:path';
import type { Logger } from 'pino';
import { removeTempFiles } from './files.js';
import { JsonResults } from './json-results.js';
import type { StoredJsonResult } from './json-results.js';
import type { Outbox, OutboxEntry } from './outbox.js';

export type StoredResult =
  { type: 'json'; stored: StoredJsonResult } | { type: 'binary'; entry: OutboxEntry };

export interface StoredResultsLimits {
  /** Results older than this are dropped (the studio has long since given the job to someone else). */
  maxAgeMs: number;
  /** Beyond this many bytes in all, the oldest results are dropped first. */
  maxBytes: number;
}

export const DEFAULT_STORED_RESULT_LIMITS: StoredResultsLimits = {
  maxAgeMs: 24 * 60 * 60 * 1000,
  maxBytes: 2 * 1024 ** 3,
};

/**
 * Every finished result the studio has not taken yet: binary results in the outbox, JSON results
 * beside it (`outbox/json/`). The studio takes a result only while it holds the job, on the session
 * the job was accepted on; a result that missed that window waits here until the studio offers the
 * same job again, and expires after a day or when the store grows past its byte limit.
 */
export class StoredResults {
  readonly json: JsonResults;

  constructor(
    readonly outbox: Outbox,
    private readonly log: Logger,
    private readonly limits: StoredResultsLimits = DEFAULT_STORED_RESULT_LIMITS,
  ) {
    this.json = new JsonResults(join(outbox.dir, 'json'));
  }

  /** Removes the half-written files a killed worker left; for a worker's start only (see removeTempFiles). */
  async removeTempFiles(): Promise<string[]> {
    return [...(await removeTempFiles(this.outbox.dir)), ...(await removeTempFiles(this.json.dir))];
  }

  async get(jobId: string): Promise<StoredResult | undefined> {
    const stored = await this.json.get(jobId);
    if (stored) return { type: 'json', stored };
    const entry = await this.outbox.get(jobId);
    return entry ? { type: 'binary', entry } : undefined;
  }

  /** Job ids of every stored result, oldest first. */
  async jobIds(): Promise<string[]> {
    return (await this.all()).map((r) => jobIdOf(r));
  }

  /**
   * Drops what is past the limits: older than `maxAgeMs`, then the oldest while the total is over
   * `maxBytes`. Returns the job ids dropped. `keep` names a job whose result must stay (the one
   * being delivered now).
   */
  async expire(now = Date.now(), keep?: string): Promise<string[]> {
    const all = await this.all();
    let total = all.reduce((n, r) => n + bytesOf(r), 0);
    const dropped: string[] = [];
    for (const r of all) {
      const jobId = jobIdOf(r);
      if (jobId === keep) continue;
      const age = now - Date.parse(createdAtOf(r));
      const why =
        age > this.limits.maxAgeMs
          ? `older than ${Math.round(this.limits.maxAgeMs / 3_600_000)} h`
          : total > this.limits.maxBytes
            ? `stored results exceed ${Math.round(this.limits.maxBytes / 1024 ** 2)} MB`
            : undefined;
      if (why === undefined) continue;
      if (r.type === 'json') await this.json.remove(jobId);
      else await this.outbox.remove(jobId);
      total -= bytesOf(r);
      dropped.push(jobId);
      this.log.warn(
        `dropped the stored result of job ${jobId} (${why}); the studio never took it and has given the job to another run`,
      );
    }
    return dropped;
  }

  private async all(): Promise<StoredResult[]> {
    const json = (await this.json.list()).map((stored): StoredResult => ({ type: 'json', stored }));
    const binary = (await this.outbox.list()).map((entry): StoredResult => ({ type: 'binary', entry }));
    return [...json, ...binary].sort((a, b) => createdAtOf(a).localeCompare(createdAtOf(b)));
  }
}

function jobIdOf(r: StoredResult): string {
  return r.type === 'json' ? r.stored.jobId : r.entry.jobId;
}
function createdAtOf(r: StoredResult): string {
  return r.type === 'json' ? r.stored.createdAt : r.entry.createdAt;
}
function bytesOf(r: StoredResult): number {
  return r.type === 'json' ? r.stored.bytes : r.entry.bytes;
}
