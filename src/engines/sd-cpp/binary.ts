import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** What the operator reads when sd-cli is missing: where to point the worker and how to get one. */
export const SD_CLI_NOT_FOUND =
  'sd-cli (stable-diffusion.cpp) not found: set sd_cli_path in config.toml or put sd-cli on PATH — ' +
  'build it from https://github.com/leejet/stable-diffusion.cpp (CUDA: cmake -DSD_CUDA=ON)';

/** Long enough that heartbeats (every 5 s) do not stat the disk each time, short enough to notice an install. */
const LOOKUP_TTL_MS = 10_000;

/**
 * Finds sd-cli: the configured path when set (and only it: a wrong setting must not be papered
 * over by another binary on PATH), else the first executable `sd-cli` on PATH. Synchronous because
 * `refuse()` and `capabilities()` are; results are cached for a few seconds.
 */
export class SdCliLocator {
  private cached: { at: number; path: string | undefined } | undefined;

  constructor(
    private readonly configured: string | undefined,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  /** The absolute path of an executable sd-cli, or undefined. */
  find(now = Date.now()): string | undefined {
    if (this.cached && now - this.cached.at < LOOKUP_TTL_MS) return this.cached.path;
    const path = this.configured
      ? isExecutable(this.configured)
        ? this.configured
        : undefined
      : onPath(this.env);
    this.cached = { at: now, path };
    return path;
  }

  /** Forgets the cached answer (after a spawn failed, say). */
  invalidate(): void {
    this.cached = undefined;
  }
}

function onPath(env: NodeJS.ProcessEnv): string | undefined {
  const dirs = (env['PATH'] ?? env['Path'] ?? '').split(delimiter).filter((d) => d !== '');
  const names =
    process.platform === 'win32'
      ? (env['PATHEXT'] ?? '.EXE;.CMD;.BAT').split(';').map((ext) => `sd-cli${ext.toLowerCase()}`)
      : ['sd-cli'];
  for (const dir of dirs) {
    for (const name of names) {
      const candidate = join(dir, name);
      if (isExecutable(candidate)) return candidate;
    }
  }
  return undefined;
}

function isExecutable(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, process.platform === 'win32' ? constants.F_OK : constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
