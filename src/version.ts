import { createRequire } from 'node:module';

// Read at run time so the version always matches the installed package (src/ and dist/ are both
// two levels below package.json).
const pkg = createRequire(import.meta.url)('../package.json') as { version: string };

export const VERSION: string = pkg.version;
export const USER_AGENT = `studio-worker/${VERSION}`;
