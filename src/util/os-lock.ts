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
 * (or perl's flock() where it is missing) with a non-blocking shared lock (the same probe the
 * original's tray makes), and on Windows,
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

/**
 * `flock -n -s <path> true`: 1 when another process holds the file locked (exclusively). Where
 * flock(1) is missing (macOS), perl's flock() asks the same.
 */
function flockProbeRefused(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    execFile('flock', ['-n', '-s', path, 'true'], { timeout: 5000 }, (err) => {
      if ((err as NodeJS.ErrnoException | null)?.code !== 'ENOENT') {
        resolve(err !== null && err.code === 1);
        return;
      }
      execFile('perl', ['-e', PERL_PROBE, path], { timeout: 5000 }, (perlErr) =>
        resolve(perlErr !== null && perlErr.code === 1),
      );
    });
  });
}

const PERL_PROBE =
  'use Fcntl qw(:flock); open(my $f, "<", $ARGV[0]) or exit 2; exit(flock($f, LOCK_SH | LOCK_NB) ? 0 : 1);';

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

/** What takes the lock for us: util-linux's `flock`, or perl's flock() where that is missing (macOS). */
export type OsLockHelper = 'flock' | 'perl';

// Locks the file, then reads stdin until it closes: the lock lives exactly as long as our pipe.
const PERL_HOLD =
  'use Fcntl qw(:flock); open(my $f, "<", $ARGV[0]) or exit 2; flock($f, LOCK_EX | LOCK_NB) or exit 1; 1 while sysread(STDIN, my $b, 4096);';

function helperCommand(helper: OsLockHelper, path: string): [string, string[]] {
  return helper === 'flock'
    ? ['flock', ['--exclusive', '--nonblock', path, 'cat']]
    : ['perl', ['-e', PERL_HOLD, path]];
}

/**
 * Holds an exclusive OS lock (flock) on `path` for as long as this process lives, as the original
 * worker holds `daemon.lock`, so an original daemon (or its tray) started beside this worker sees
 * the config folder taken and does not run a second worker on it. Node cannot take such a lock, so
 * a helper takes it — util-linux's `flock` running `cat`, or where it is missing (macOS ships no
 * flock(1)) perl's flock(), which every macOS and Debian has — and reads a pipe from us: when this
 * process ends, however it ends, the pipe closes, the helper exits and the kernel lets go. On Windows
 * (where the original's LockFileEx lock is mandatory and would refuse this worker's own reads of the
 * file) and where neither helper runs, nothing is held, and `onUnavailable` says why.
 */
export function holdOsLock(
  path: string,
  onUnavailable?: (why: string) => void,
  helper: OsLockHelper = process.platform === 'linux' ? 'flock' : 'perl',
): HeldOsLock {
  if (process.platform === 'win32') {
    onUnavailable?.('Windows has no flock');
    return { release: () => undefined };
  }
  let child: ChildProcess | undefined;
  let released = false;
  const start = (using: OsLockHelper) => {
    const [command, args] = helperCommand(using, path);
    try {
      child = spawn(command, args, { stdio: ['pipe', 'ignore', 'ignore'] });
    } catch (e) {
      onUnavailable?.(e instanceof Error ? e.message : String(e));
      return;
    }
    const started = child;
    started.on('error', (e: NodeJS.ErrnoException) => {
      // A Linux without util-linux's flock (a slim container): perl's flock() takes it instead.
      if (using === 'flock' && e.code === 'ENOENT' && !released) start('perl');
      else onUnavailable?.(`${command}: ${e.message}`);
    });
    started.stdin?.on('error', () => undefined);
    // Neither keeps this process alive: its life is the lock's.
    started.unref();
    (started.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  };
  start(helper);
  return {
    release: () => {
      released = true;
      child?.stdin?.end();
      child?.kill('SIGTERM');
    },
  };
}
