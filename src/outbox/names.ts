import { createHash } from 'node:crypto';

const KEEP = /^[a-z0-9_-]$/;
const WINDOWS_RESERVED = /^(con|prn|aux|nul|com[0-9]|lpt[0-9])$/;
const MAX_LENGTH = 160;
const EXT = /^[a-z0-9]{1,8}$/;

/**
 * A job id as a file-name stem that is safe on every platform and maps distinct ids to distinct
 * names: lowercase letters, digits, `_` and `-` are kept; an uppercase letter becomes `^` + its
 * lowercase (so case-insensitive disks cannot merge two jobs); any other character is
 * percent-encoded as UTF-8. No separators, no dots (so no `..` and no clash with `.tmp-` files).
 */
export function safeJobId(jobId: string): string {
  if (jobId === '') throw new Error('an outbox entry needs a job id');
  let out = '';
  for (const ch of jobId) {
    if (KEEP.test(ch)) out += ch;
    else if (ch !== ch.toLowerCase() && KEEP.test(ch.toLowerCase())) out += `^${ch.toLowerCase()}`;
    else out += percent(ch);
  }
  if (WINDOWS_RESERVED.test(out)) out = percent(out.charAt(0)) + out.slice(1);
  if (out.length > MAX_LENGTH) {
    out = `${out.slice(0, 100)}~${createHash('sha256').update(jobId).digest('hex').slice(0, 32)}`;
  }
  return out;
}

/** Throws unless `ext` is what the contract allows (1-8 lowercase letters or digits, no dot). */
export function checkExt(ext: string): void {
  if (!EXT.test(ext)) throw new Error(`bad result extension ${JSON.stringify(ext)}: want 1-8 of [a-z0-9]`);
}

function percent(ch: string): string {
  return [...Buffer.from(ch, 'utf8')]
    .map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`)
    .join('');
}
