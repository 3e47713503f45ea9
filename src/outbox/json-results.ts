import { mkdir, readFile, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { fsyncDir, isNotFound, TEMP_PREFIX, writeFileAtomic } from './files.js';
import { safeJobId } from './names.js';

/** A JSON result (llm, audio_stt) kept until the studio acknowledged it. */
export interface StoredJsonResult {
  jobId: string;
  result: unknown;
  prompt: string;
  createdAt: string;
  /** Size of the file on disk. */
  bytes: number;
  path: string;
}

const RecordSchema = z.object({
  version: z.literal(1),
  jobId: z.string().min(1),
  result: z.unknown(),
  prompt: z.string(),
  createdAt: z.string(),
});

/**
 * JSON results on disk, one file per job (`<stem>.json`, the stem as in the outbox), from the
 * moment the engine produced them until the studio's `completeAck`. A `completeJson` written into a
 * socket that died, or a result finished after its session dropped, is therefore still here when
 * the studio offers the job again.
 */
export class JsonResults {
  constructor(readonly dir: string) {}

  /** Stores a result and returns it as `get` would read it back. */
  async put(
    jobId: string,
    result: unknown,
    prompt: string,
    opts: { sync?: boolean } = {},
  ): Promise<StoredJsonResult> {
    await mkdir(this.dir, { recursive: true });
    const createdAt = new Date().toISOString();
    const text = JSON.stringify({ version: 1, jobId, result, prompt, createdAt });
    const path = join(this.dir, `${safeJobId(jobId)}.json`);
    const sync = opts.sync !== false;
    await writeFileAtomic(path, text, { sync });
    if (sync) await fsyncDir(this.dir);
    return { jobId, result, prompt, createdAt, bytes: Buffer.byteLength(text), path };
  }

  async get(jobId: string): Promise<StoredJsonResult | undefined> {
    const path = join(this.dir, `${safeJobId(jobId)}.json`);
    try {
      const stored = await this.read(path);
      return stored.jobId === jobId ? stored : undefined;
    } catch {
      return undefined;
    }
  }

  async remove(jobId: string): Promise<void> {
    await rm(join(this.dir, `${safeJobId(jobId)}.json`), { force: true });
  }

  /** Every readable stored result, oldest first; unreadable files are left for the operator. */
  async list(): Promise<StoredJsonResult[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (e) {
      if (isNotFound(e)) return [];
      throw e;
    }
    const out: StoredJsonResult[] = [];
    for (const name of names) {
      if (!name.endsWith('.json') || name.startsWith(TEMP_PREFIX)) continue;
      try {
        out.push(await this.read(join(this.dir, name)));
      } catch {
        // A torn or foreign file: not a result we can deliver, and not ours to delete.
      }
    }
    return out.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  private async read(path: string): Promise<StoredJsonResult> {
    const [text, info] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
    const record = RecordSchema.parse(JSON.parse(text));
    return {
      jobId: record.jobId,
      result: record.result,
      prompt: record.prompt,
      createdAt: record.createdAt,
      bytes: info.size,
      path,
    };
  }
}
