import { readFile, readdir } from 'node:fs/promises';

/** The pids of the child processes of `parent` whose command line names `script` (Linux: /proc). */
export async function childPidsRunning(parent: number, script: string): Promise<number[]> {
  const tasks = await readdir(`/proc/${parent}/task`).catch(() => [] as string[]);
  const children = new Set<number>();
  for (const task of tasks) {
    const list = await readFile(`/proc/${parent}/task/${task}/children`, 'utf8').catch(() => '');
    for (const pid of list.trim().split(/\s+/).filter(Boolean)) children.add(Number(pid));
  }
  const found: number[] = [];
  for (const pid of children) {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(script)) found.push(pid);
  }
  return found;
}

/** The pids of the engine child processes (see src/engines/supervise/) that `parent` started. */
export function engineChildPids(parent: number): Promise<number[]> {
  return childPidsRunning(parent, 'child-main.js');
}

/** The pids of the image codec processes (src/util/sharp-child.ts) that `parent` started. */
export function codecChildPids(parent: number): Promise<number[]> {
  return childPidsRunning(parent, 'sharp-child.js');
}

/** Waits until `parent` has exactly one engine child, and answers its pid. */
export async function oneEngineChild(parent: number, timeoutMs = 10_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pids = await engineChildPids(parent);
    if (pids.length === 1 && pids[0] !== undefined) return pids[0];
    if (Date.now() > deadline)
      throw new Error(`pid ${parent} has engine children [${pids.join(', ')}], not one`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
