/**
 * The worker thread behind `hash-writer.ts`: hashes (SHA-256) and writes a download's batches to
 * its partial file, so the main thread only receives them. It hashes the partial's first `prefix`
 * bytes first (a resumed download's hash continues from them), then handles the messages below in
 * order. It opens the file itself and closes it on `finish`, `close` or the first failure.
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, writevSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import { hashPrefix } from './hash-prefix.js';

export interface HashWriterWorkerData {
  path: string;
  /** Bytes of the partial already downloaded, hashed before anything else. */
  prefix: number;
}

export type ToHashWriter =
  /** Opens the file: appending when `start` > 0, else from scratch (the prefix's hash forgotten). */
  | { type: 'open'; start: number }
  /** Hashes and writes `parts`, in order, then answers `ack`. */
  | { type: 'write'; parts: ArrayBuffer[] }
  /** Closes the file and answers `done` with the hex digest. */
  | { type: 'finish' }
  /** Closes the file and answers `closed`. */
  | { type: 'close' };

/** A system error's fields, which a structured clone of the Error itself would drop. */
export interface SystemErrorFields {
  message: string;
  code?: string;
  errno?: number;
  syscall?: string;
}

export type FromHashWriter =
  | { type: 'ready' }
  | { type: 'opened'; fd: number }
  | { type: 'ack' }
  | { type: 'done'; sha256: string }
  | { type: 'closed' }
  | { type: 'failed'; error: SystemErrorFields };

if (!parentPort) throw new Error('hash-writer-worker.js runs as a worker thread only');
const port: MessagePort = parentPort;
const { path, prefix } = workerData as HashWriterWorkerData;

let hash = createHash('sha256');
let fd: number | undefined;
let failure: SystemErrorFields | undefined;

const post = (message: FromHashWriter): void => port.postMessage(message);

function fields(e: unknown): SystemErrorFields {
  const err = e as NodeJS.ErrnoException;
  return {
    message: err instanceof Error ? err.message : String(e),
    ...(typeof err.code === 'string' ? { code: err.code } : {}),
    ...(typeof err.errno === 'number' ? { errno: err.errno } : {}),
    ...(typeof err.syscall === 'string' ? { syscall: err.syscall } : {}),
  };
}

function closeFile(): void {
  if (fd === undefined) return;
  const open = fd;
  fd = undefined;
  closeSync(open);
}

function fail(e: unknown): void {
  failure = fields(e);
  try {
    closeFile();
  } catch {
    // The failure already reported is the one that matters.
  }
  post({ type: 'failed', error: failure });
}

/** Writes `views` at the file's end, in order, however many calls that takes. */
function writeAll(views: Uint8Array[]): void {
  if (fd === undefined) throw new Error(`${path} is not open`);
  let left = views.filter((view) => view.length > 0);
  while (left.length > 0) {
    let written = writevSync(fd, left);
    const rest: Uint8Array[] = [];
    for (const view of left) {
      if (written >= view.length) written -= view.length;
      else {
        rest.push(written > 0 ? view.subarray(written) : view);
        written = 0;
      }
    }
    left = rest;
  }
}

function handle(message: ToHashWriter): void {
  if (failure) {
    // Every later request answers with the first failure; `close` has nothing left to close.
    post(message.type === 'close' ? { type: 'closed' } : { type: 'failed', error: failure });
    if (message.type === 'close' || message.type === 'finish') port.close();
    return;
  }
  try {
    switch (message.type) {
      case 'open':
        if (message.start === 0) hash = createHash('sha256');
        fd = openSync(path, message.start > 0 ? 'a' : 'w');
        post({ type: 'opened', fd });
        break;
      case 'write': {
        const views = message.parts.map((part) => new Uint8Array(part));
        for (const view of views) hash.update(view);
        writeAll(views);
        post({ type: 'ack' });
        break;
      }
      case 'finish':
        closeFile();
        post({ type: 'done', sha256: hash.digest('hex') });
        port.close();
        break;
      case 'close':
        closeFile();
        post({ type: 'closed' });
        port.close();
        break;
    }
  } catch (e) {
    fail(e);
  }
}

// Messages wait on the port until the prefix is hashed: they all come after it.
hashPrefix(path, prefix, hash)
  .then(() => post({ type: 'ready' }), fail)
  .finally(() => port.on('message', handle));
