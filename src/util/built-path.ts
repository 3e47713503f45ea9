import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * The path of a compiled module that a child `node` process can load, next to the module at
 * `fromUrl`. From `dist/` that is the sibling `.js` file itself; from `src/` (the tests run the
 * TypeScript under vitest, which a plain child process cannot load) it is the same file in `dist/`,
 * which `npm test` builds first.
 */
export function builtModulePath(fromUrl: string, relativeJs: string): string {
  const sibling = fileURLToPath(new URL(relativeJs, fromUrl));
  if (existsSync(sibling)) return sibling;
  const fromSrc = sibling.replace(/([\\/])src([\\/])(?!.*[\\/]src[\\/])/, '$1dist$2');
  if (fromSrc !== sibling && existsSync(fromSrc)) return fromSrc;
  throw new Error(`${relativeJs} is not built (looked for ${sibling} and ${fromSrc}): run \`npm run build\``);
}
