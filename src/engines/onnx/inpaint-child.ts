/**
 * Inpainting as it runs inside its engine child process (see ../supervise/): ONNX Runtime's native
 * code, with its sessions kept warm there between jobs, out of the worker's process.
 */
import type { Logger } from 'pino';
import type { ChildEngineHost } from '../supervise/protocol.js';
import type { Engine, WarmModel } from '../types.js';
import { OnnxInpainter } from './inpaint.js';

export interface InpaintChildOptions {
  runtimePath: string;
  threads: number;
}

export function createEngine(options: Record<string, unknown>, host: ChildEngineHost, _log: Logger): Engine {
  const opts = options as unknown as InpaintChildOptions;
  const inpainter = new OnnxInpainter(opts.runtimePath, opts.threads);
  const warm = new Map<string, WarmModel>();
  return {
    name: 'onnx',
    capabilities: () => ({ taskKinds: ['image'], modelsPerKind: {} }),
    warmModels: () => [...warm.values()],
    async run(task, modelSource, ctx) {
      const providers = host.settings()['providers'];
      if (Array.isArray(providers)) inpainter.providers = providers as ('cuda' | 'cpu')[];
      host.reportBackend(inpainter.providers[0] ?? 'cpu');
      const result = await inpainter.run(task as never, modelSource, ctx);
      warm.set(ctx.claim.model, {
        engine: 'onnx',
        model: ctx.claim.model,
        state: 'loaded',
        since: warm.get(ctx.claim.model)?.since ?? new Date().toISOString(),
        bytes: 0,
      });
      return result;
    },
    close: () => inpainter.close(),
  };
}
