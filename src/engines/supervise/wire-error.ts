import { toError } from '../../util/index.js';
import { EngineError } from '../types.js';
import type { WireError } from './protocol.js';

/** An error ready to cross the process boundary (classes do not survive it). */
export function toWire(e: unknown): WireError {
  const error = toError(e);
  return {
    message: error.message,
    name: error.name,
    ...(error instanceof EngineError
      ? { engine: { retryable: error.retryable, cannotServe: error.cannotServe } }
      : {}),
  };
}

/** The error again on this side: an AbortError, an EngineError with its classification, or an Error. */
export function fromWire(wire: WireError): Error {
  if (wire.name === 'AbortError') {
    const error = new Error(wire.message);
    error.name = 'AbortError';
    return error;
  }
  const error = wire.engine
    ? new EngineError(wire.message, wire.engine.retryable, { cannotServe: wire.engine.cannotServe })
    : new Error(wire.message);
  if (wire.unavailable) Object.assign(error, { unavailable: true });
  return error;
}
