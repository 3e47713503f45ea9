import { randomBytes } from 'node:crypto';

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
  const boundary = `----studio-worker-${randomBytes(12).toString('hex')}`;
  let head = '';
  for (const [name, value] of fields) {
    head += `--${boundary}\r\nContent-Disposition: form-data; name="${escapeName(name)}"\r\n\r\n`;
    head += `${value.replace(/\r\n|\r|\n/g, '\r\n')}\r\n`;
  }
  head +=
    `--${boundary}\r\nContent-Disposition: form-data; name="${escapeName(file.name)}"; ` +
    `filename="${escapeName(file.filename)}"\r\nContent-Type: ${file.contentType}\r\n\r\n`;
  const body = Buffer.concat([Buffer.from(head), file.data, Buffer.from(`\r\n--${boundary}--\r\n`)]);
  return { body, contentType: `multipart/form-data; boundary=${boundary}` };
}

/** As the WHATWG form encoding escapes a field's name or a file's name. */
function escapeName(name: string): string {
  return name.replace(/\n/g, '%0A').replace(/\r/g, '%0D').replace(/"/g, '%22');
}
