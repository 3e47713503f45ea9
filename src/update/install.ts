import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { toError } from '../util/index.js';
import { ChecksumMismatchError, InstallNotWritableError, UpdateError } from './errors.js';
import { checksumFor, downloadWithSha256, fetchText } from './http.js';
import { runNpm } from './npm.js';
import type { UpdateCandidate } from './select.js';

export const PACKAGE_NAME = 'studio-worker';

export interface InstalledVersion {
  version: string;
  /** `<versionsDir>/<version>`, an npm prefix holding `node_modules/studio-worker`. */
  dir: string;
  /** The package's `studio-worker` bin script: what gets re-executed. */
  entry: string;
}

export interface InstallOptions {
  candidate: UpdateCandidate;
  versionsDir: string;
  /** The running version (User-Agent). */
  runningVersion: string;
  log: { debug: (msg: string) => void; info: (msg: string) => void };
  signal?: AbortSignal;
}

const NOT_WRITABLE = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOTDIR', 'EEXIST']);

/**
 * Downloads the release's package, checks it against the release's SHA-256, and installs it with
 * npm into its own prefix under `versionsDir`. The prefix is built beside its final name and renamed
 * into place, so a half-done install is never launched.
 */
export async function installRelease(opts: InstallOptions): Promise<InstalledVersion> {
  const { candidate, versionsDir, runningVersion, signal } = opts;
  await ensureWritable(versionsDir, candidate.version);
  const existing = await installedVersion(versionsDir, candidate.version);
  if (existing) return existing;

  const sums = await fetchText(candidate.checksumAsset.url, runningVersion, signal);
  const expected = checksumFor(sums, candidate.packageAsset.name);
  if (!expected)
    throw new UpdateError(
      `${candidate.checksumAsset.name} has no SHA-256 for ${candidate.packageAsset.name}`,
    );

  const nonce = randomBytes(4).toString('hex');
  // npm recognises a tarball by its `.tgz` ending.
  const tgz = path.join(versionsDir, `.${nonce}-${candidate.packageAsset.name}`);
  const staging = path.join(versionsDir, `.${candidate.version}.${nonce}.partial`);
  try {
    const actual = await downloadWithSha256(candidate.packageAsset.url, tgz, runningVersion, signal);
    if (actual !== expected) throw new ChecksumMismatchError(candidate.packageAsset.name, expected, actual);
    opts.log.info(`installing studio-worker ${candidate.version} (SHA-256 verified)`);
    await mkdir(staging, { recursive: true });
    await runNpm(
      ['install', '--prefix', staging, '--no-audit', '--no-fund', '--omit=dev', '--no-save', tgz],
      (line) => opts.log.debug(`npm: ${line}`),
      signal,
    );
    const dir = path.join(versionsDir, candidate.version);
    await rm(dir, { recursive: true, force: true });
    await rename(staging, dir);
    const installed = await installedVersion(versionsDir, candidate.version);
    if (!installed)
      throw new UpdateError(
        `${candidate.packageAsset.name} did not install studio-worker ${candidate.version}`,
      );
    return installed;
  } finally {
    await rm(tgz, { force: true });
    await rm(staging, { recursive: true, force: true });
  }
}

/** The install of `version` under `versionsDir`, if it is complete. */
export async function installedVersion(
  versionsDir: string,
  version: string,
): Promise<InstalledVersion | undefined> {
  const dir = path.join(versionsDir, version);
  const pkgDir = path.join(dir, 'node_modules', PACKAGE_NAME);
  try {
    const pkg = JSON.parse(await readFile(path.join(pkgDir, 'package.json'), 'utf8')) as {
      version?: unknown;
      bin?: unknown;
    };
    if (pkg.version !== version) return undefined;
    const bin =
      typeof pkg.bin === 'string'
        ? pkg.bin
        : (pkg.bin as Record<string, unknown> | undefined)?.[PACKAGE_NAME];
    if (typeof bin !== 'string') return undefined;
    return { version, dir, entry: path.resolve(pkgDir, bin) };
  } catch {
    return undefined;
  }
}

/** A probe write, since permission bits lie to root and to read-only mounts alike. */
async function ensureWritable(dir: string, version: string): Promise<void> {
  const probe = path.join(dir, `.probe-${process.pid}`);
  try {
    await mkdir(dir, { recursive: true });
    await writeFile(probe, '');
    await rm(probe, { force: true });
  } catch (e) {
    const code = (toError(e) as NodeJS.ErrnoException).code;
    if (code && NOT_WRITABLE.has(code)) throw new InstallNotWritableError(dir, version, { cause: e });
    throw e;
  }
}
