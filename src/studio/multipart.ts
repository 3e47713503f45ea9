import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';

/**
 * A `multipart/form-data` body in one buffer, for a result already in memory: the same bytes
 * undici's FormData would send (RFC 7578; names escaped and text values' line breaks made CRLF as
 * the WHATWG form encoding does), without the web streams FormData is read through — that costs
 * a small upload more than the bytes themselves.
 */
export function multipartBody(
  fields: readonly (readonly [name: string, value: string])[],
  file: { name: string; filename: string; contentType: string; data: Uint8Array },
): { body: Buffer; contentType: string } {
  const { head, tail, contentType } = framing(fields, file);
  return { body: Buffer.concat([head, file.data, tail]), contentType };
}

/**
 * The same body with the file's bytes read from `path` as it is sent (a result too large to hold
 * in memory), and its exact length: undici checks that what it sends matches it.
 */
export function multipartFileBody(
  fields: readonly (readonly [name: string, value: string])[],
  file: { name: string; filename: string; contentType: string; path: string; bytes: number },
): { body: Readable; contentType: string; length: number } {
  const { head, tail, contentType } = framing(fields, file);
  async function* parts(): AsyncGenerator<Buffer> {
    yield head;
    for await (const chunk of createReadStream(file.path, { highWaterMark: 1024 * 1024 }))
      yield chunk as Buffer;
    yield tail;
  }
  return {
    body: Readable.from(parts(), { objectMode: false }),
    contentType,
    length: head.length + file.bytes + tail.length,
  };
}

function framing(
  fields: readonly (readonly [name: string, value: string])[],
  file: { name: string; filename: string; contentType: string },
): { head: Buffer; tail: Buffer; contentType: string } {
  const boundary = `----studio-worker-${randomBytes(12).toString('hex')}`;
  let head = '';
  for (const [name, value] of fields) {
    head += `--${boundary}\r\nContent-Disposition: form-data; name="${escapeName(name)}"\r\n\r\n`;
    head += `${value.replace(/\r\n|\r|\n/g, '\r\n')}\r\n`;
  }
  head +=
    `--${boundary}\r\nContent-Disposition: form-data; name="${escapeName(file.name)}"; ` +
    `filename="${escapeName(file.filename)}"\r\nContent-Type: ${file.contentType}\r\n\r\n`;
  return {
    head: Buffer.from(head),
    tail: Buffer.from(`\r\n--${boundary}--\r\n`),
    contentType: `multipart/form-data; boundary=${boundary}`,
  };
}

/** As the WHATWG form encoding escapes a field's name or a file's name. */
function escapeName(name: string): string {
  return name.replace(/\n/g, '%0A').replace(/\r/g, '%0D').replace(/"/g, '%22');
}
