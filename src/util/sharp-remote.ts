import { fork, type ChildProcess } from 'node:child_process';
import type * as SharpNs from 'sharp';
import { builtModulePath } from './built-path.js';

type SharpFn = typeof SharpNs.default;

/** One pipeline to run: `sharp(...create)`, then each step, then the terminal call. */
export interface CodecOp {
  id: number;
  create: unknown[];
  steps: [method: string, args: unknown[]][];
  terminal: string;
  args: unknown[];
}
export type CodecAnswer =
  { id: number; ok: true; value: unknown } | { id: number; ok: false; message: string };

/** The calls that run a pipeline and give its result; every other method adds a step. */
const TERMINALS = new Set(['toBuffer', 'toFile', 'metadata', 'stats']);
/** A codec process with no work for this long exits; the next image starts a new one. */
export const CODEC_IDLE_EXIT_MS = 30_000;

/**
 * sharp (libvips) in a process of its own, for the long-running worker: libvips' code, its threads'
 * stacks and allocator arenas are ~25 MB a worker would otherwise hold for good after its first
 * image (sharp cannot be unloaded), and a native crash in it costs the image being made, not the
 * worker. The process starts with the first pipeline and exits after `CODEC_IDLE_EXIT_MS` idle.
 */
export class CodecProcess {
  /** The codec process in use, with the pipelines it has not answered yet (a dead one's fail with it). */
  private current: Running | undefined;
  private nextId = 1;
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(private readonly idleExitMs = CODEC_IDLE_EXIT_MS) {}

  /** The sharp function, recording each pipeline and running it in the codec process. */
  readonly sharp = ((...create: unknown[]) => this.pipeline(create)) as unknown as SharpFn;

  /** Whether a codec process runs now (for tests and status). */
  get running(): boolean {
    return this.current !== undefined;
  }

  /** Stops the codec process (pipelines still running fail). */
  stop(): void {
    clearTimeout(this.idleTimer);
    this.current?.child.disconnect();
    this.current = undefined;
  }

  private pipeline(create: unknown[]): unknown {
    const steps: CodecOp['steps'] = [];
    const proxy: object = new Proxy(
      {},
      {
        get: (_target, prop) => {
          // Not a promise, nor anything else a caller might probe for.
          if (typeof prop !== 'string' || prop === 'then') return undefined;
          if (TERMINALS.has(prop)) {
            return (...args: unknown[]) => this.run({ create, steps: [...steps], terminal: prop, args });
          }
          return (...args: unknown[]) => {
            steps.push([prop, args]);
            return proxy;
          };
        },
      },
    );
    return proxy;
  }

  private run(op: Omit<CodecOp, 'id'>): Promise<unknown> {
    const running = this.current ?? this.start();
    const { child, pending } = running;
    clearTimeout(this.idleTimer);
    child.ref();
    child.channel?.ref();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject });
      child.send({ id, ...op } satisfies CodecOp, (err) => {
        if (!err) return;
        pending.delete(id);
        // A channel that broke (the process died while taking the image) is never used again.
        this.forget(running);
        reject(new Error(`could not hand an image to the image codec process: ${err.message}`));
      });
    });
  }

  /** The next image starts a new codec process; this one is killed if it still lives. */
  private forget(running: Running): void {
    if (this.current !== running) return;
    this.current = undefined;
    const { child } = running;
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }

  private start(): Running {
    const child = fork(builtModulePath(import.meta.url, './sharp-child.js'), [], {
      serialization: 'advanced',
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      execArgv: [],
    });
    const running: Running = { child, pending: new Map() };
    const { pending } = running;
    child.on('message', (m: CodecAnswer) => {
      const p = pending.get(m.id);
      if (!p) return;
      pending.delete(m.id);
      if (m.ok) p.resolve(m.value);
      else p.reject(new Error(m.message));
      if (pending.size === 0 && this.current === running) this.idle(running);
    });
    child.on('error', () => undefined); // Its exit says the rest.
    // The channel closes as the process dies, sometimes well before its exit is seen.
    child.on('disconnect', () => this.forget(running));
    child.on('exit', (code, signal) => {
      this.forget(running);
      const how = signal ?? `code ${code}`;
      for (const p of pending.values()) {
        p.reject(new Error(`the image codec process exited (${how}) while making an image`));
      }
      pending.clear();
    });
    this.current = running;
    return running;
  }

  /** Nothing pending: the worker may exit without waiting for it, and it stops after a while. */
  private idle(running: Running): void {
    running.child.unref();
    running.child.channel?.unref();
    this.idleTimer = setTimeout(() => {
      if (this.current === running && running.pending.size === 0) this.stop();
    }, this.idleExitMs).unref();
  }
}

interface Running {
  child: ChildProcess;
  pending: Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>;
}
