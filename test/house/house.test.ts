import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import madge from 'madge';
import { describe, expect, it } from 'vitest';

// The shape of the source tree the developers' guide asks for: small modules, and an import graph
// without circles (type-only imports included: they tie modules together just the same).
const ROOT = join(import.meta.dirname, '../..');
const SRC = join(ROOT, 'src');
const MAX_LINES = 400;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return /\.tsx?$/.test(name) ? [path] : [];
  });
}

describe('the house', () => {
  it(`has no source file over ${MAX_LINES} lines`, () => {
    const long = sourceFiles(SRC)
      .map((path) => ({
        file: relative(ROOT, path),
        lines: readFileSync(path, 'utf8').split('\n').length - 1,
      }))
      .filter((f) => f.lines > MAX_LINES);
    expect(long).toEqual([]);
  });

  it('has no circle in its import graph', async () => {
    const graph = await madge(SRC, {
      fileExtensions: ['ts', 'tsx'],
      tsConfig: join(ROOT, 'tsconfig.json'),
    });
    expect(graph.circular()).toEqual([]);
    // The graph was really read: the worker reaches the runner.
    expect(graph.obj()['worker/compose.ts']).toContain('runner/index.ts');
  });
});
