import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ExitCode, UserError, type ExitCodeValue } from '../util/index.js';

/** What `scripts/sdcpp-lib.mjs` exports (a plain script, shared with the tests and the bench). */
export interface SdcppLib {
  sdcppSource: () => string | undefined;
  sdcppBuild: (o: { log: (line: string) => void }) => Promise<string>;
  sdcppModel: (o: { log: (line: string) => void }) => Promise<string>;
}

/** The package root: this file is src/demo/sdcpp.ts or dist/demo/sdcpp.js. */
export const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The real stable-diffusion.cpp built from the vendored source, and its random-weight model. */
export interface RealSdcpp {
  /** The folder holding sd-cli and sd-server. */
  binDir: string;
  /** The random-weight SD 1.x gguf (about 2.1 GB; its images are noise). */
  modelPath: string;
}

const sdcppLibPath = (root: string): string => join(root, 'scripts', 'sdcpp-lib.mjs');

/** `scripts/sdcpp-lib.mjs` of the repository at `root`, or undefined where it is absent (an npm install). */
export async function sdcppLib(root: string = PACKAGE_ROOT): Promise<SdcppLib | undefined> {
  const script = sdcppLibPath(root);
  if (!existsSync(script)) return undefined;
  return (await import(pathToFileURL(script).href)) as SdcppLib;
}

const EXIT_CODES = new Set<number>(Object.values(ExitCode));

/**
 * Builds (or finds, cached) the real sd-cli and sd-server and the random-weight model with
 * `scripts/sdcpp-lib.mjs`, which lives in the repository, not in the published package. Fails with a
 * UserError of one line where the script or the vendored source is absent (exit 2), and with the
 * script's own exit code where the build fails.
 */
export async function locateRealSdcpp(
  log: (line: string) => void,
  root: string = PACKAGE_ROOT,
): Promise<RealSdcpp> {
  const lib = await sdcppLib(root);
  if (!lib) {
    throw new UserError(
      `--real-image needs a clone of the studio-worker repository (${sdcppLibPath(root)} is not in the published package)`,
      ExitCode.usage,
    );
  }
  if (!lib.sdcppSource()) {
    const env = process.env['SDCPP_SOURCE'];
    const where = env
      ? `SDCPP_SOURCE names ${env}, which does not exist`
      : `expected ${join(root, '..', 'shared', 'vendor', 'stable-diffusion.cpp-*.tar.xz')} (or SDCPP_SOURCE)`;
    throw new UserError(
      `--real-image needs the vendored stable-diffusion.cpp source, which is absent: ${where}`,
      ExitCode.usage,
    );
  }
  // sdcppModel checks the build again: its "already built" line is said once.
  let last: string | undefined;
  const once = (line: string): void => {
    if (line !== last) log(line);
    last = line;
  };
  try {
    const binDir = await lib.sdcppBuild({ log: once });
    const modelPath = await lib.sdcppModel({ log: once });
    return { binDir, modelPath };
  } catch (e) {
    const code = (e as { exitCode?: unknown }).exitCode;
    if (typeof code !== 'number' || !EXIT_CODES.has(code)) throw e;
    const message = e instanceof Error ? e.message : String(e);
    throw new UserError(`stable-diffusion.cpp could not be built: ${message}`, code as ExitCodeValue);
  }
}
