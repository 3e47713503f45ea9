import { spawn, type ChildProcess } from 'node:child_process';
import type { Logger } from 'pino';
import { builtModulePath } from '../../util/index.js';
import type { EngineCapabilities, WarmModel } from '../types.js';
import type { ChildRequest, FromChild, ParentCall, ToChild } from './protocol.js';
import { fromWire, toWire } from './wire-error.js';

const STDERR_TAIL_CHARS = 4096;
const TAIL_LINES = 5;
/** Backtrace lines (Node's and ggml's on abort, gdb's "#3 0x…"): they bury the message that says why. */
const STACK_FRAME = /^\s*(#?\d+:?\s|at\s|-{3,}.*-{3,}$|\[New LWP|\(no debugging symbols)/;

/** How an engine process ended: its exit code or the signal that killed it, and its last output. */
export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The last lines it wrote to stderr/stdout (native libraries print their last words there). */
  lastLines: string;
  /** We stopped it (idle unload, cancel, watchdog, memory limit, shutdown): not a crash. */
  stoppedBy?: string;
}

/** A request's process ended before it answered (a crash, or our own stop). */
export class ProcessExitError extends Error {
  override readonly name = 'ProcessExitError';
  constructor(readonly exit: ProcessExit) {
    super(exit.signal ? `killed by ${exit.signal}` : `exited with code ${exit.code ?? 'unknown'}`);
  }
}

export interface PendingRequest {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  onProgress?: (p: { fraction?: number; message?: string }) => void;
  onText?: (chunk: string) => void;
  /** Whatever the owner needs to answer this request's calls (its model provider, its signal). */
  context?: unknown;
}

export interface EngineProcessOptions {
  engine: string;
  module: string;
  options: Record<string, unknown>;
  log: Logger | undefined;
  /** Answers the child's calls into the worker (its model cache). */
  onCall: (call: ParentCall, context: unknown) => Promise<unknown>;
  env?: NodeJS.ProcessEnv;
}

const childMain = (): string => builtModulePath(import.meta.url, './child-main.js');

/**
 * One engine child process: started with its engine module, asked requests over IPC, and watched.
 * It lives in a process group of its own, so stopping it stops whatever it started (whisper's
 * helper, a GPU runtime's threads) too; it exits by itself when the worker dies (IPC disconnect).
 */
export class EngineProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<ProcessExit>;
  private readonly pending = new Map<number, PendingRequest>();
  private nextId = 1;
  private stderr = '';
  private stoppedBy: string | undefined;
  private exit: ProcessExit | undefined;
  /** What the child reported: the backend it runs on and the models it keeps loaded. */
  backend: string | undefined;
  warm: WarmModel[] = [];
  /** A request on this process has succeeded since it started (its backend works). */
  evaluated = false;
  capabilities: EngineCapabilities | undefined;
  private readonly ready: Promise<void>;
  private readyResolve: (() => void) | undefined;

  constructor(private readonly opts: EngineProcessOptions) {
    this.child = spawn(process.execPath, [childMain()], {
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      serialization: 'advanced',
      env: { ...process.env, NODE_OPTIONS: '', ...opts.env },
      detached: process.platform !== 'win32',
      windowsHide: true,
    });
    const tail = (chunk: string): void => {
      this.stderr = (this.stderr + chunk).slice(-STDERR_TAIL_CHARS);
      for (const line of chunk.split('\n')) {
        if (line.trim() !== '') opts.log?.debug({ source: opts.engine, pid: this.pid }, line.trimEnd());
      }
    };
    this.child.stderr?.setEncoding('utf8').on('data', tail);
    this.child.stdout?.setEncoding('utf8').on('data', tail);
    this.exited = new Promise((resolve) => {
      const done = (code: number | null, signal: NodeJS.Signals | null): void => {
        this.exit ??= {
          code,
          signal,
          lastLines: this.lastLines(),
          ...(this.stoppedBy === undefined ? {} : { stoppedBy: this.stoppedBy }),
        };
        const error = new ProcessExitError(this.exit);
        for (const request of this.pending.values()) request.reject(error);
        this.pending.clear();
        resolve(this.exit);
      };
      this.child.once('error', (e) => {
        this.stderr += `\n${e.message}`;
        done(null, null);
      });
      this.child.once('close', done);
    });
    this.child.on('message', (m: FromChild) => this.onMessage(m));
    this.ready = new Promise<void>((resolve, reject) => {
      this.readyResolve = resolve;
      void this.exited.then((exit) => reject(new ProcessExitError(exit)));
    });
    this.ready.catch(() => undefined);
    this.send({
      type: 'init',
      module: opts.module,
      options: opts.options,
      logLevel: opts.log?.level ?? 'info',
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get alive(): boolean {
    return this.exit === undefined;
  }

  get busy(): boolean {
    return this.pending.size > 0;
  }

  /** Sends a request once the engine is made; settles with its answer, or rejects with the exit. */
  async request(request: ChildRequest, handlers: Omit<PendingRequest, 'resolve' | 'reject'> = {}) {
    await this.ready;
    const id = this.nextId++;
    const answer = new Promise<unknown>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, ...handlers });
    });
    this.send({ type: 'request', id, request });
    return { id, answer };
  }

  cancel(id: number): void {
    this.send({ type: 'cancel', id });
  }

  /** Kills the process and everything it started, at once; `why` marks the exit as ours. */
  stop(why: string): Promise<ProcessExit> {
    if (this.alive) {
      this.stoppedBy ??= why;
      const pid = this.child.pid;
      // The whole process group on POSIX (it is its leader), so what it started goes too.
      const group = pid !== undefined && process.platform !== 'win32';
      try {
        if (group) process.kill(-pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
      if (!group) this.child.kill('SIGKILL');
    }
    return this.exited;
  }

  /** Its last lines of output, without the stack frames a runtime prints when it aborts. */
  lastLines(): string {
    return this.stderr
      .split('\n')
      .map((l) => l.trimEnd())
      .filter((l) => l !== '' && !STACK_FRAME.test(l))
      .slice(-TAIL_LINES)
      .join('\n');
  }

  private send(message: ToChild): void {
    if (!this.child.connected) return;
    this.child.send(message, (e) => {
      if (e) this.opts.log?.debug({ err: e }, `${this.opts.engine} process went away before a message`);
    });
  }

  private onMessage(m: FromChild): void {
    switch (m.type) {
      case 'ready':
        this.capabilities = m.capabilities;
        this.readyResolve?.();
        return;
      case 'done': {
        const pending = this.pending.get(m.id);
        this.pending.delete(m.id);
        if (m.ok) {
          this.evaluated = true;
          pending?.resolve(m.value);
        } else pending?.reject(fromWire(m.error));
        return;
      }
      case 'progress':
        this.pending.get(m.id)?.onProgress?.({
          ...(m.fraction === undefined ? {} : { fraction: m.fraction }),
          ...(m.message === undefined ? {} : { message: m.message }),
        });
        return;
      case 'text':
        this.pending.get(m.id)?.onText?.(m.chunk);
        return;
      case 'warm':
        this.warm = m.models;
        return;
      case 'backend':
        this.backend = m.backend;
        return;
      case 'log':
        this.forwardLog(m.line);
        return;
      case 'call': {
        const { call, type: _type, ...body } = m;
        const context = 'request' in body ? this.pending.get(body.request)?.context : undefined;
        this.opts.onCall(body, context).then(
          (value) => this.send({ type: 'reply', call, ok: true, value }),
          (e: unknown) => this.send({ type: 'reply', call, ok: false, error: toWire(e) }),
        );
        return;
      }
    }
  }

  /** A JSON log line of the child's pino, written through the worker's logger at its level. */
  private forwardLog(line: string): void {
    const log = this.opts.log;
    if (!log) return;
    try {
      const { level, msg, ...fields } = JSON.parse(line) as { level?: number; msg?: string };
      const name = level !== undefined ? log.levels.labels[level] : undefined;
      const write = name && name in log ? log[name as 'info'].bind(log) : log.info.bind(log);
      write({ ...fields, enginePid: this.pid }, msg ?? '');
    } catch {
      log.info({ enginePid: this.pid }, line.trim());
    }
  }
}
