/**
 * The image codec process (see sharp-remote.ts): runs the sharp pipelines the worker sends, one
 * message each, and answers with the result. libvips lives here, not in the worker.
 */
import { loadSharpHere } from './sharp.js';
import type { CodecAnswer, CodecOp } from './sharp-remote.js';

function answer(message: CodecAnswer): void {
  process.send?.(message);
}

process.on('message', (op: CodecOp) => {
  void (async () => {
    try {
      const sharp = await loadSharpHere();
      let pipeline = (
        sharp as unknown as (...args: unknown[]) => Record<string, (...a: unknown[]) => unknown>
      )(...op.create);
      for (const [method, args] of op.steps) {
        pipeline = (pipeline[method] as (...a: unknown[]) => typeof pipeline)(...args);
      }
      const value = await (pipeline[op.terminal] as (...a: unknown[]) => Promise<unknown>)(...op.args);
      answer({ id: op.id, ok: true, value });
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      answer({ id: op.id, ok: false, message: err.message });
    }
  })();
});
// The worker went away (or stopped this process when idle): nothing is left to do.
process.on('disconnect', () => process.exit(0));
