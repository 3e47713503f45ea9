import type { EngineName } from '../../protocol/index.js';
import { EngineError } from '../types.js';
import type { ProcessExit } from './engine-process.js';

/** An engine process that died on its own while serving a request. */
export interface EngineCrash {
  engine: EngineName;
  /** The signal that killed it (SIGABRT, SIGSEGV, SIGKILL from the OOM killer), or null. */
  signal: string | null;
  code: number | null;
  /** What it was doing ("loading the model", "generating"). */
  phase: string;
  /** The GPU backend it ran on, when it had said. */
  backend?: string;
  /** Its last lines of output. */
  lastLines: string;
  at: string;
  message: string;
}

/** A request failed because its engine process crashed: the job may work on another attempt. */
export class EngineCrashError extends EngineError {
  override readonly name = 'EngineCrashError';
  constructor(
    readonly crash: EngineCrash,
    /** A request had succeeded on that process before: its backend worked. */
    readonly afterEvaluation: boolean,
  ) {
    super(crash.message, true);
  }
}

/** What a request's engine process ending on its own means, worded for the operator and the studio. */
export function crashOf(engine: EngineName, exit: ProcessExit, phase: string, backend?: string): EngineCrash {
  const how = exit.signal ? `crashed (${exit.signal})` : `exited with code ${exit.code ?? 'unknown'}`;
  return {
    engine,
    signal: exit.signal,
    code: exit.code,
    phase,
    ...(backend ? { backend } : {}),
    lastLines: exit.lastLines,
    at: new Date().toISOString(),
    message: `${engine} ${how} while ${phase}${exit.lastLines ? `: ${exit.lastLines}` : ''}`,
  };
}
