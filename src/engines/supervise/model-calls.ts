import { withProgressListener, type ProgressListener } from '../../util/index.js';
import { EngineError, type ModelProvider, type ProvisionedModel } from '../types.js';
import type { EngineProcess } from './engine-process.js';
import type { ParentCall, WireProvisioned } from './protocol.js';

/** What the worker keeps per request, to answer its engine process's calls. */
export interface RequestContext {
  models: ModelProvider | undefined;
  signal: AbortSignal;
  /** The job's watchdog listener: a download for the child is the job's progress. */
  progress: ProgressListener | undefined;
}

/**
 * The worker's side of an engine process's calls for model files and job inputs. Downloads run
 * here, in the worker's cache (shared, resumed, verified); the child gets paths and a handle, and
 * the files stay held until it releases them or dies.
 */
export class ModelCalls {
  private readonly handles = new Map<number, { model: ProvisionedModel; proc: EngineProcess }>();
  private nextHandle = 1;

  constructor(private readonly engine: string) {}

  /** Lets the cache have back every file `proc` held (it has exited). */
  releaseAll(proc: EngineProcess): void {
    for (const [handle, held] of this.handles) {
      if (held.proc !== proc) continue;
      held.model.release();
      this.handles.delete(handle);
    }
  }

  async answer(call: ParentCall, context: RequestContext | undefined, proc: EngineProcess): Promise<unknown> {
    if (call.method === 'release') {
      this.handles.get(call.handle)?.model.release();
      this.handles.delete(call.handle);
      return undefined;
    }
    const models = context?.models;
    if (!context || !models) {
      throw new EngineError(`${this.engine} needs model provisioning, and none was given`, false);
    }
    const inScope = <T>(fn: () => Promise<T>): Promise<T> =>
      context.progress ? withProgressListener(context.progress, fn) : fn();
    if (call.method === 'fetchInput') {
      return inScope(() =>
        models.fetchInput(call.url, call.destDir, context.signal, {
          ...(call.maxBytes === undefined ? {} : { maxBytes: call.maxBytes }),
        }),
      );
    }
    const model = await inScope(() =>
      models.provision(call.files, context.signal, call.model === undefined ? {} : { model: call.model }),
    );
    if (!proc.alive) {
      model.release();
      throw new Error('the engine process is gone');
    }
    const handle = this.nextHandle++;
    this.handles.set(handle, { model, proc });
    const roles: Record<string, string[]> = {};
    for (const file of call.files) roles[file.role] ??= model.byRole(file.role);
    const answer: WireProvisioned = { handle, roles };
    return answer;
  }
}
