import { describe, expect, it } from 'vitest';
import { ExitCode, fsUserError, messageWithCause, UserError } from '../../src/util/index.js';

function fsError(code: string, path?: string): NodeJS.ErrnoException {
  const e: NodeJS.ErrnoException = new Error(`${code}: something, open '${path ?? ''}'`);
  e.code = code;
  if (path !== undefined) e.path = path;
  e.syscall = 'open';
  return e;
}

describe('fsUserError', () => {
  it.each([
    ['ENOSPC', 'the disk is full'],
    ['ENOENT', 'no such file or folder'],
    ['EACCES', 'permission denied'],
    ['EROFS', 'the file system is read-only'],
  ])('turns %s into one plain line with exit code 6', (code, words) => {
    const err = fsUserError(fsError(code, '/data/config.toml'));
    expect(err).toBeInstanceOf(UserError);
    expect(err?.message).toBe(`/data/config.toml: ${words}`);
    expect(err?.exitCode).toBe(ExitCode.system);
  });

  it('leaves anything else alone (a bug stays a bug)', () => {
    expect(fsUserError(new TypeError('x is undefined'))).toBeUndefined();
    expect(fsUserError(fsError('EMFILE'))).toBeUndefined();
  });
});

describe('messageWithCause', () => {
  it("adds what fetch's cause says (the host it could not find), once", async () => {
    const failed = await fetch('http://no-such-host.invalid/').catch((e: unknown) => e);
    expect(messageWithCause(failed)).toMatch(/^fetch failed: .*no-such-host\.invalid/);
    const plain = new Error('outer: inner', { cause: new Error('inner') });
    expect(messageWithCause(plain)).toBe('outer: inner');
    expect(messageWithCause('a string')).toBe('a string');
  });
});
