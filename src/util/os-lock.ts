import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { open, readFile, stat } from 'node:fs/promises';

/** Another process holds an OS file lock on the file; its pid where the kernel says. */
export interface OsLockHolder {
  pid?: number;
}

/**
 * Whether some process holds an OS file lock (flock, fcntl, LockFileEx) on the file at `path` — the
 * original (Rust) worker holds `daemon.lock` that way for its whole life, and the kernel lets go
 * when it exits. Node cannot take such a lock, but it can see one: Linux lists them in /proc/locks
 * (only those of processes in our pid namespace), util-linux's or busybox's `flock` probes any
 * with a non-blocking shared lock (the same probe the original's tray makes), and on Windows,
 * where these locks are mandatory, a read of the locked file fails. Undefined when nothing holds
 * one, or nothing here can tell.
 */
export async function osLockHolder(path: string): Promise<OsLockHolder | undefined> {
  if (process.platform === 'win32') return (await readRefused(path)) ? {} : undefined;
  const listed = await procLocksHolder(path);
  if (listed) return listed;
  return (await flockProbeRefused(path)) ? {} : undefined;
}

/** Glibc's dev_t split (what `stat` gives) into the major/minor that /proc/locks prints in hex. */
function devParts(dev: bigint): { major: bigint; minor: bigint } {
  return {
    major: ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn),
    minor: (dev & 0xffn) | ((dev >> 12n) & ~0xffn),
  };
}

async function procLocksHolder(path: string): Promise<OsLockHolder | undefined> {
  let table: string;
  let s;
  try {
    [table, s] = await Promise.all([readFile('/proc/locks', 'utf8'), stat(path, { bigint: true })]);
  } catch {
    return undefined;
  }
  const { major, minor } = devParts(s.dev);
  for (const line of table.split('\n')) {
    // "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"; "1: -> FLOCK …" lines are waiters, not holders.
    const m = /^\d+:\s+(FLOCK|POSIX|OFDLCK)\s+\S+\s+\S+\s+(-?\d+)\s+([0-9a-f]+):([0-9a-f]+):(\d+)\s/.exec(
      line,
    );
    if (!m) continue;
    const [, , pid, maj, min, ino] = m;
    if (BigInt(`0x${maj}`) !== major || BigInt(`0x${min}`) !== minor || BigInt(ino ?? -1) !== s.ino) continue;
    const n = Number(pid);
    return n > 0 ? { pid: n } : {};
  }
  return undefined;
}

/** `flock -n -s <path> true`: 1 when another process holds the file locked (exclusively). */
function flockProbeRefused(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    execFile('flock', ['-n', '-s', path, 'true'], { timeout: 5000 }, (err) =>
      resolve(err !== null && err.code === 1),
    );
  });
}

async function readRefused(path: string): Promise<boolean> {
  try {
    const handle = await open(path, 'r');
    try {
      await handle.read(Buffer.alloc(1), 0, 1, 0);
    } finally {
      await handle.close();
    }
    return false;
  } catch (e) {
    // ERROR_LOCK_VIOLATION, as libuv reports it.
    return (e as NodeJS.ErrnoException).code === 'EBUSY';
  }
}

/** An OS lock this process holds through a helper process; `release` lets go of it. */
export interface HeldOsLock {
  release: () => void;
}

/**
 * Holds an exclusive OS lock (flock) on `path` for as long as this process lives, as the original
 * worker holds `daemon.lock`, so an original daemon (or its tray) started beside this worker sees
 * the config folder taken and does not run a second worker on it. Node cannot take such a lock, so
 * util-linux's `flock` takes it and runs `cat` on a pipe from us: when this process ends, however it
 * ends, the pipe closes, `cat` and `flock` exit and the kernel lets go. Where `flock` is missing
 * (macOS, Windows, a bare container) nothing is held, and `onUnavailable` says why.
 */
export function holdOsLock(path: string, onUnavailable?: (why: string) => void): HeldOsLock {
  if (process.platform === 'win32') {
    onUnavailable?.('Windows has no flock');
    return { release: () => undefined };
  }
  let child: ChildProcess;
  try {
    child = spawn('flock', ['--exclusive', '--nonblock', path, 'cat'], {
      stdio: ['pipe', 'ignore', 'ignore'],
    });
  } catch (e) {
    onUnavailable?.(e instanceof Error ? e.message : String(e));
    return { release: () => undefined };
  }
  child.on('error', (e) => onUnavailable?.(e.message));
  child.stdin?.on('error', () => undefined);
  // Neither keeps this process alive: its life is the lock's.
  child.unref();
  (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  return {
    release: () => {
      child.stdin?.end();
      child.kill('SIGTERM');
    },
  };
}
