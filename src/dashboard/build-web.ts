import { copyFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** src/dashboard and dist/dashboard both sit two levels below the package root. */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SOURCE = path.join(ROOT, 'src', 'dashboard', 'web');
export const DEFAULT_WEB_OUT = path.join(ROOT, 'dist', 'dashboard', 'web');

/**
 * Bundles the dashboard's front end (Preact, TSX) into `outDir`: app.js, index.html, style.css.
 * esbuild is a build-time tool, so it is imported here only, never by the running worker.
 */
export async function buildWeb(outDir: string = DEFAULT_WEB_OUT): Promise<void> {
  const esbuild = await import('esbuild');
  await mkdir(outDir, { recursive: true });
  await esbuild.build({
    entryPoints: [path.join(SOURCE, 'main.tsx')],
    outfile: path.join(outDir, 'app.js'),
    bundle: true,
    format: 'esm',
    target: 'es2022',
    minify: true,
    sourcemap: false,
    jsx: 'automatic',
    jsxImportSource: 'preact',
    tsconfig: path.join(SOURCE, 'tsconfig.json'),
    legalComments: 'none',
    logLevel: 'warning',
  });
  for (const file of ['index.html', 'style.css']) {
    await copyFile(path.join(SOURCE, file), path.join(outDir, file));
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await buildWeb(process.argv[2]);
}
