import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { WorkerEventBus } from '../events/index.js';
import { CoalescedFileWriter, pidAlive } from '../util/index.js';

/** Beside config.toml: what the running worker found broken, for `studio-worker engines` to show. */
export const ENGINE_HEALTH_FILE = 'engine-health.json';

export interface EngineHealth {
  /** GPU backends marked broken, with why (for this worker process's life). */
  broken: Record<string, string>;
  lastCrash?: { at: string; message: string };
}

export interface EngineHealthRecord {
  pid: number;
  updatedAt: string;
  engines: Record<string, EngineHealth>;
}

/**
 * Keeps engine-health.json up to date with the running worker's engine crashes and broken
 * backends. Those are facts about this process (a fresh worker tries every backend again), so the
 * file names its pid, is removed at stop, and is read only while that pid runs.
 */
export class EngineHealthFile {
  private readonly writer: CoalescedFileWriter;
  private readonly engines: Record<string, EngineHealth> = {};
  private readonly offs: (() => void)[] = [];

  constructor(
    private readonly dir: string,
    events: WorkerEventBus,
  ) {
    this.writer = new CoalescedFileWriter(join(dir, ENGINE_HEALTH_FILE));
    this.offs.push(
      events.on('engine:crashed', (c) => {
        this.entry(c.engine).lastCrash = { at: c.at, message: c.message };
        this.save();
      }),
      events.on('engine:backend-broken', (b) => {
        this.entry(b.engine).broken[b.backend] = b.reason;
        this.save();
      }),
    );
  }

  /** Resolves once what was recorded so far is on disk. */
  flush(): Promise<void> {
    return this.writer.flush();
  }

  async stop(): Promise<void> {
    for (const off of this.offs.splice(0)) off();
    await this.writer.flush();
    await rm(join(this.dir, ENGINE_HEALTH_FILE), { force: true }).catch(() => undefined);
  }

  private entry(engine: string): EngineHealth {
    return (this.engines[engine] ??= { broken: {} });
  }

  private save(): void {
    this.writer.write(() => {
      const record: EngineHealthRecord = {
        pid: process.pid,
        updatedAt: new Date().toISOString(),
        engines: this.engines,
      };
      return `${JSON.stringify(record, null, 2)}\n`;
    });
  }
}

/** The running worker's engine health on this config folder, if a worker other than this process runs. */
export async function readEngineHealth(dir: string): Promise<EngineHealthRecord | undefined> {
  try {
    const record = JSON.parse(await readFile(join(dir, ENGINE_HEALTH_FILE), 'utf8')) as EngineHealthRecord;
    if (typeof record.pid !== 'number' || record.pid === process.pid || !pidAlive(record.pid))
      return undefined;
    return typeof record.engines === 'object' && record.engines !== null ? record : undefined;
  } catch {
    return undefined;
  }
}
