import { toError } from '../../util/index.js';
import { EngineError } from '../types.js';

/** What the operator reads when node-llama-cpp is not installed (it is an optional dependency). */
export const MISSING_MESSAGE =
  'node-llama-cpp is not installed: reinstall with `npm i -g studio-worker --include=optional` ' +
  '(or run `npm i -g node-llama-cpp` next to studio-worker) to serve llm jobs';

const OUT_OF_MEMORY =
  /out of (device )?memory|insufficient memory|failed to allocate|cudaMalloc|ErrorOutOfDeviceMemory|bad_alloc/i;

/** True for failures that another attempt, with more memory free, may not hit again. */
export function isOutOfMemory(e: unknown): boolean {
  const error = toError(e);
  return error.name === 'InsufficientMemoryError' || OUT_OF_MEMORY.test(error.message);
}

/**
 * A failed model load: out of memory is retryable (here later, or on a bigger worker); anything else
 * means the file itself is unusable (bad magic, truncated tensors, unknown architecture), which no
 * retry can fix.
 */
export function loadError(e: unknown, file: string): EngineError {
  const error = toError(e);
  if (isOutOfMemory(error)) {
    return new EngineError(`not enough memory to load ${file}: ${error.message}`, true, { cause: error });
  }
  return new EngineError(`cannot load the model file ${file}: ${firstLine(error.message)}`, false, {
    cause: error,
  });
}

/** A failure while generating: memory is retryable, a prompt too long for the context is not. */
export function generationError(e: unknown, contextSize: number): EngineError {
  const error = toError(e);
  if (isOutOfMemory(error)) {
    return new EngineError(`out of memory while generating: ${error.message}`, true, { cause: error });
  }
  if (/compress chat history|context size|too long/i.test(error.message)) {
    return new EngineError(
      `the conversation does not fit the model's context of ${contextSize} tokens (set modelSource.cliDefaults.contextSize higher, or send fewer or shorter messages)`,
      false,
      { cause: error },
    );
  }
  return new EngineError(`llama-cpp generation failed: ${error.message}`, false, { cause: error });
}

function firstLine(message: string): string {
  return message.split('\n').find((line) => line.trim() !== '') ?? message;
}
