import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';

/** What the operator reads when sd-cli is missing: where to point the worker and how to get one. */
export const SD_CLI_NOT_FOUND =
  'sd-cli (stable-diffusion.cpp) not found: set sd_cli_path in config.toml or put sd-cli on PATH — ' +
  'build it from https://github.com/leejet/stable-diffusion.cpp (CUDA: cmake -DSD_CUDA=ON)';

/** Long enough that heartbeats (every 5 s) do not stat the disk each time, short enough to notice an install. */
const LOOKUP_TTL_MS = 10_000;

/** The original's operator override: an absolute path to sd-cli. */
export const SD_CLI_ENV = 'STUDIO_WORKER_SD_CLI';

const exe = (base: string) => (process.platform === 'win32' ? `${base}.exe` : base);

/**
 * Finds sd-cli: the configured path when set (and only it: a wrong setting must not be papered
 * over by another binary), else in the original's order: `STUDIO_WORKER_SD_CLI`, the worker's own
 * install in `<models_root>/bin/`, `~/.local/bin/` (the manual install's place), then PATH.
 * Synchronous because `refuse()` and `capabilities()` are; results are cached for a few seconds.
 */
export class SdCliLocator {
  private cached: { at: number; path: string | undefined } | undefined;

  constructor(
    private readonly configured: string | undefined,
    private readonly env: NodeJS.ProcessEnv = process.env,
    private readonly modelsRoot?: string,
  ) {}

  /** The absolute path of an executable sd-cli, or undefined. */
  find(now = Date.now()): string | undefined {
    if (this.cached && now - this.cached.at < LOOKUP_TTL_MS) return this.cached.path;
    const path = this.configured
      ? isExecutable(this.configured)
        ? this.configured
        : undefined
      : this.search();
    this.cached = { at: now, path };
    return path;
  }

  private search(): string | undefined {
    const fromEnv = this.env[SD_CLI_ENV];
    if (fromEnv && isExecutable(fromEnv)) return fromEnv;
    const fixed = [
      ...(this.modelsRoot ? [join(this.modelsRoot, 'bin', exe('sd-cli'))] : []),
      join(this.env['HOME'] ?? homedir(), '.local', 'bin', exe('sd-cli')),
    ];
    return fixed.find(isExecutable) ?? onPath(this.env);
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

/** The sd-server that came with an sd-cli (the release zips ship both side by side), if any. */
export function serverBeside(cli: string): string | undefined {
  const candidate = join(dirname(cli), exe('sd-server'));
  return isExecutable(candidate) ? candidate : undefined;
}

/** The shared library the release builds link against, per OS. */
const LIBRARY = process.platform === 'darwin' ? 'libstable-diffusion.dylib' : 'libstable-diffusion.so';

/**
 * The environment to start sd-cli or sd-server in: when the stable-diffusion library sits beside
 * the binary (a release zip's layout), the loader is pointed at that folder. Windows finds a DLL
 * beside the exe by itself.
 */
export function binaryEnv(binary: string, env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  if (process.platform === 'win32') return env;
  const dir = dirname(binary);
  if (!existsSync(join(dir, LIBRARY))) return env;
  const name = process.platform === 'darwin' ? 'DYLD_LIBRARY_PATH' : 'LD_LIBRARY_PATH';
  const current = env[name];
  return { ...env, [name]: current ? `${dir}${delimiter}${current}` : dir };
}
