#!/usr/bin/env node
/**
 * `npm run sdcpp:model -- <out.gguf>`: writes the random-weight SD 1.x model for the real
 * sd-cli and sd-server (every tensor they load, small random values; its metadata says it is
 * random weights for tests), generated here and cached beside the build (see sdcpp-build.mjs),
 * then hard-linked (or copied) to <out.gguf>. Without an argument it prints the cached path.
 * Never downloaded. Exit codes as sdcpp-build.mjs.
 */
import { copyFile, link, rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { sdcppModel } from './sdcpp-lib.mjs';

const out = process.argv[2];
try {
  const path = await sdcppModel({ log: (line) => process.stderr.write(`${line}\n`) });
  if (out) {
    await rm(out, { force: true });
    await link(path, resolve(out)).catch(() => copyFile(path, resolve(out)));
  }
  process.stdout.write(`${out ? resolve(out) : path}\n`);
} catch (e) {
  process.stderr.write(`sdcpp:model: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(typeof e?.exitCode === 'number' ? e.exitCode : 5);
}
