import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ModelFile } from '../../src/protocol/index.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The real tiny llama model shared beside the clone (see ../shared/models/README.md). */
export const STORIES_PATH = join(repoRoot, '..', 'shared', 'models', 'stories260K.gguf');
export const haveStories = existsSync(STORIES_PATH);

/** Serves named byte buffers over HTTP on 127.0.0.1, the way a studio's model host would. */
export class ModelHost {
  private readonly files = new Map<string, Uint8Array>();
  private server: Server | undefined;
  private base = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const body = this.files.get(decodeURIComponent((req.url ?? '').slice(1)));
      if (!body) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
      res.end(body);
    });
    await new Promise<void>((ok) => this.server?.listen(0, '127.0.0.1', ok));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Publishes `bytes` as `filename` and returns the modelSource file entry for it (role "model"). */
  add(filename: string, bytes: Uint8Array): ModelFile {
    this.files.set(filename, bytes);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    return { role: 'model', url: `${this.base}/${filename}`, filename, approxBytes: bytes.length, sha256 };
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((ok, fail) => server.close((e) => (e ? fail(e) : ok())));
  }
}

export function readStories(): Promise<Buffer> {
  return readFile(STORIES_PATH);
}

/**
 * A copy of a GGUF with `tokenizer.chat_template` added to its metadata, so a real model has its
 * "own" Jinja template. The new key/value pair goes right after the header and is padded (with a
 * Jinja comment) to a multiple of 32 bytes, so the tensor data keeps its alignment.
 */
export function withChatTemplate(gguf: Uint8Array, template: string): Buffer {
  const src = Buffer.from(gguf);
  if (src.toString('latin1', 0, 4) !== 'GGUF') throw new Error('not a GGUF file');
  const key = Buffer.from('tokenizer.chat_template');
  const kvBytes = (value: string) => 8 + key.length + 4 + 8 + Buffer.byteLength(value);
  let value = `${template}{##}`;
  while (kvBytes(value) % 32 !== 0)
    value = `${template}{#${'-'.repeat(value.length - template.length - 3)}#}`;
  const kv = Buffer.alloc(kvBytes(value));
  let at = kv.writeBigUInt64LE(BigInt(key.length), 0);
  at += key.copy(kv, at);
  at = kv.writeUInt32LE(8 /* string */, at);
  at = kv.writeBigUInt64LE(BigInt(Buffer.byteLength(value)), at);
  kv.write(value, at);
  const header = Buffer.from(src.subarray(0, 24));
  header.writeBigUInt64LE(header.readBigUInt64LE(16) + 1n, 16);
  return Buffer.concat([header, kv, src.subarray(24)]);
}
