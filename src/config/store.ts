import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { toError } from '../util/index.js';
import { DEFAULT_CONFIG } from './defaults.js';
import { ConfigError } from './errors.js';
import { parseConfigText, type ParsedConfig } from './parse.js';
import { serializeConfig } from './serialize.js';
import type { WorkerConfig } from './types.js';

export const CONFIG_FILE = 'config.toml';

/** Per file, not per store: two stores on one directory must not interleave their updates either. */
const updateChains = new Map<string, Promise<unknown>>();

/**
 * config.toml on disk. Saves are atomic (temp file, fsync, rename) and 0600; a file that does not
 * parse or validate is never overwritten, so an operator's broken edit is reported, not lost.
 */
export class ConfigStore {
  readonly path: string;
  #warnings: string[] = [];

  /** `fileName`: config.toml unless the operator named another file (`--config <file>`, as the original's flag). */
  constructor(
    readonly dir: string,
    readonly fileName: string = CONFIG_FILE,
  ) {
    this.path = path.join(dir, fileName);
  }

  /** Warnings of the last load (unknown keys, which are kept). */
  get warnings(): string[] {
    return [...this.#warnings];
  }

  /** Whether config.toml itself sets `tomlKey` (rather than leaving it to its default). */
  async isSet(tomlKey: string): Promise<boolean> {
    return (await this.#read()).present.includes(tomlKey);
  }

  async exists(): Promise<boolean> {
    try {
      await stat(this.path);
      return true;
    } catch (e) {
      if (isNotFound(e)) return false;
      throw toError(e);
    }
  }

  /** The config with defaults applied; a missing file gives the defaults and writes nothing. */
  async load(): Promise<WorkerConfig> {
    const parsed = await this.#read();
    this.#warnings = parsed.warnings;
    return parsed.config;
  }

  async save(config: WorkerConfig): Promise<void> {
    // Reading first both refuses to clobber a corrupt file and picks up unknown keys to keep.
    const current = await this.#read();
    const text = serializeConfig(config, current.unknown, current.present);
    try {
      parseConfigText(text, this.path);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      const problems = e.problems.map(({ key, message }) => ({ key, message }));
      throw new ConfigError(this.path, problems, { detail: 'Not saved: the new values are invalid.' });
    }
    await writeAtomic(this.dir, this.path, text);
  }

  /** load → fn → save, one at a time per file; `fn` may return a new config or mutate its argument. */
  update(fn: (c: WorkerConfig) => WorkerConfig | void): Promise<WorkerConfig> {
    const previous = updateChains.get(this.path) ?? Promise.resolve();
    const run = previous.then(
      () => this.#applyUpdate(fn),
      () => this.#applyUpdate(fn),
    );
    updateChains.set(this.path, run);
    const forget = (): void => {
      if (updateChains.get(this.path) === run) updateChains.delete(this.path);
    };
    run.then(forget, forget);
    return run;
  }

  async #applyUpdate(fn: (c: WorkerConfig) => WorkerConfig | void): Promise<WorkerConfig> {
    const current = await this.load();
    const next = fn(current) ?? current;
    await this.save(next);
    return next;
  }

  async #read(): Promise<ParsedConfig> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (e) {
      if (isNotFound(e)) return { config: { ...DEFAULT_CONFIG }, unknown: {}, warnings: [], present: [] };
      const err = toError(e);
      throw new ConfigError(this.path, [{ message: `cannot read: ${err.message}` }], { cause: err });
    }
    return parseConfigText(text, this.path);
  }
}

/** Writes `text` to `file` (temp file, fsync, rename), mode 0600, creating `dir` (0700) if needed. */
export async function writeAtomic(dir: string, file: string, text: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const handle = await open(tmp, 'wx', 0o600);
    try {
      await handle.writeFile(text, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    throw toError(e);
  }
  // rename keeps the temp file's mode, but a umask or an old file's ACL can still widen it.
  await chmod(file, 0o600);
}

function isNotFound(e: unknown): boolean {
  return (e as { code?: unknown } | null)?.code === 'ENOENT';
}
