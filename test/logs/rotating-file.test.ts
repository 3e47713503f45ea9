import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/program.js';
import { createLogger, RotatingFile } from '../../src/logs/index.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'rotating-log-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const lines = (f: string): string[] => readFileSync(f, 'utf8').split('\n').filter(Boolean);

describe('the log file the worker rotates itself (run --log-file)', () => {
  it('rotates at the size limit: the file really shrinks, and the next lines go to the new file', () => {
    const file = path.join(dir, 'logs', 'worker.log');
    const log = new RotatingFile(file, { maxBytes: 100, keep: 3 });
    for (let i = 0; i < 9; i++) log.write(`line ${i} ${'x'.repeat(13)}\n`); // 21 bytes each
    log.close();
    // 4 lines (84 bytes) fit; the 5th would pass 100 bytes, so the file was renamed and restarted.
    expect(statSync(file).size).toBeLessThanOrEqual(100);
    expect(lines(`${file}.2`).map((l) => l.split(' ')[1])).toEqual(['0', '1', '2', '3']);
    expect(lines(`${file}.1`).map((l) => l.split(' ')[1])).toEqual(['4', '5', '6', '7']);
    expect(lines(file).map((l) => l.split(' ')[1])).toEqual(['8']);
  });

  it('keeps at most `keep` old files, dropping the oldest', () => {
    const file = path.join(dir, 'worker.log');
    const log = new RotatingFile(file, { maxBytes: 10, keep: 2 });
    for (let i = 0; i < 6; i++) log.write(`line ${i}\n`); // each line fills a file
    log.close();
    expect(readdirSync(dir).sort()).toEqual(['worker.log', 'worker.log.1', 'worker.log.2']);
    expect(lines(file)).toEqual(['line 5']);
    expect(lines(`${file}.1`)).toEqual(['line 4']);
    expect(lines(`${file}.2`)).toEqual(['line 3']);
  });

  it('appends to a file left by an earlier run, counting its size', () => {
    const file = path.join(dir, 'worker.log');
    writeFileSync(file, 'earlier run\n'.repeat(8)); // 96 bytes
    const log = new RotatingFile(file, { maxBytes: 100 });
    log.write('now\n'); // 100 bytes: still fits
    log.write('next\n');
    log.close();
    expect(lines(`${file}.1`)).toHaveLength(9);
    expect(lines(file)).toEqual(['next']);
  });

  it('the worker’s logger writes JSON lines to the file once told, rotating as it goes', () => {
    const file = path.join(dir, 'worker.log');
    const log = createLogger({ level: 'info', pretty: true, destination: 2 });
    const rotating = log.logToFile(file, { maxBytes: 2000, keep: 2 });
    log.addSecret('s3cret-token-value');
    for (let i = 0; i < 60; i++) log.info(`message ${i} s3cret-token-value`);
    rotating.close();
    expect(statSync(file).size).toBeLessThanOrEqual(2000);
    expect(statSync(`${file}.1`).size).toBeLessThanOrEqual(2000);
    expect(readdirSync(dir).sort()).toEqual(['worker.log', 'worker.log.1', 'worker.log.2']);
    const last = lines(file).map((l) => JSON.parse(l) as { msg: string });
    expect(last.at(-1)?.msg).toBe('message 59 [redacted]');
    expect(readFileSync(`${file}.1`, 'utf8')).not.toContain('s3cret-token-value');
  });

  it('is documented in `run --help`', () => {
    const run = buildProgram().commands.find((c) => c.name() === 'run');
    expect(run?.helpInformation()).toMatch(/--log-file <path>.*rotated at 10 MiB/s);
  });
});
