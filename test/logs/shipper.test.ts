import { describe, expect, it } from 'vitest';
import { LogShipper } from '../../src/logs/index.js';
import type { LogEntry } from '../../src/protocol/index.js';

function entry(n: number): LogEntry {
  return { ts: new Date(0).toISOString(), level: 'info', category: 'test', message: `m${n}` };
}

describe('LogShipper', () => {
  it('ships the original levels only: info, warn, error; fatal as error; debug and trace never', () => {
    const shipper = new LogShipper();
    for (const level of ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const) {
      shipper.push({ ts: new Date(0).toISOString(), level, category: 'test', message: level });
    }
    expect(shipper.drain().map((e) => [e.level, e.message])).toEqual([
      ['info', 'info'],
      ['warn', 'warn'],
      ['error', 'error'],
      ['error', 'fatal'],
    ]);
  });

  it('drains entries oldest first, up to the maximum asked for', () => {
    const shipper = new LogShipper();
    for (let i = 0; i < 5; i++) shipper.push(entry(i));
    expect(shipper.drain(3).map((e) => e.message)).toEqual(['m0', 'm1', 'm2']);
    expect(shipper.size).toBe(2);
    expect(shipper.drain().map((e) => e.message)).toEqual(['m3', 'm4']);
    expect(shipper.drain()).toEqual([]);
  });

  it('drops the oldest entries when full and says how many in the next drain', () => {
    const shipper = new LogShipper({ capacity: 3 });
    for (let i = 0; i < 7; i++) shipper.push(entry(i));
    expect(shipper.size).toBe(3);
    expect(shipper.droppedTotal).toBe(4);

    const batch = shipper.drain();
    expect(batch[0]).toMatchObject({
      level: 'warn',
      category: 'logs',
      message: '4 log records dropped (buffer full)',
    });
    expect(batch.slice(1).map((e) => e.message)).toEqual(['m4', 'm5', 'm6']);
  });

  it('reports a drop only once, and keeps the running total', () => {
    const shipper = new LogShipper({ capacity: 1 });
    shipper.push(entry(0));
    shipper.push(entry(1));
    expect(shipper.drain().map((e) => e.message)).toEqual(['1 log record dropped (buffer full)', 'm1']);
    shipper.push(entry(2));
    expect(shipper.drain().map((e) => e.message)).toEqual(['m2']);
    expect(shipper.droppedTotal).toBe(1);
  });

  it('counts the drop warning toward the batch maximum', () => {
    const shipper = new LogShipper({ capacity: 2 });
    for (let i = 0; i < 4; i++) shipper.push(entry(i));
    expect(shipper.drain(2).map((e) => e.message)).toEqual(['2 log records dropped (buffer full)', 'm2']);
    expect(shipper.drain(2).map((e) => e.message)).toEqual(['m3']);
  });
});
