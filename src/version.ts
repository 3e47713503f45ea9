import { createRequire } from 'node:module';

// Read at run time so the version always matches the installed package. src/ and dist/ sit one level
// below package.json; the benchmarks' build (dist-bench/src/) two.
const require = createRequire(import.meta.url);
function readPackage(): { version: string } {
  try {
    return require('../package.json') as { version: string };
  } catch {
    return require('../../package.json') as { version: string };
  }
}

export const VERSION: string = readPackage().version;
export const USER_AGENT = `studio-worker/${VERSION}`;
