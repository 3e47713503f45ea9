import { readFile, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { writeAtomic } from '../config/store.js';
import { ModelSourceSchema, TaskKindSchema, type ModelSource, type TaskKind } from '../protocol/index.js';
import { toError, UserError } from '../util/index.js';

export const CATALOG_FILE = 'models.json';

/** One model of the catalogue, in the original's shape (camelCase, `source` = a studio modelSource). */
export const CatalogModelSchema = z.object({
  id: z
    .string()
    .min(1)
    .refine((id) => !id.includes('/'), { message: 'a model id cannot contain "/"' }),
  displayName: z.string().optional(),
  kind: TaskKindSchema,
  vramGbEstimate: z.number().min(0).default(0),
  description: z.string().optional(),
  source: ModelSourceSchema,
  enabled: z.boolean().default(true),
  /** `local`: added here (never overwritten by the studio); `studio`: mirrored from an offer. */
  origin: z.enum(['local', 'studio']).default('local'),
  exclusiveGroup: z.string().optional(),
});
export type CatalogModel = z.infer<typeof CatalogModelSchema>;
export type CatalogModelInput = z.input<typeof CatalogModelSchema>;

const CatalogFileSchema = z.looseObject({
  models: z.array(CatalogModelSchema),
  dismissedSeeds: z.array(z.string()).optional(),
});

/**
 * The model catalogue, `models.json` beside config.toml (the original's file and shape): models by
 * id, so a local request can name a model instead of listing its files. Models the studio offers
 * are added as `origin: "studio"` and never overwrite a local entry. A file that does not parse is
 * moved aside (`models.json.corrupt-<secs>`), never overwritten; the catalogue starts empty.
 */
export class CatalogStore {
  readonly path: string;
  readonly warnings: string[] = [];
  private extra: Record<string, unknown> = {};

  constructor(configDir: string) {
    this.path = join(configDir, CATALOG_FILE);
  }

  async list(): Promise<CatalogModel[]> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new UserError(`cannot read ${this.path}: ${toError(e).message}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      return this.moveAside(`is not JSON (${toError(e).message})`);
    }
    const parsed = CatalogFileSchema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return this.moveAside(
        `does not hold a model list (${issue?.path.join('.') || '(top)'}: ${issue?.message})`,
      );
    }
    const { models, ...rest } = parsed.data;
    this.extra = rest;
    return models;
  }

  async get(id: string): Promise<CatalogModel | undefined> {
    return (await this.list()).find((m) => m.id === id);
  }

  /**
   * The model a request names (or, with none named, the first enabled one of the kind), or a plain
   * reason why there is none, in the original's words.
   */
  async resolve(kind: TaskKind, id: string | undefined): Promise<CatalogModel | string> {
    const models = await this.list();
    if (id === undefined) {
      return (
        models.find((m) => m.kind === kind && m.enabled) ?? `no ${kind} model configured in the local catalog`
      );
    }
    const model = models.find((m) => m.id === id);
    if (!model) return `unknown model '${id}' (not in the local catalog)`;
    if (model.kind !== kind) return `model '${id}' is a ${model.kind} model, not ${kind}`;
    if (!model.enabled) return `model '${id}' is disabled`;
    return model;
  }

  /** Adds or replaces a model (as the operator's own: `origin` local unless given). */
  async upsert(input: CatalogModelInput): Promise<CatalogModel> {
    const model = CatalogModelSchema.parse(input);
    const models = (await this.list()).filter((m) => m.id !== model.id);
    await this.save([...models, model]);
    return model;
  }

  /** Removes a model; resolves whether it was there. */
  async remove(id: string): Promise<boolean> {
    const models = await this.list();
    const left = models.filter((m) => m.id !== id);
    if (left.length === models.length) return false;
    await this.save(left);
    return true;
  }

  /** Mirrors a model the studio offered, unless a local entry has its id or nothing changed. */
  async syncStudioModel(id: string, kind: TaskKind, source: ModelSource): Promise<boolean> {
    const models = await this.list();
    const existing = models.find((m) => m.id === id);
    if (existing?.origin === 'local') return false;
    const next = CatalogModelSchema.parse({ id, displayName: id, kind, source, origin: 'studio' });
    if (existing && JSON.stringify(existing) === JSON.stringify({ ...existing, ...next })) return false;
    await this.save([...models.filter((m) => m.id !== id), next]);
    return true;
  }

  private async save(models: CatalogModel[]): Promise<void> {
    const body = { ...this.extra, models };
    await writeAtomic(dirname(this.path), this.path, `${JSON.stringify(body, null, 2)}\n`);
  }

  private async moveAside(why: string): Promise<CatalogModel[]> {
    const aside = `${this.path}.corrupt-${Math.floor(Date.now() / 1000)}`;
    await rename(this.path, aside);
    this.warnings.push(`${this.path} ${why}; moved it to ${aside} and started an empty catalogue`);
    return [];
  }
}
