import { mkdir, rm, stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { ModelProvider, ProvisionedModel } from '../engines/types.js';
import type { ModelDownloadProgress } from '../events/index.js';
import type { FileRole, ModelFile } from '../protocol/index.js';
import { pidAlive, toError } from '../util/index.js';
import type { BackoffOptions } from '../util/index.js';
import { CacheIndexStore } from './cache-index.js';
import type { IndexEntry } from './cache-index.js';
import { statfsFreeBytes } from './disk.js';
import { downloadAttempt } from './download.js';
import { acquireDownloadLock } from './download-lock.js';
import { fetchInputFile } from './fetch-input.js';
import { displayUrl, formatBytes, urlKey } from './format.js';
import { createHttpAgent, parseWebUrl, withRetries } from './http.js';
import { assertSafeFilename, assertUsableSha256, modelDirName, wantedSha256 } from './names.js';
import { PARTIAL_DIR, sweepUnresumable } from './partial.js';
import { DownloadProgress } from './progress.js';
import { planPrune } from './prune.js';
import type { CachedFile, PrunePlan } from './prune.js';
import { SharedTasks } from './shared.js';
import { adoptFlatFile } from './adopt-flat.js';
import { judgeCached, statOrUndefined, stillGood } from './verify.js';

const TOUCH_INTERVAL_MS = 60_000;

export interface ModelCacheOptions {
  /** The cache folder (models_root, already ~-expanded). */
  root: string;
  log: Logger;
  /** Download progress; the worker forwards it as `model:download` events. */
  onProgress?: (p: ModelDownloadProgress) => void;
  retryBackoff?: BackoffOptions;
  maxAttempts?: number;
  progressIntervalMs?: number;
  /** Free bytes on the filesystem of a folder; injectable so a test can play a full disk. */
  freeBytes?: (dir: string) => Promise<number>;
  /** When given and a TTY, a progress bar is drawn on it. */
  terminal?: NodeJS.WriteStream;
  /** Plain http to other hosts than this machine (config `allow_insecure_downloads`); default https only. */
  allowInsecure?: boolean;
  /** How long another worker's download of a file may write nothing before waiting for it fails (10 min). */
  downloadWaitQuietMs?: number;
}

export interface PruneResult {
  removed: CachedFile[];
  freedBytes: number;
  keptBytes: number;
}

/**
 * The worker's model cache: files verified by size and sha256, shared between concurrent jobs,
 * held in use while a job runs, pruned least recently used first. See docs/models.md.
 */
export class ModelCache implements ModelProvider {
  readonly root: string;
  private readonly index: CacheIndexStore;
  private readonly inUse = new Map<string, number>();
  /** When this process last recorded a file's use in the index (see `provision`). */
  private readonly touchedAt = new Map<string, number>();
  /** When this process last used each file (newer than the index's while a write is skipped). */
  private readonly lastUsed = new Map<string, string>();
  /** Files this process trusted or verified, as they were then (see `stillGood`). */
  private readonly good = new Map<string, IndexEntry>();
  /** Releases not yet written to the index (see `releaseOne`). */
  private readonly pendingRelease = new Map<string, NodeJS.Timeout>();
  private readonly downloads = new SharedTasks<IndexEntry>();
  private http: ReturnType<typeof createHttpAgent> | undefined;

  constructor(private readonly opts: ModelCacheOptions) {
    this.root = opts.root;
    this.index = new CacheIndexStore(opts.root, opts.log);
  }

  /**
   * Ensures every file of a model is cached and marks them in use. With `model`, the files live in
   * that model's own folder, `<root>/<model dir>/<filename>` (the original's layout), so two models
   * that share a file name never get each other's file; without it, directly under the root.
   */
  async provision(
    files: ModelFile[],
    signal: AbortSignal,
    opts: { model?: string | undefined } = {},
  ): Promise<ProvisionedModel> {
    for (const f of files) {
      assertSafeFilename(f.filename);
      assertUsableSha256(f);
      parseWebUrl(f.url, this.opts.allowInsecure);
    }
    const dir = opts.model === undefined ? undefined : modelDirName(opts.model);
    const keyed = files.map((f) => ({
      file: f,
      key: dir === undefined ? f.filename : `${dir}/${f.filename}`,
    }));
    // A warm model's files, checked this run and unchanged since (one stat each): no folders to make,
    // no index to read — what each job of a loaded model would otherwise pay in file-system calls.
    const warm = keyed.every(({ file, key }) => stillGood(join(this.root, key), file, this.good.get(key)));
    if (!warm) {
      await mkdir(join(this.root, PARTIAL_DIR, dir ?? ''), { recursive: true });
      if (dir !== undefined) await mkdir(join(this.root, dir), { recursive: true });
    }
    const held: string[] = [];
    const release = () => {
      for (const name of held.splice(0)) this.releaseOne(name);
    };
    try {
      for (const { file: f, key } of keyed) {
        // Held before it is fetched, so a prune running meanwhile cannot take it away.
        this.acquire(key);
        held.push(key);
        if (!warm) this.good.set(key, await this.ensure(f, key, signal));
        // Rewriting the index on every job of a warm model costs milliseconds per job; "last used"
        // only orders pruning, so within a minute of the last write (our pid still recorded as a
        // user) the write is skipped.
        // In memory at every use; the index gets it with its next write (below, or the release).
        this.lastUsed.set(key, new Date().toISOString());
        const touched = this.touchedAt.get(key);
        if (touched !== undefined && Date.now() - touched < TOUCH_INTERVAL_MS) continue;
        await this.index.mutate((index) => {
          const entry = index.files[key];
          if (!entry) return;
          entry.lastUsedAt = new Date().toISOString();
          entry.inUseBy = [...new Set([...(entry.inUseBy ?? []), process.pid])];
        });
        this.touchedAt.set(key, Date.now());
      }
    } catch (e) {
      release();
      throw e;
    }
    const paths = keyed.map(({ file, key }) => ({ role: file.role, path: join(this.root, key) }));
    const byRole = (role: FileRole) => paths.filter((p) => p.role === role).map((p) => p.path);
    return { byRole, path: (role) => byRole(role)[0], release };
  }

  fetchInput(
    url: string,
    destDir: string,
    signal: AbortSignal,
    opts: { maxBytes?: number } = {},
  ): Promise<string> {
    return fetchInputFile(url, destDir, {
      ...this.retryOptions(signal),
      dispatcher: this.dispatcher(),
      maxBytes: opts.maxBytes,
      allowInsecure: this.opts.allowInsecure ?? false,
    });
  }

  /** Deletes partial downloads that can never be resumed (see `sweepUnresumable`). Never throws. */
  async sweepPartials(): Promise<void> {
    try {
      const removed = await sweepUnresumable(this.root);
      if (removed.length > 0) {
        this.opts.log.info(`removed ${removed.length} unfinished download(s) that cannot be resumed`);
      }
    } catch (e) {
      this.opts.log.warn(`could not tidy ${join(this.root, PARTIAL_DIR)}: ${toError(e).message}`);
    }
  }

  /** Every cached file, least recently used first. */
  async list(): Promise<CachedFile[]> {
    const index = await this.index.read();
    const rows = await this.rows(index.files);
    return rows.sort(
      (a, b) => a.lastUsedAt.localeCompare(b.lastUsedAt) || a.filename.localeCompare(b.filename),
    );
  }

  async totalBytes(): Promise<number> {
    return (await this.list()).reduce((sum, f) => sum + f.bytes, 0);
  }

  /** Deletes least recently used files not in use until the cache holds at most `maxBytes`. */
  async prune({ maxBytes, dryRun = false }: { maxBytes: number; dryRun?: boolean }): Promise<PruneResult> {
    if (dryRun) return toResult(planPrune(await this.list(), maxBytes));
    // Nothing downloaded yet (a fresh machine): nothing to prune, and no folder to create for it.
    if (!(await statOrUndefined(this.root))?.isDirectory())
      return { removed: [], freedBytes: 0, keptBytes: 0 };
    return this.index.mutate(async (index) => {
      const rows = await this.rows(index.files);
      for (const name of Object.keys(index.files)) {
        if (!rows.some((r) => r.filename === name)) delete index.files[name];
      }
      const plan = planPrune(rows, maxBytes);
      const removed: CachedFile[] = [];
      for (const f of plan.remove) {
        // A job of this process may have taken the file since the plan was made: it stays.
        if (this.inUse.has(f.filename)) continue;
        await rm(join(this.root, f.filename), { force: true });
        delete index.files[f.filename];
        removed.push(f);
        this.opts.log.info(
          { filename: f.filename, bytes: f.bytes },
          `pruned ${f.filename} (${formatBytes(f.bytes)})`,
        );
      }
      const freedBytes = removed.reduce((sum, f) => sum + f.bytes, 0);
      return { removed, freedBytes, keptBytes: plan.keptBytes + plan.freedBytes - freedBytes };
    });
  }

  /**
   * Closes the HTTP connections and waits for pending index writes (a release's). Idempotent; the
   * cache can still be listed and pruned after.
   */
  async close(): Promise<void> {
    for (const [filename, timer] of this.pendingRelease) {
      clearTimeout(timer);
      this.writeRelease(filename);
    }
    const http = this.http;
    this.http = undefined;
    await Promise.all([http?.close(), this.index.settled()]);
  }

  private ensure(file: ModelFile, key: string, signal: AbortSignal): Promise<IndexEntry> {
    return this.downloads
      .run(key, (shared) => this.ensureNow(file, key, shared), signal)
      .then((entry) => {
        const want = wantedSha256(file);
        // Another job fetched this name with another expected hash: check again for this one.
        if (want && entry.sha256 !== want)
          return this.downloads.run(key, (s) => this.ensureNow(file, key, s), signal);
        return entry;
      });
  }

  /** Trusts, re-verifies or (re-)downloads one file; see verify.ts and docs/models.md. */
  private async ensureNow(file: ModelFile, key: string, signal: AbortSignal): Promise<IndexEntry> {
    const dest = join(this.root, key);
    const entry = (await this.index.read()).files[key];
    const inModelDir = key !== file.filename;
    if (inModelDir && !entry) await adoptFlatFile(this.root, file, dest, signal, this.opts.log);
    // A file in the model's own folder that the index does not know was put there for this model
    // (by the original worker, or by hand): adopted, as the original uses it.
    const verdict = await judgeCached(dest, file, entry, signal, { adoptUnindexed: inModelDir });
    if (verdict.kind === 'trusted') return verdict.entry;
    if (verdict.kind === 'verified') return this.record(file, key, verdict.stats, verdict.sha256);
    // Workers on one machine (one per GPU) share the cache: one downloads, the others wait for it.
    let waited = false;
    const lock = await acquireDownloadLock(this.root, key, {
      signal,
      ...(this.opts.downloadWaitQuietMs === undefined ? {} : { quietMs: this.opts.downloadWaitQuietMs }),
      onWait: (holder) => {
        waited = true;
        this.opts.log.info(
          `another worker (pid ${holder.pid} on ${holder.hostname}) is downloading ${key}; waiting for it`,
        );
      },
    });
    try {
      const now = waited
        ? await judgeCached(dest, file, (await this.index.read()).files[key], signal, {
            adoptUnindexed: true,
          })
        : verdict;
      if (now.kind === 'trusted') return now.entry;
      if (now.kind === 'verified') return await this.record(file, key, now.stats, now.sha256);
      if (now.kind === 'stale') {
        this.opts.log.warn({ filename: key }, `downloading ${key} again: ${now.reason}`);
        await rm(dest, { force: true });
      }
      return await this.download({ ...file, filename: key }, file, dest, signal);
    } finally {
      await lock.release();
    }
  }

  /** `file` is keyed by its cache path (`filename` = the key); `original` is the studio's entry. */
  private async download(
    file: ModelFile,
    original: ModelFile,
    dest: string,
    signal: AbortSignal,
  ): Promise<IndexEntry> {
    const progress = new DownloadProgress(file.filename, {
      log: this.opts.log,
      onProgress: this.opts.onProgress,
      terminal: this.opts.terminal,
      intervalMs: this.opts.progressIntervalMs ?? 1000,
    });
    this.opts.log.info(
      { filename: file.filename, url: displayUrl(file.url), approxBytes: file.approxBytes },
      `downloading model file ${file.filename} from ${displayUrl(file.url)}`,
    );
    try {
      const ctx = { root: this.root, dispatcher: this.dispatcher(), progress, log: this.opts.log, signal };
      const got = await withRetries(
        `download of ${file.filename}`,
        () => downloadAttempt(file, { ...ctx, freeBytes: this.opts.freeBytes ?? statfsFreeBytes }),
        this.retryOptions(signal),
      );
      progress.finish();
      this.opts.log.info(
        { filename: file.filename, bytes: got.bytes, sha256: got.sha256 },
        `downloaded ${file.filename}`,
      );
      return await this.record(original, file.filename, await stat(dest), got.sha256);
    } catch (e) {
      progress.fail(toError(e).message);
      throw e;
    }
  }

  private record(file: ModelFile, key: string, st: Stats, sha256: string): Promise<IndexEntry> {
    return this.index.mutate((index) => {
      const entry: IndexEntry = {
        bytes: st.size,
        sha256,
        lastUsedAt: new Date().toISOString(),
        url: urlKey(file.url),
        mtimeMs: st.mtimeMs,
        ...(index.files[key]?.inUseBy ? { inUseBy: index.files[key]?.inUseBy } : {}),
      };
      index.files[key] = entry;
      return entry;
    });
  }

  private acquire(filename: string): void {
    this.inUse.set(filename, (this.inUse.get(filename) ?? 0) + 1);
    const pending = this.pendingRelease.get(filename);
    if (pending) {
      clearTimeout(pending);
      this.pendingRelease.delete(filename);
    }
  }

  /**
   * The last user let go: the index says so a minute later, unless a job takes the file again
   * before (a warm model's next job then costs no index write). Meanwhile other workers sharing
   * the cache see it in use here, which only keeps them from pruning a file just used.
   */
  private releaseOne(filename: string): void {
    const left = (this.inUse.get(filename) ?? 1) - 1;
    if (left > 0) {
      this.inUse.set(filename, left);
      return;
    }
    this.inUse.delete(filename);
    const timer = setTimeout(() => this.writeRelease(filename), TOUCH_INTERVAL_MS);
    timer.unref();
    this.pendingRelease.set(filename, timer);
  }

  private writeRelease(filename: string): void {
    this.pendingRelease.delete(filename);
    this.touchedAt.delete(filename);
    this.index
      .mutate((index) => {
        const entry = index.files[filename];
        if (!entry) return;
        const used = this.lastUsed.get(filename);
        if (used !== undefined && used > entry.lastUsedAt) entry.lastUsedAt = used;
        if (entry.inUseBy) entry.inUseBy = entry.inUseBy.filter((pid) => pid !== process.pid);
      })
      .catch((e: unknown) =>
        this.opts.log.warn({ err: toError(e), filename }, 'could not update the model cache index'),
      );
  }

  private async rows(files: Record<string, IndexEntry>): Promise<CachedFile[]> {
    const rows: CachedFile[] = [];
    for (const [filename, entry] of Object.entries(files)) {
      const st = await statOrUndefined(join(this.root, filename));
      if (!st?.isFile()) continue;
      const inUse =
        (this.inUse.get(filename) ?? 0) > 0 ||
        this.downloads.has(filename) ||
        (entry.inUseBy ?? []).some((pid) => pid !== process.pid && pidAlive(pid));
      const used = this.lastUsed.get(filename);
      const lastUsedAt = used !== undefined && used > entry.lastUsedAt ? used : entry.lastUsedAt;
      rows.push({ filename, bytes: st.size, sha256: entry.sha256, lastUsedAt, inUse });
    }
    return rows;
  }

  private dispatcher() {
    this.http ??= createHttpAgent({ allowInsecure: this.opts.allowInsecure ?? false });
    return this.http.dispatcher;
  }

  private retryOptions(signal: AbortSignal) {
    return {
      maxAttempts: this.opts.maxAttempts ?? 5,
      backoff: this.opts.retryBackoff ?? { baseMs: 1000, capMs: 30_000 },
      signal,
      log: this.opts.log,
    };
  }
}

function toResult(plan: PrunePlan): PruneResult {
  return { removed: plan.remove, freedBytes: plan.freedBytes, keptBytes: plan.keptBytes };
}
