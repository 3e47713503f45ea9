import { execFile } from 'node:child_process';
import { readFile, readdir } from 'node:fs/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A direct child of a process with everything below it: its pids and their resident memory. */
export interface ChildTree {
  pid: number;
  /** The child and all its descendants. */
  pids: number[];
  rssBytes: number;
}

interface Row {
  pid: number;
  ppid: number;
  rssBytes: number;
}

/**
 * Each direct child of `parent` with its descendants and their summed resident memory. An
 * engine's memory includes the helpers it starts (whisper's child, sd-server's threads live in
 * one process, ffmpeg), so a limit counts a whole tree. Linux reads /proc; macOS asks `ps`;
 * Windows answers nothing (no limit is enforced there).
 */
export async function childTrees(parent: number): Promise<ChildTree[]> {
  const rows = await processTable(parent);
  const byParent = new Map<number, Row[]>();
  for (const row of rows) byParent.set(row.ppid, [...(byParent.get(row.ppid) ?? []), row]);
  return (byParent.get(parent) ?? []).map((child) => {
    const tree: Row[] = [];
    const stack = [child];
    while (stack.length > 0) {
      const row = stack.pop();
      if (!row || tree.includes(row)) continue;
      tree.push(row);
      stack.push(...(byParent.get(row.pid) ?? []));
    }
    return {
      pid: child.pid,
      pids: tree.map((r) => r.pid),
      rssBytes: tree.reduce((sum, r) => sum + r.rssBytes, 0),
    };
  });
}

async function processTable(parent: number): Promise<Row[]> {
  if (process.platform === 'linux') return linuxTable(parent);
  if (process.platform === 'win32') return [];
  try {
    const { stdout } = await run('ps', ['-A', '-o', 'pid=,ppid=,rss='], { timeout: 5000 });
    return stdout
      .trim()
      .split('\n')
      .map((l) => l.trim().split(/\s+/).map(Number))
      .filter((r) => r.length === 3 && r.every(Number.isFinite))
      .map(([pid, ppid, kb]) => ({ pid: pid ?? 0, ppid: ppid ?? 0, rssBytes: (kb ?? 0) * 1024 }));
  } catch {
    return [];
  }
}

/** Only the processes below `parent` are read: /proc/<pid>/task/<tid>/children lists them. */
async function linuxTable(parent: number): Promise<Row[]> {
  const rows: Row[] = [];
  const visit = async (pid: number): Promise<void> => {
    for (const child of await linuxChildren(pid)) {
      rows.push({ pid: child, ppid: pid, rssBytes: await linuxRss(child) });
      await visit(child);
    }
  };
  await visit(parent);
  return rows;
}

async function linuxRss(pid: number): Promise<number> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
    // A zombie has no VmRSS line: it holds no memory any more.
    return kb === undefined ? 0 : Number(kb) * 1024;
  } catch {
    return 0;
  }
}

async function linuxChildren(pid: number): Promise<number[]> {
  try {
    const tasks = await readdir(`/proc/${pid}/task`);
    const lists = await Promise.all(
      tasks.map((t) => readFile(`/proc/${pid}/task/${t}/children`, 'utf8').catch(() => '')),
    );
    return [...new Set(lists.join(' ').trim().split(/\s+/).filter(Boolean).map(Number))];
  } catch {
    return [];
  }
}
