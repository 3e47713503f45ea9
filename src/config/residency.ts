import { readFile, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { toError, UserError } from '../util/index.js';
import { writeAtomic } from './store.js';

export const RESIDENCY_FILE = 'residency.json';
const VERSION = 1;

/**
 * The models the operator keeps loaded (`models keep` / `models release`), in the original's file:
 * `residency.json` beside config.toml, `{ "version": 1, "resident": [ids, sorted] }`. A kept model
 * is never unloaded for being idle or to make room for another job. A file that cannot be read as
 * that is moved aside (never overwritten) and the list starts empty.
 */
export class ResidencyStore {
  readonly path: string;
  private resident = new Set<string>();
  /** Said once when the file had to be moved aside. */
  readonly warnings: string[] = [];

  constructor(configDir: string) {
    this.path = join(configDir, RESIDENCY_FILE);
  }

  /** The kept model ids, as last loaded or changed. */
  get kept(): ReadonlySet<string> {
    return this.resident;
  }

  has(model: string): boolean {
    return this.resident.has(model);
  }

  async load(): Promise<ReadonlySet<string>> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        this.resident = new Set();
        return this.resident;
      }
      throw new UserError(`cannot read ${this.path}: ${toError(e).message}`);
    }
    const parsed = parse(text);
    if (typeof parsed === 'string') {
      const aside = `${this.path}.corrupt-${Date.now()}`;
      await rename(this.path, aside);
      this.warnings.push(`${this.path} ${parsed}; moved it to ${aside} and started with no kept models`);
      this.resident = new Set();
    } else {
      this.resident = parsed;
    }
    return this.resident;
  }

  /** Keeps (`true`) or releases a model; saved before it takes effect. Resolves whether anything changed. */
  async set(model: string, keep: boolean): Promise<boolean> {
    await this.load();
    if (this.resident.has(model) === keep) return false;
    const next = new Set(this.resident);
    if (keep) next.add(model);
    else next.delete(model);
    const body = { version: VERSION, resident: [...next].sort() };
    await writeAtomic(dirname(this.path), this.path, `${JSON.stringify(body, null, 2)}\n`);
    this.resident = next;
    return true;
  }
}

function parse(text: string): Set<string> | string {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return `is not JSON (${toError(e).message})`;
  }
  const body = json as { version?: unknown; resident?: unknown };
  if (typeof body !== 'object' || body === null || body.version !== VERSION)
    return `has no "version": ${VERSION}`;
  const keys = Object.keys(body).filter((k) => k !== 'version' && k !== 'resident');
  if (keys.length > 0) return `has unknown keys (${keys.join(', ')})`;
  if (!Array.isArray(body.resident) || body.resident.some((m) => typeof m !== 'string')) {
    return 'has no "resident" list of model ids';
  }
  return new Set(body.resident as string[]);
}
