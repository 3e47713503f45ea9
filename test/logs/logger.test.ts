import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { openSync, closeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { PassThrough, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, LogShipper, type CreateLoggerOptions } from '../../src/logs/index.js';
import type { LocalLogEntry as LogEntry } from '../../src/logs/index.js';

function capture(opts: CreateLoggerOptions = {}) {
  const chunks: string[] = [];
  // A Writable whose callback runs at once takes every write synchronously, so no test has to wait.
  const out = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString('utf8'));
      done();
    },
  });
  const shipper = new LogShipper();
  const log = createLogger({ pretty: false, level: 'info', ...opts, destination: out, shipper });
  const lines = (): Record<string, unknown>[] =>
    chunks
      .join('')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { log, shipper, text: () => chunks.join(''), lines };
}

describe('createLogger', () => {
  it('writes one JSON object per line when not pretty', () => {
    const { log, lines } = capture();
    log.info('first');
    log.warn({ n: 2 }, 'second');
    expect(lines()).toEqual([
      expect.objectContaining({ level: 30, msg: 'first' }),
      expect.objectContaining({ level: 40, msg: 'second', n: 2 }),
    ]);
  });

  it('ships records with their level, category, jobId and an ISO timestamp', () => {
    const { log, shipper } = capture();
    log.info('plain');
    log.child({ category: 'session' }).warn('reconnecting');
    log.child({ category: 'runner', jobId: 'job-7' }).error('engine crashed');

    const [plain, session, runner] = shipper.drain();
    expect(plain).toEqual({ ts: plain?.ts, level: 'info', category: 'worker', message: 'plain' });
    expect(new Date(plain!.ts).toISOString()).toBe(plain!.ts);
    expect(session).toMatchObject({ level: 'warn', category: 'session', message: 'reconnecting' });
    expect(runner).toMatchObject({
      level: 'error',
      category: 'runner',
      jobId: 'job-7',
      message: 'engine crashed',
    });
  });

  it("ships a logged error's message along with the log message", () => {
    const { log, shipper } = capture();
    log.error({ err: new Error('disk full') }, 'upload failed');
    expect(shipper.drain()[0]?.message).toBe('upload failed: disk full');
  });

  it('neither prints nor ships records below its level', () => {
    const { log, shipper, lines } = capture({ level: 'warn' });
    log.debug('d');
    log.info('i');
    log.warn('w');
    expect(lines().map((l) => l.msg)).toEqual(['w']);
    expect(shipper.drain().map((e) => e.message)).toEqual(['w']);
  });

  it('takes its level from LOG_LEVEL when none is given', () => {
    const saved = process.env.LOG_LEVEL;
    process.env.LOG_LEVEL = 'debug';
    try {
      const { log, shipper } = capture({ level: undefined });
      const seen: string[] = [];
      log.onRecord((e) => seen.push(e.message));
      log.debug('visible');
      expect(seen).toEqual(['visible']);
      // Debug records are logged locally but never shipped: the original ships info, warn, error.
      expect(shipper.drain()).toEqual([]);
    } finally {
      if (saved === undefined) delete process.env.LOG_LEVEL;
      else process.env.LOG_LEVEL = saved;
    }
  });

  it('rejects an unknown level', () => {
    expect(() => createLogger({ level: 'loud', destination: new PassThrough() })).toThrow(
      /Unknown log level "loud"/,
    );
  });

  it('never lets an added secret reach the output or the shipper, even inside message text', () => {
    const { log, shipper, text } = capture();
    const secret = 'tok_3f9a8b7c6d5e';
    log.addSecret(secret);
    log.info(`connecting with ${secret}`);
    log.child({ category: 'session' }).warn({ detail: { nested: `Bearer ${secret}` } }, 'retrying');
    log.info({ quoted: `a"${secret}"b` }, 'quoted');

    expect(text()).not.toContain(secret);
    expect(text()).toContain('connecting with [redacted]');
    const shipped = shipper.drain();
    expect(JSON.stringify(shipped)).not.toContain(secret);
    expect(shipped[0]?.message).toBe('connecting with [redacted]');
  });

  it('redacts secrets from pretty output too', () => {
    const { log, text } = capture({ pretty: true });
    log.addSecret('registration-secret-value');
    log.info('secret is registration-secret-value');
    expect(text()).toContain('secret is [redacted]');
    expect(text()).not.toContain('registration-secret-value');
  });

  it('ignores secrets too short to redact safely', () => {
    const { log, text } = capture();
    log.addSecret('abc');
    log.info('abc stays');
    expect(text()).toContain('abc stays');
  });

  it('censors secret-named fields of logged objects, top-level and nested', () => {
    const { log, lines } = capture();
    log.info({ authToken: 'x' }, 'a');
    log.info({ registration: { registrationSecret: 'y' }, headers: { authorization: 'Bearer z' } }, 'b');
    const [a, b] = lines();
    expect(a?.authToken).toBe('[redacted]');
    expect(b).toMatchObject({
      registration: { registrationSecret: '[redacted]' },
      headers: { authorization: '[redacted]' },
    });
  });

  it('calls record listeners until they unsubscribe, and reports one that throws as a process warning', async () => {
    const { log, lines } = capture();
    const seen: LogEntry[] = [];
    const stop = log.onRecord((e) => seen.push(e));
    const stopBad = log.onRecord(() => {
      throw new Error('bad listener');
    });
    const warning = once(process, 'warning');
    log.child({ category: 'ui' }).info('one');
    stop();
    stopBad();
    log.info('two');

    expect(seen.map((e) => [e.category, e.message])).toEqual([['ui', 'one']]);
    expect(lines().map((l) => l.msg)).toEqual(['one', 'two']);
    const [w] = (await warning) as [Error];
    expect(w.message).toBe('bad listener');
  });

  it('writes synchronously to a file descriptor', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'sw-logs-'));
    try {
      const file = path.join(dir, 'out.log');
      const fd = openSync(file, 'w');
      const log = createLogger({ pretty: false, destination: fd });
      log.addSecret('sekrit-value-123');
      log.info('hello sekrit-value-123');
      closeSync(fd);
      const [line] = (await readFile(file, 'utf8')).trim().split('\n');
      expect(JSON.parse(line!)).toMatchObject({ msg: 'hello [redacted]' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
