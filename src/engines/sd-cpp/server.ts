import { spawn, type ChildProcess } from 'node:child_process';
import { freeLoopbackPort } from '../../util/index.js';
import type { Logger } from 'pino';
import { abortError } from '../abort.js';
import { EngineError, type WarmModelState } from '../types.js';
import type { SdapiRequest } from './args.js';
import { KILL_GRACE_MS } from './process.js';
import { cleanLine, LineSplitter, parseProgressLine, type SdProgressStep } from './progress.js';

/** Loading a large model from a slow disk takes minutes; past this the server is stuck, not slow. */
const DEFAULT_START_TIMEOUT_MS = 10 * 60_000;
const READY_POLL_MS = 100;
const TAIL_LINES = 8;
/** After sd-server failed to serve a model set, its jobs run on sd-cli this long before it is tried again. */
const RETRY_SERVER_AFTER_MS = 15 * 60_000;

export interface WarmModelInfo {
  /** The studio's model id the server was started for. */
  model: string;
  state: WarmModelState;
  since: string;
  pid?: number;
  /** Sum of the model files' sizes: what unloading it gives back, roughly. */
  bytes: number;
}

export interface SdServerLaunch {
  binary: string;
  /** The model arguments (see `buildSdServerArgs`); equal arrays = the same loaded model. */
  args: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
  model: string;
  bytes: number;
}

export interface SdServerJob {
  signal: AbortSignal;
  log: Logger;
  onProgress?: (p: SdProgressStep) => void;
}

/**
 * sd-server could not serve this job, through no fault of the job: it would not start or load,
 * or it does not speak the API. The engine runs the job with sd-cli instead.
 */
export class SdServerUnavailable extends Error {
  override name = 'SdServerUnavailable';
}

export interface WarmSdServerOptions {
  /** Stop the server after this long without a job (`image_idle_unload_secs`). */
  idleMs: number;
  /** Models the operator keeps loaded: never stopped for being idle. */
  isKept?: (model: string) => boolean;
  log?: Logger | undefined;
  startTimeoutMs?: number;
  /** Every change of the warm model's state (and `undefined` once it is gone). */
  onChange?: (info: WarmModelInfo | undefined) => void;
}

interface Running {
  key: string;
  launch: SdServerLaunch;
  child: ChildProcess;
  port: number;
  state: WarmModelState;
  since: string;
  exited: Promise<void>;
  exit?: { code: number | null; signal: NodeJS.Signals | null };
  tail: string[];
  /** The job now being served, whose progress the server's output is. */
  job?: SdServerJob | undefined;
}

/**
 * One stable-diffusion.cpp `sd-server` kept running with one model loaded, so the jobs after the
 * first skip the model load. A job for another model set restarts it; it stops after `idleMs`
 * without a job, on `unload()` (when another job needs the memory), and on cancel (sd-server
 * cannot interrupt a generation, and a cancelled job must give the GPU back). Jobs come one at a
 * time: the worker's job gate serialises them.
 */
export class WarmSdServer {
  private running: Running | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  /** Model sets the server could not serve lately, and why: their jobs go to sd-cli for a while. */
  private readonly failedKeys = new Map<string, { why: string; at: number; model: string }>();

  constructor(private readonly opts: WarmSdServerOptions) {}

  /** The warm model, if any. */
  info(): WarmModelInfo | undefined {
    const r = this.running;
    if (!r) return undefined;
    return {
      model: r.launch.model,
      state: r.state,
      since: r.since,
      bytes: r.launch.bytes,
      ...(r.child.pid !== undefined ? { pid: r.child.pid } : {}),
    };
  }

  /** Models the server failed to serve lately (their jobs run on sd-cli meanwhile), newest first. */
  failures(): { model: string; why: string; since: string }[] {
    const now = Date.now();
    return [...this.failedKeys.values()]
      .filter((f) => now - f.at < RETRY_SERVER_AFTER_MS)
      .sort((a, b) => b.at - a.at)
      .map((f) => ({ model: f.model, why: f.why, since: new Date(f.at).toISOString() }));
  }

  /** Whether the warm server holds exactly this model set (a job for it pays no load). */
  holds(args: readonly string[]): boolean {
    return this.running?.key === keyOf(args) && this.running.state === 'loaded';
  }

  /**
   * Generates one image through the server, starting (or restarting) it for `launch` first.
   * Resolves with the PNG. Throws SdServerUnavailable when the server cannot serve (the caller
   * falls back to sd-cli), a retryable EngineError when it died mid-job, an AbortError on cancel.
   */
  async generate(launch: SdServerLaunch, request: SdapiRequest, job: SdServerJob): Promise<Buffer> {
    if (job.signal.aborted) throw abortError(job.signal);
    const key = keyOf(launch.args);
    const failed = this.failedKeys.get(key);
    if (failed && Date.now() - failed.at < RETRY_SERVER_AFTER_MS) throw new SdServerUnavailable(failed.why);
    this.failedKeys.delete(key);
    this.clearIdle();
    if (this.running && (this.running.key !== key || this.running.exit)) {
      await this.stop(this.running.key === key ? 'it had exited' : 'another model set was asked for');
    }
    const running = this.running ?? (await this.start(launch, key, job));
    running.job = job;
    try {
      return await this.request(running, request, job);
    } finally {
      running.job = undefined;
      if (this.running === running && !running.exit) this.armIdle();
    }
  }

  /** Stops the server (if any), giving its memory back. */
  async unload(reason = 'asked to'): Promise<void> {
    this.clearIdle();
    if (this.running) await this.stop(reason);
  }

  private async start(launch: SdServerLaunch, key: string, job: SdServerJob): Promise<Running> {
    const port = await freeLoopbackPort();
    const args = [...launch.args, '--listen-ip', '127.0.0.1', '--listen-port', String(port)];
    const log = this.opts.log ?? job.log;
    const child = spawn(launch.binary, args, {
      cwd: launch.cwd,
      env: launch.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      windowsHide: true,
    });
    const running: Running = {
      key,
      launch,
      child,
      port,
      state: 'loading',
      since: new Date().toISOString(),
      exited: Promise.resolve(),
      tail: [],
    };
    running.exited = new Promise<void>((resolve) => {
      child.once('error', (error) => {
        running.exit ??= { code: null, signal: null };
        running.tail.push(error.message);
        resolve();
      });
      child.once('close', (code, signal) => {
        running.exit ??= { code, signal };
        resolve();
      });
    });
    void running.exited.then(() => {
      if (this.running !== running) return;
      log.warn(`sd-server (pid ${child.pid}) for ${launch.model} exited: ${describeExit(running)}`);
      this.running = undefined;
      this.clearIdle();
      this.opts.onChange?.(undefined);
    });
    this.pipeOutput(running, log);
    this.running = running;
    this.opts.onChange?.(this.info());
    log.info({ pid: child.pid, port, args }, `starting sd-server for ${launch.model}`);
    try {
      await this.waitReady(running, job.signal);
    } catch (e) {
      await this.stop('it did not start');
      if (job.signal.aborted) throw abortError(job.signal);
      if (e instanceof SdServerUnavailable)
        this.failedKeys.set(key, { why: e.message, at: Date.now(), model: launch.model });
      throw e;
    }
    running.state = 'loaded';
    running.since = new Date().toISOString();
    this.opts.onChange?.(this.info());
    log.info(`sd-server for ${launch.model} is loaded (pid ${child.pid}, port ${port})`);
    return running;
  }

  private async waitReady(running: Running, signal: AbortSignal): Promise<void> {
    const deadline = Date.now() + (this.opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS);
    while (!running.exit) {
      if (signal.aborted) throw abortError(signal);
      if (Date.now() > deadline) {
        throw new SdServerUnavailable(
          `sd-server did not answer within ${Math.round((deadline - Date.parse(running.since)) / 1000)} s`,
        );
      }
      try {
        const res = await fetch(`http://127.0.0.1:${running.port}/`, { signal: AbortSignal.timeout(2000) });
        await res.body?.cancel();
        if (res.status < 500) return;
      } catch {
        // Not listening yet (it binds after loading the model).
      }
      await Promise.race([running.exited, new Promise((r) => setTimeout(r, READY_POLL_MS))]);
    }
    throw new SdServerUnavailable(`sd-server could not load the model: ${describeExit(running)}`);
  }

  private async request(running: Running, body: SdapiRequest, job: SdServerJob): Promise<Buffer> {
    const route = body.init_images ? '/sdapi/v1/img2img' : '/sdapi/v1/txt2img';
    const controller = new AbortController();
    const onAbort = () => controller.abort();
    job.signal.addEventListener('abort', onAbort, { once: true });
    // A server that dies mid-request may leave the connection hanging: its exit ends the wait.
    void running.exited.then(() => controller.abort());
    let res: Response;
    let text: string;
    try {
      res = await fetch(`http://127.0.0.1:${running.port}${route}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: controller.signal,
      });
      text = await res.text();
    } catch (e) {
      if (job.signal.aborted) {
        // sd-server cannot interrupt a generation: stopping it is how the GPU is given back now.
        await this.stop('the job was cancelled');
        throw abortError(job.signal);
      }
      await running.exited;
      throw this.died(running, e);
    } finally {
      job.signal.removeEventListener('abort', onAbort);
    }
    if (res.status === 404 || res.status === 405) {
      const why = `sd-server answers ${route} with HTTP ${res.status}: this build does not serve the sdapi routes`;
      this.failedKeys.set(running.key, { why, at: Date.now(), model: running.launch.model });
      throw new SdServerUnavailable(why);
    }
    const json = parseJson(text);
    if (!res.ok) {
      const message = errorText(json) ?? text.slice(0, 300);
      throw new EngineError(`sd-server answered HTTP ${res.status}: ${message}`, res.status >= 500);
    }
    const image = (json as { images?: unknown } | undefined)?.images;
    if (!Array.isArray(image) || typeof image[0] !== 'string' || image[0] === '') {
      throw new EngineError(`sd-server answered ${route} without an image`, true);
    }
    const b64 = image[0].replace(/^data:[^,]*,/, '');
    return Buffer.from(b64, 'base64');
  }

  private died(running: Running, cause: unknown): EngineError {
    const how = running.exit ? describeExit(running) : 'the connection broke';
    return new EngineError(
      `sd-server for ${running.launch.model} died mid-job (${how}); the next job starts a fresh one`,
      true,
      {
        cause,
      },
    );
  }

  private pipeOutput(running: Running, log: Logger): void {
    for (const stream of ['stdout', 'stderr'] as const) {
      const splitter = new LineSplitter();
      const onLines = (lines: string[]) => {
        for (const line of lines) {
          const progress = parseProgressLine(line);
          if (progress) {
            running.job?.onProgress?.(progress);
            continue;
          }
          const text = cleanLine(line);
          (running.job?.log ?? log).debug({ stream, pid: running.child.pid }, text);
          running.tail.push(text);
          if (running.tail.length > TAIL_LINES) running.tail.shift();
        }
      };
      const out = running.child[stream];
      out?.setEncoding('utf8');
      out?.on('data', (chunk: string) => onLines(splitter.push(chunk)));
      out?.on('end', () => onLines(splitter.flush()));
    }
  }

  private async stop(reason: string): Promise<void> {
    const running = this.running;
    if (!running) return;
    this.running = undefined;
    this.clearIdle();
    if (!running.exit) {
      running.state = 'unloading';
      this.opts.onChange?.({ ...this.infoOf(running) });
      (this.opts.log ?? running.job?.log)?.info(`stopping sd-server for ${running.launch.model}: ${reason}`);
      running.child.kill('SIGTERM');
      const killer = setTimeout(() => running.child.kill('SIGKILL'), KILL_GRACE_MS);
      await running.exited;
      clearTimeout(killer);
    }
    this.opts.onChange?.(undefined);
  }

  private infoOf(r: Running): WarmModelInfo {
    return { model: r.launch.model, state: r.state, since: r.since, bytes: r.launch.bytes };
  }

  private armIdle(): void {
    this.clearIdle();
    this.idleTimer = setTimeout(() => {
      const model = this.running?.launch.model;
      // Looked at when the time is up, so a `models release` meanwhile counts.
      if (model !== undefined && this.opts.isKept?.(model)) this.armIdle();
      else void this.stop(`no job for ${Math.round(this.opts.idleMs / 1000)} s`);
    }, this.opts.idleMs);
    this.idleTimer.unref();
  }

  private clearIdle(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }
}

function keyOf(args: readonly string[]): string {
  return JSON.stringify(args);
}

function describeExit(r: Running): string {
  const how = r.exit?.signal ? `killed by ${r.exit.signal}` : `exit code ${r.exit?.code ?? 'unknown'}`;
  return r.tail.length > 0 ? `${how}: ${r.tail.join(' | ')}` : how;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function errorText(json: unknown): string | undefined {
  const j = json as { error?: unknown; message?: unknown } | undefined;
  const parts = [j?.error, j?.message].filter((p): p is string => typeof p === 'string');
  return parts.length > 0 ? parts.join(': ') : undefined;
}
