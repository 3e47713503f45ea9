import { mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { chmod, mkdir, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import {
  fsyncDir,
  fsyncFile,
  isNotFound,
  moveFileDurably,
  TEMP_PREFIX,
  tempPathIn,
  writeFileAtomic,
  writeFileAtomicSync,
} from './files.js';
import { checkExt, safeJobId } from './names.js';

/** A binary result waiting on disk for its upload. */
export interface OutboxEntry {
  jobId: string;
  workerId: string;
  apiBaseUrl: string;
  ext: string;
  prompt?: string | undefined;
  createdAt: string;
  /** Failed upload attempts so far, across restarts. */
  attempts: number;
  filePath: string;
  bytes: number;
  /** Why the last attempt failed. */
  lastError?: string | undefined;
  /** The bytes, when this entry was just stored from memory: uploaded from here, not read back. */
  data?: Uint8Array | undefined;
}

export type OutboxMeta = Omit<
  OutboxEntry,
  'createdAt' | 'attempts' | 'filePath' | 'bytes' | 'lastError' | 'data'
>;

/**
 * Results up to this size, stored without fsync, are written with synchronous calls (see
 * `writeFileAtomicSync`); larger ones would hold the event loop for longer than the round trips cost.
 */
const SMALL_RESULT_BYTES = 1024 * 1024;
/** Files of delivered small entries kept to be written over by the next ones (see `forget`). */
const SPARES_KEPT = 4;

/** Something in the outbox folder that is not a whole entry; kept on disk for the operator. */
export interface OutboxProblem {
  path: string;
  reason: string;
}

const SidecarSchema = z.object({
  version: z.literal(1),
  jobId: z.string().min(1),
  workerId: z.string(),
  apiBaseUrl: z.string(),
  ext: z.string(),
  prompt: z.string().optional(),
  createdAt: z.string(),
  attempts: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
  /** The data file's name, relative to the sidecar's folder (the folder may move). */
  file: z.string().regex(/^[A-Za-z0-9_~%^-]+\.[a-z0-9]{1,8}$/, 'a file name inside the outbox'),
  lastError: z.string().optional(),
  rejectedReason: z.string().optional(),
  rejectedAt: z.string().optional(),
});
type Sidecar = z.infer<typeof SidecarSchema>;

/**
 * Results on disk until the studio has them. Each entry is a data file `<stem>.<ext>` plus a JSON
 * sidecar `<stem>.json`, where `<stem>` is the sanitised job id. Both are written temp + fsync +
 * rename, data first: an entry exists only once its sidecar does, so a crash mid-`put` leaves at
 * worst an orphan data file, reported by `scan()` and never uploaded half-described.
 * `quarantine` moves an entry to `rejected/` (the studio refused it): kept for the operator.
 */
export class Outbox {
  readonly rejectedDir: string;
  /** The folder exists (made by this instance): the fast path skips the mkdir. */
  private dirMade = false;
  /** Temp files of delivered entries, reused by the next small ones instead of new files. */
  private readonly spares: string[] = [];

  constructor(readonly dir: string) {
    this.rejectedDir = join(dir, 'rejected');
  }

  /**
   * Stores a result. `sync: false` skips the fsyncs: the entry survives a crash of this process but
   * not a power loss until `sync(jobId)` — the runner's fast path, which uploads at once and makes
   * the entry durable only when that first upload fails (if the machine dies before the upload,
   * the studio never got the job's completion and re-queues it, so nothing it was promised is lost).
   */
  async put(
    meta: OutboxMeta,
    source: { data: Uint8Array } | { path: string },
    opts: { sync?: boolean } = {},
  ): Promise<OutboxEntry> {
    const sync = opts.sync !== false;
    checkExt(meta.ext);
    if ('data' in source && !sync && source.data.byteLength <= SMALL_RESULT_BYTES) {
      return this.putSmall(meta, source.data);
    }
    await mkdir(this.dir, { recursive: true });
    this.dirMade = true;
    const stem = safeJobId(meta.jobId);
    const file = `${stem}.${meta.ext}`;
    const filePath = join(this.dir, file);
    // Only to tidy superseded bytes below; an unreadable old sidecar is simply replaced.
    const previous = await this.readSidecar(this.dir, stem).catch(() => undefined);

    let bytes: number;
    if ('data' in source) {
      await writeFileAtomic(filePath, source.data, { sync });
      bytes = source.data.byteLength;
    } else {
      bytes = await moveFileDurably(source.path, filePath, { sync });
      // An engine's output keeps the mode it was made with; a result is this user's alone.
      await chmod(filePath, 0o600);
    }
    const sidecar = newSidecar(meta, file, bytes);
    await this.writeSidecar(this.dir, stem, sidecar, sync);
    // The same job put again with another extension: its old bytes are now superseded.
    if (previous && previous.file !== file) await rm(join(this.dir, previous.file), { force: true });
    return toEntry(this.dir, sidecar);
  }

  /**
   * `put` of a small result from memory without fsync (the runner's fast path, one per job): the
   * same files in the same order, in synchronous calls, and the bytes kept on the entry so the
   * upload sends them from memory.
   */
  private putSmall(meta: OutboxMeta, data: Uint8Array): OutboxEntry {
    if (!this.dirMade) {
      mkdirSync(this.dir, { recursive: true });
      this.dirMade = true;
    }
    const stem = safeJobId(meta.jobId);
    const file = `${stem}.${meta.ext}`;
    let previous: Sidecar | undefined;
    try {
      previous = SidecarSchema.parse(JSON.parse(readFileSync(join(this.dir, `${stem}.json`), 'utf8')));
    } catch {
      // None (the usual case), or unreadable: replaced below either way.
    }
    try {
      writeFileAtomicSync(join(this.dir, file), data, this.spares.pop());
    } catch (e) {
      // The folder was removed under us since it was made: make it again, once.
      if (!isNotFound(e)) throw e;
      this.spares.length = 0;
      mkdirSync(this.dir, { recursive: true });
      writeFileAtomicSync(join(this.dir, file), data);
    }
    const sidecar = newSidecar(meta, file, data.byteLength);
    writeFileAtomicSync(join(this.dir, `${stem}.json`), sidecarText(sidecar), this.spares.pop());
    if (previous && previous.file !== file) rmSync(join(this.dir, previous.file), { force: true });
    return { ...toEntry(this.dir, sidecar), data };
  }

  /** Whole entries, oldest first. */
  async list(): Promise<OutboxEntry[]> {
    return (await this.scan()).entries;
  }

  /** Whole entries, oldest first, and everything else found in the folder that needs a look. */
  async scan(): Promise<{ entries: OutboxEntry[]; problems: OutboxProblem[] }> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (e) {
      if (isNotFound(e)) return { entries: [], problems: [] };
      throw e;
    }
    const entries: OutboxEntry[] = [];
    const problems: OutboxProblem[] = [];
    const claimed = new Set<string>();
    for (const name of names.filter((n) => n.endsWith('.json') && !n.startsWith(TEMP_PREFIX))) {
      const stem = name.slice(0, -'.json'.length);
      const path = join(this.dir, name);
      let sidecar: Sidecar;
      try {
        sidecar = await this.readSidecar(this.dir, stem);
      } catch (e) {
        problems.push({ path, reason: `unreadable sidecar: ${e instanceof Error ? e.message : String(e)}` });
        continue;
      }
      claimed.add(sidecar.file);
      if (await exists(join(this.dir, sidecar.file))) entries.push(toEntry(this.dir, sidecar));
      else problems.push({ path, reason: `data file ${sidecar.file} is missing` });
    }
    for (const name of names) {
      if (name.startsWith(TEMP_PREFIX) || name.endsWith('.json') || claimed.has(name)) continue;
      const path = join(this.dir, name);
      if (await exists(path)) problems.push({ path, reason: 'data file without a sidecar' });
    }
    entries.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.jobId.localeCompare(b.jobId));
    return { entries, problems };
  }

  /** The whole entry stored for `jobId`, if there is one. */
  async get(jobId: string): Promise<OutboxEntry | undefined> {
    let sidecar: Sidecar;
    try {
      sidecar = await this.readSidecar(this.dir, safeJobId(jobId));
    } catch {
      // Missing or unreadable: either way there is no entry to deliver (scan() reports the latter).
      return undefined;
    }
    if (sidecar.jobId !== jobId || !(await exists(join(this.dir, sidecar.file)))) return undefined;
    return toEntry(this.dir, sidecar);
  }

  /**
   * Forgets a delivered entry this process stored or read (its file names are known): the sidecar,
   * then the data, in synchronous calls for a small one. Idempotent.
   */
  async forget(entry: OutboxEntry): Promise<void> {
    const sidecarPath = join(this.dir, `${safeJobId(entry.jobId)}.json`);
    // Sidecar first: once it is gone the entry no longer exists, whatever happens next.
    if (entry.bytes > SMALL_RESULT_BYTES) {
      await rm(sidecarPath, { force: true });
      await rm(entry.filePath, { force: true });
      return;
    }
    this.retire(sidecarPath);
    this.retire(entry.filePath);
  }

  /** Removes the spare files kept for reuse (at a stop; a killed worker's go at the next start). */
  dropSpares(): void {
    for (const spare of this.spares.splice(0)) rmSync(spare, { force: true });
  }

  /** Keeps a delivered entry's file as a spare temp file to write over, or removes it. */
  private retire(path: string): void {
    try {
      if (this.spares.length >= SPARES_KEPT) {
        rmSync(path, { force: true });
        return;
      }
      const spare = tempPathIn(this.dir);
      renameSync(path, spare);
      this.spares.push(spare);
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }

  /** Forgets a delivered entry. Idempotent. */
  async remove(jobId: string): Promise<void> {
    const stem = safeJobId(jobId);
    let sidecar: Sidecar;
    try {
      sidecar = await this.readSidecar(this.dir, stem);
    } catch (e) {
      if (isNotFound(e)) return;
      throw e;
    }
    // Sidecar first: once it is gone the entry no longer exists, whatever happens next.
    await rm(join(this.dir, `${stem}.json`), { force: true });
    await rm(join(this.dir, sidecar.file), { force: true });
    // No directory fsync: if a power loss undid this removal, the next start would upload a result
    // the studio already has, and its refusal would move the entry to rejected/ — nothing lost.
  }

  /** Makes an entry stored with `sync: false` durable (data, sidecar, folder). */
  async sync(jobId: string): Promise<void> {
    const stem = safeJobId(jobId);
    const sidecar = await this.readSidecar(this.dir, stem);
    await fsyncFile(join(this.dir, sidecar.file));
    await fsyncFile(join(this.dir, `${stem}.json`));
    await fsyncDir(this.dir);
  }

  /** Counts one failed upload attempt (and why) on the entry, durably. */
  async markAttempt(jobId: string, lastError?: string): Promise<OutboxEntry> {
    const stem = safeJobId(jobId);
    const sidecar = await this.readSidecar(this.dir, stem);
    const next: Sidecar = { ...sidecar, attempts: sidecar.attempts + 1 };
    if (lastError !== undefined) next.lastError = lastError;
    await this.writeSidecar(this.dir, stem, next);
    return toEntry(this.dir, next);
  }

  /**
   * Moves an entry the studio refused into `rejected/`, the reason written into its sidecar.
   * Order: rejected sidecar, then data, then the live sidecar, so a crash at any point leaves the
   * bytes described somewhere. Returns the data file's new path.
   */
  async quarantine(jobId: string, reason: string): Promise<string> {
    const stem = safeJobId(jobId);
    const sidecar = await this.readSidecar(this.dir, stem);
    await mkdir(this.rejectedDir, { recursive: true });
    const rejected: Sidecar = { ...sidecar, rejectedReason: reason, rejectedAt: new Date().toISOString() };
    await this.writeSidecar(this.rejectedDir, stem, rejected);
    const dest = join(this.rejectedDir, sidecar.file);
    try {
      await rename(join(this.dir, sidecar.file), dest);
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    await rm(join(this.dir, `${stem}.json`), { force: true });
    await fsyncDir(this.rejectedDir);
    await fsyncDir(this.dir);
    return dest;
  }

  private async readSidecar(dir: string, stem: string): Promise<Sidecar> {
    const text = await readFile(join(dir, `${stem}.json`), 'utf8');
    return SidecarSchema.parse(JSON.parse(text));
  }

  private async writeSidecar(dir: string, stem: string, sidecar: Sidecar, sync = true): Promise<void> {
    await writeFileAtomic(join(dir, `${stem}.json`), sidecarText(sidecar), { sync });
    if (sync) await fsyncDir(dir);
  }
}

function newSidecar(meta: OutboxMeta, file: string, bytes: number): Sidecar {
  return {
    version: 1,
    jobId: meta.jobId,
    workerId: meta.workerId,
    apiBaseUrl: meta.apiBaseUrl,
    ext: meta.ext,
    ...(meta.prompt === undefined ? {} : { prompt: meta.prompt }),
    createdAt: new Date().toISOString(),
    attempts: 0,
    bytes,
    file,
  };
}

function sidecarText(sidecar: Sidecar): string {
  return `${JSON.stringify(sidecar, null, 2)}\n`;
}

function toEntry(dir: string, s: Sidecar): OutboxEntry {
  const entry: OutboxEntry = {
    jobId: s.jobId,
    workerId: s.workerId,
    apiBaseUrl: s.apiBaseUrl,
    ext: s.ext,
    createdAt: s.createdAt,
    attempts: s.attempts,
    filePath: join(dir, s.file),
    bytes: s.bytes,
  };
  if (s.prompt !== undefined) entry.prompt = s.prompt;
  if (s.lastError !== undefined) entry.lastError = s.lastError;
  return entry;
}

async function exists(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch (e) {
    if (isNotFound(e)) return false;
    throw e;
  }
}
