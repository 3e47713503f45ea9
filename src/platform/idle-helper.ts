import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

/**
 * The Windows idle helper: compiles the GetLastInputInfo type once (Add-Type, about a second of C#
 * compilation), then answers each line read from stdin with the milliseconds since the last
 * keyboard or mouse input, one integer a line. It ends when stdin closes.
 */
export const WINDOWS_IDLE_SCRIPT = [
  "$ErrorActionPreference = 'Stop'",
  'Add-Type @"',
  'using System; using System.Runtime.InteropServices;',
  'public static class StudioWorkerIdle {',
  '  [StructLayout(LayoutKind.Sequential)] struct LASTINPUTINFO { public uint cbSize; public uint dwTime; }',
  '  [DllImport("user32.dll")] static extern bool GetLastInputInfo(ref LASTINPUTINFO p);',
  '  public static uint Ms() { var i = new LASTINPUTINFO(); i.cbSize = (uint)Marshal.SizeOf(i);',
  '    if (!GetLastInputInfo(ref i)) { return uint.MaxValue; }',
  '    return (uint)Environment.TickCount - i.dwTime; } }',
  '"@',
  '[Console]::Out.AutoFlush = $true',
  'while ($true) {',
  '  $line = [Console]::In.ReadLine()',
  '  if ($null -eq $line) { break }',
  '  [Console]::Out.WriteLine([StudioWorkerIdle]::Ms())',
  '}',
].join('\n');

/** powershell.exe running the script above, passed as -EncodedCommand so its stdin stays free for the asks. */
export function windowsIdleHelperCommand(): { command: string; args: string[] } {
  return {
    command: 'powershell.exe',
    args: [
      '-NoProfile',
      '-NonInteractive',
      '-ExecutionPolicy',
      'Bypass',
      '-EncodedCommand',
      Buffer.from(WINDOWS_IDLE_SCRIPT, 'utf16le').toString('base64'),
    ],
  };
}

export interface IdleHelperOptions {
  command: string;
  args: readonly string[];
  /** How long an answer may take once the helper has answered before (default 3 s). */
  timeoutMs?: number;
  /** How long the first answer of a new helper may take: it starts PowerShell and compiles C# (default 20 s). */
  startTimeoutMs?: number;
  /** Wait before a restart after the first failure in a row, doubled per failure (default 1 s, at most 60 s). */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** Named in readings (default "GetLastInputInfo"). */
  source?: string;
}

/** One reading (the same shape as presence.ts' IdleReading, which builds on this module). */
export interface HelperReading {
  idleMs: number;
  source: string;
}

/** The answer to one ask: the line, or why there is none. */
type Answer = { line: string } | { reason: string };

/**
 * One long-lived helper process asked for the idle time by a line on its stdin, answered by a line
 * on its stdout. Started on the first ask; a helper that exits or stops answering is killed and
 * replaced on a later ask (after a backoff that grows while it keeps failing). `stop()` ends it.
 */
export class IdleHelper {
  private child: ChildProcess | undefined;
  private answered = false;
  private waiting: ((a: Answer) => void) | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private failures = 0;
  private notBefore = 0;
  private lastProblem = '';
  private stopped = false;
  /** How many helper processes were started (tests count them). */
  spawns = 0;

  constructor(private readonly opts: IdleHelperOptions) {}

  /** The running helper's process id, if one runs. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Asks the helper once; asks are answered one at a time, in order. */
  read(): Promise<HelperReading | { reason: string }> {
    const next = this.queue.then(() => this.ask());
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Ends the helper for good: later asks say so without starting another. */
  stop(): void {
    this.stopped = true;
    this.kill({ reason: 'idle helper stopped' });
  }

  private async ask(): Promise<HelperReading | { reason: string }> {
    if (this.stopped) return { reason: 'idle helper stopped' };
    const child = this.child ?? this.start();
    if ('reason' in child) return child;
    const timeoutMs = this.answered
      ? (this.opts.timeoutMs ?? 3000)
      : (this.opts.startTimeoutMs ?? Math.max(20_000, this.opts.timeoutMs ?? 0));
    const answer = await new Promise<Answer>((resolve) => {
      const timer = setTimeout(
        () => resolve({ reason: `${this.opts.command} gave no answer in ${timeoutMs} ms` }),
        timeoutMs,
      );
      this.waiting = (a) => {
        clearTimeout(timer);
        resolve(a);
      };
      child.stdin?.write('\n', (e) => {
        if (e) this.waiting?.({ reason: `${this.opts.command}: ${e.message}` });
      });
    });
    this.waiting = undefined;
    if ('reason' in answer) return this.fail(answer.reason);
    const m = /^\s*(\d+)\s*$/.exec(answer.line);
    if (!m) return this.fail(`${this.opts.command} answered "${answer.line.slice(0, 80)}"`);
    this.answered = true;
    this.failures = 0;
    return { idleMs: Number(m[1]), source: this.opts.source ?? 'GetLastInputInfo' };
  }

  private start(): ChildProcess | { reason: string } {
    const wait = this.notBefore - Date.now();
    if (wait > 0) return { reason: `${this.lastProblem}; restarting it in ${Math.ceil(wait / 1000)} s` };
    this.spawns++;
    this.answered = false;
    const child = spawn(this.opts.command, [...this.opts.args], {
      stdio: ['pipe', 'pipe', 'ignore'],
      windowsHide: true,
    });
    this.child = child;
    const gone = (why: string) => {
      if (this.child !== child) return;
      this.child = undefined;
      this.waiting?.({ reason: why });
      if (!this.waiting) this.noteFailure(why);
    };
    child.on('error', (e) => gone(`${this.opts.command}: ${e.message}`));
    child.on('exit', (code, signal) => gone(`${this.opts.command} exited (${signal ?? `code ${code}`})`));
    child.stdin?.on('error', () => undefined); // an exited helper's pipe; 'exit' says why
    createInterface({ input: child.stdout }).on('line', (line) => this.waiting?.({ line }));
    return child;
  }

  private fail(reason: string): { reason: string } {
    this.kill(undefined);
    this.noteFailure(reason);
    return { reason };
  }

  private noteFailure(reason: string): void {
    this.failures++;
    this.lastProblem = reason;
    const base = this.opts.backoffMs ?? 1000;
    const delay = Math.min(this.opts.maxBackoffMs ?? 60_000, base * 2 ** (this.failures - 1));
    this.notBefore = Date.now() + delay;
  }

  private kill(answer: Answer | undefined): void {
    const child = this.child;
    this.child = undefined;
    if (answer) this.waiting?.(answer);
    if (!child) return;
    child.stdin?.end();
    child.kill();
  }
}
