import { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';
import { closeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import { builtModulePath } from '../util/index.js';
import type {
  FromHashWriter,
  HashWriterWorkerData,
  SystemErrorFields,
  ToHashWriter,
} from './hash-writer-worker.js';
import { hashPrefix } from './hash-prefix.js';

/**
 * A download at least this big is hashed and written by a worker thread; a smaller one on the main
 * thread, where the ~40 ms and ~10 MB a thread costs would outweigh what it saves.
 */
export const WORKER_MIN_BYTES = 8 * 1024 * 1024;

/** Batches handed to the worker thread and not yet written: the main thread waits beyond this. */
const MAX_IN_FLIGHT = 4;

/**
 * Hashes (SHA-256) and writes a download's batches to its partial file, continuing the hash of the
 * partial's first `prefix` bytes (a resumed download). Calls come in this order: `open`, `write`s,
 * `finish`; `abort` may come at any time and does nothing after `finish`.
 */
export interface HashWriter {
  /** Opens the file: appending at `start` (= the prefix) or, when `start` is 0, from scratch. */
  open(start: number): Promise<void>;
  /**
   * Hashes and writes `chunks`, in order (the worker thread gets a copy: the caller's buffers stay
   * its own). Resolves when the caller may send more; a failed earlier write rejects it.
   */
  write(chunks: Buffer[]): Promise<void>;
  /** Waits until every byte is written, closes the file and returns the hex digest of the whole. */
  finish(): Promise<string>;
  /** Closes the file (after the writes already handed over) and stops the thread. Never throws. */
  abort(): Promise<void>;
}

/** Whether a download of about `expectedBytes` (undefined: unknown) is hashed in a worker thread. */
export function hashInWorker(expectedBytes: number | undefined): boolean {
  return expectedBytes === undefined || expectedBytes >= WORKER_MIN_BYTES;
}

/** A writer for `path` whose hash already holds the file's first `prefix` bytes. */
export async function startHashWriter(
  path: string,
  opts: { prefix: number; inWorker: boolean },
): Promise<HashWriter> {
  if (!opts.inWorker) {
    const writer = new InThreadWriter(path, opts.prefix);
    await hashPrefix(path, opts.prefix, writer.hash);
    return writer;
  }
  const writer = new WorkerWriter(path, opts.prefix);
  try {
    // Before the request: hashing gigabytes while an answer waits would trip its stall timeout.
    if (opts.prefix > 0) await writer.ready();
  } catch (e) {
    await writer.abort();
    throw e;
  }
  return writer;
}

/** `fields` as the Error Node would have thrown, naming `path` (which a write error does not). */
function systemError(fields: SystemErrorFields, path: string): NodeJS.ErrnoException {
  const { message, syscall } = fields;
  const err: NodeJS.ErrnoException = new Error(
    message.includes(path)
      ? message
      : syscall !== undefined && message.endsWith(`, ${syscall}`)
        ? `${message} '${path}'`
        : `${message} (${path})`,
  );
  if (fields.code !== undefined) err.code = fields.code;
  if (fields.errno !== undefined) err.errno = fields.errno;
  if (fields.syscall !== undefined) err.syscall = fields.syscall;
  err.path = path;
  return err;
}

function withPath(e: unknown, path: string): unknown {
  if (!(e instanceof Error)) return e;
  const err = e as NodeJS.ErrnoException;
  if (err.path !== undefined) return e;
  return Object.assign(systemError({ ...err, message: err.message }, path), { cause: e });
}

/** Hashes and writes on the main thread, with one write in flight while the next batch gathers. */
class InThreadWriter implements HashWriter {
  hash: Hash = createHash('sha256');
  private out: FileHandle | undefined;
  private inFlight: Promise<void> = Promise.resolve();

  constructor(
    private readonly path: string,
    private readonly prefix: number,
  ) {}

  async open(start: number): Promise<void> {
    if (start !== 0 && start !== this.prefix) throw new Error(`cannot resume ${this.path} at ${start}`);
    if (start === 0) this.hash = createHash('sha256');
    this.out = await open(this.path, start > 0 ? 'a' : 'w');
  }

  async write(chunks: Buffer[]): Promise<void> {
    await this.inFlight;
    if (!this.out) throw new Error(`${this.path} is not open`);
    for (const chunk of chunks) this.hash.update(chunk);
    const data = Buffer.concat(chunks);
    this.inFlight = this.out.write(data).then(
      () => undefined,
      (e: unknown) => {
        throw withPath(e, this.path);
      },
    );
    // Awaited by the next write or `finish`; until then a failure must not count as unhandled.
    this.inFlight.catch(() => undefined);
  }

  async finish(): Promise<string> {
    try {
      await this.inFlight;
    } finally {
      await this.abort();
    }
    return this.hash.digest('hex');
  }

  async abort(): Promise<void> {
    const out = this.out;
    this.out = undefined;
    if (!out) return;
    await this.inFlight.catch(() => undefined);
    await out.close();
  }
}

/**
 * Hands each batch (copied once into memory of its own, see `ownCopy`) to a worker thread that
 * hashes and writes it; at most MAX_IN_FLIGHT batches wait there.
 */
class WorkerWriter implements HashWriter {
  private readonly worker: Worker;
  private pending = 0;
  private isReady = false;
  private digest: string | undefined;
  private closed = false;
  private exited = false;
  /** The worker's file descriptor while it holds one open. */
  private fd: number | undefined;
  private failure: Error | undefined;
  private wakers: (() => void)[] = [];

  constructor(
    private readonly path: string,
    private readonly prefix: number,
  ) {
    const workerData: HashWriterWorkerData = { path, prefix };
    this.worker = new Worker(builtModulePath(import.meta.url, './hash-writer-worker.js'), { workerData });
    this.worker.on('message', (m: FromHashWriter) => this.receive(m));
    this.worker.on('error', (e) => {
      this.failure ??= new Error(`the thread writing ${path} failed: ${e.message}`, { cause: e });
      this.wake();
    });
    this.worker.on('exit', (code) => {
      this.exited = true;
      if (this.digest === undefined && !this.closed) {
        this.failure ??= new Error(`the thread writing ${path} stopped (exit code ${code})`);
      }
      // It died holding the file open (it closes it before every answer that ends its work).
      if (this.fd !== undefined) closeQuietly(this.fd);
      this.fd = undefined;
      this.wake();
    });
  }

  /** Resolves once the prefix is hashed. */
  async ready(): Promise<void> {
    await this.until(() => this.isReady);
  }

  open(start: number): Promise<void> {
    if (start !== 0 && start !== this.prefix) throw new Error(`cannot resume ${this.path} at ${start}`);
    // Not awaited: the thread may still be starting; a failure rejects the next write or `finish`.
    this.send({ type: 'open', start });
    return Promise.resolve();
  }

  async write(chunks: Buffer[]): Promise<void> {
    if (this.failure) throw this.failure;
    const parts = [ownCopy(chunks)];
    this.send({ type: 'write', parts }, parts);
    this.pending++;
    await this.until(() => this.pending < MAX_IN_FLIGHT);
  }

  async finish(): Promise<string> {
    this.send({ type: 'finish' });
    await this.until(() => this.digest !== undefined);
    await this.worker.terminate();
    return this.digest ?? '';
  }

  async abort(): Promise<void> {
    if (!this.exited && this.digest === undefined && !this.closed) {
      this.send({ type: 'close' });
      // The writes already sent go first; a failed thread answers at once.
      while (!this.exited && !this.closed) await this.changed();
    }
    await this.worker.terminate();
  }

  private send(message: ToHashWriter, transfer?: ArrayBuffer[]): void {
    this.worker.postMessage(message, transfer);
  }

  private receive(m: FromHashWriter): void {
    switch (m.type) {
      case 'ready':
        this.isReady = true;
        break;
      case 'opened':
        this.fd = m.fd;
        break;
      case 'ack':
        this.pending--;
        break;
      case 'done':
        this.fd = undefined;
        this.digest = m.sha256;
        break;
      case 'closed':
        this.fd = undefined;
        this.closed = true;
        break;
      case 'failed':
        this.fd = undefined;
        this.failure ??= systemError(m.error, this.path);
        break;
    }
    this.wake();
  }

  private wake(): void {
    for (const wake of this.wakers.splice(0)) wake();
  }

  private changed(): Promise<void> {
    return new Promise<void>((resolve) => this.wakers.push(resolve));
  }

  /** Waits until `done()`; the thread's failure (or its end) rejects. */
  private async until(done: () => boolean): Promise<void> {
    for (;;) {
      if (this.failure) throw this.failure;
      if (done()) return;
      if (this.exited) throw new Error(`the thread writing ${this.path} stopped`);
      await this.changed();
    }
  }
}

/**
 * `chunks` copied into one ArrayBuffer of its own, to transfer to the thread. Never the chunks'
 * own memory: an ArrayBuffer moved away is emptied for every other holder, and a body chunk may
 * be a view that the HTTP client still reads around (one copy per batch costs far less than the
 * hashing it moves off the main thread: docs/benchmarks.md).
 */
export function ownCopy(chunks: Buffer[]): ArrayBuffer {
  let bytes = 0;
  for (const chunk of chunks) bytes += chunk.length;
  const copy = new Uint8Array(bytes);
  let at = 0;
  for (const chunk of chunks) {
    copy.set(chunk, at);
    at += chunk.length;
  }
  return copy.buffer;
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // Already closed.
  }
}
