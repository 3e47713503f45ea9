import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { UpdateError } from './errors.js';

const NPM_TIMEOUT_MS = 10 * 60_000;

/**
 * npm's own CLI script beside this Node, run with this Node: no shell and no `npm.cmd` (which
 * Windows cannot spawn without one); `npm` on PATH is the fallback.
 */
function npmCommand(): { file: string; prefix: string[] } {
  const bin = path.dirname(process.execPath);
  const candidates = [
    path.join(bin, 'node_modules', 'npm', 'bin', 'npm-cli.js'),
    path.join(bin, '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js'),
  ];
  const cli = candidates.find((c) => existsSync(c));
  return cli ? { file: process.execPath, prefix: [cli] } : { file: 'npm', prefix: [] };
}

/** Runs npm with `args`; its output goes to `onLine`; rejects with npm's last lines on failure. */
export function runNpm(args: string[], onLine: (line: string) => void, signal?: AbortSignal): Promise<void> {
  const { file, prefix } = npmCommand();
  return new Promise((resolve, reject) => {
    const child = spawn(file, [...prefix, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: NPM_TIMEOUT_MS,
      ...(signal ? { signal } : {}),
    });
    const tail: string[] = [];
    const take = (chunk: Buffer): void => {
      for (const line of chunk.toString('utf8').split(/\r?\n/)) {
        if (!line.trim()) continue;
        onLine(line);
        tail.push(line);
        if (tail.length > 20) tail.shift();
      }
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.once('error', (e) => {
      reject(new UpdateError(`npm could not run: ${e.message}`, { cause: e }));
    });
    child.once('close', (code, sig) => {
      if (code === 0) resolve();
      else
        reject(new UpdateError(`npm ${args[0] ?? ''} failed (${sig ?? `exit ${code}`}): ${tail.join('\n')}`));
    });
  });
}
