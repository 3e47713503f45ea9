import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EngineError, type ModelProvider, type ProvisionedModel } from '../engines/index.js';
import type { FileRole, ModelFile } from '../protocol/index.js';

/**
 * Model provisioning for `generate`, which never talks to a studio: files given as local paths
 * (`file:` URLs in the claim) are used where they are; the rest goes through the model cache.
 * Studio jobs never see this: their model files are http(s) only.
 */
export class LocalFirstModels implements ModelProvider {
  /**
   * @param localInputs whether job inputs may be local files too (`generate`, run by the operator);
   *   the local API passes false: a program holding its token must not read this machine's files.
   */
  constructor(
    private readonly cache: ModelProvider,
    private readonly localInputs = true,
  ) {}

  async provision(
    files: ModelFile[],
    signal: AbortSignal,
    opts: { model?: string } = {},
  ): Promise<ProvisionedModel> {
    const remote = files.filter((f) => !f.url.startsWith('file:'));
    const fetched = remote.length > 0 ? await this.cache.provision(remote, signal, opts) : undefined;
    const taken = new Map<FileRole, number>();
    const paths = files.map((f) => {
      if (f.url.startsWith('file:')) return { role: f.role, path: fileURLToPath(f.url) };
      // The cache answers in the modelSource's order per role: take its paths in turn.
      const n = taken.get(f.role) ?? 0;
      taken.set(f.role, n + 1);
      return { role: f.role, path: fetched?.byRole(f.role)[n] ?? '' };
    });
    const byRole = (role: FileRole) => paths.filter((p) => p.role === role).map((p) => p.path);
    return { byRole, path: (role) => byRole(role)[0], release: () => fetched?.release() };
  }

  /** A `file:` input (a path given to `generate`) is copied in; anything else is fetched as the worker fetches. */
  async fetchInput(...args: Parameters<ModelProvider['fetchInput']>): Promise<string> {
    const [url, destDir, , opts] = args;
    // A `data:` URL carries its own bytes (the original's local API takes images so): no file is read.
    const data = /^data:([a-z]+\/[a-z0-9.+-]+)?(;base64)?,/i.exec(url);
    if (data) {
      const payload = url.slice(data[0].length);
      const bytes = data[2] ? Buffer.from(payload, 'base64') : Buffer.from(decodeURIComponent(payload));
      if (opts?.maxBytes !== undefined && bytes.length > opts.maxBytes) {
        throw new EngineError(
          `the data: URL holds ${bytes.length} bytes, more than the ${opts.maxBytes} allowed`,
          false,
        );
      }
      await mkdir(destDir, { recursive: true });
      const ext = (data[1]?.split('/')[1] ?? 'bin').replace('jpeg', 'jpg').replace(/[^a-z0-9]/g, '');
      const dest = join(destDir, `input.${ext}`);
      await writeFile(dest, bytes);
      return dest;
    }
    if (!url.startsWith('file:') || !this.localInputs) return this.cache.fetchInput(...args);
    const source = fileURLToPath(url);
    await mkdir(destDir, { recursive: true });
    const dest = join(destDir, basename(source) || 'input');
    await copyFile(source, dest);
    return dest;
  }
}
