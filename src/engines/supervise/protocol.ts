import type { Claim, ModelFile, ModelSource, Task } from '../../protocol/index.js';
import type { EngineCapabilities, EngineResult, WarmModel } from '../types.js';

/**
 * The parent ↔ engine child protocol (IPC, `serialization: 'advanced'`, so result bytes travel as
 * they are). Requests carry an `id`; the child answers each with one `done`. The child calls back
 * into the parent (`call`) for what only the worker has: its model cache.
 */

/** An error as it crosses the process boundary (classes do not). */
export interface WireError {
  message: string;
  name: string;
  /** EngineError's classification, when it was one. */
  engine?: { retryable: boolean; cannotServe: boolean };
  /** The engine cannot run here at all (its package or backend is missing). */
  unavailable?: boolean;
}

export type ChildRequest =
  | {
      type: 'run';
      task: Task;
      modelSource: ModelSource;
      claim: Claim;
      workDir: string;
      settings: Record<string, unknown>;
      /** Send the generated text as it comes (`text` messages): someone streams it. */
      streamText: boolean;
    }
  | { type: 'preload'; modelId: string; modelSource: ModelSource; settings: Record<string, unknown> }
  | { type: 'tokenize'; modelId: string; text: string; addSpecial: boolean }
  | { type: 'unload'; reason: string; keep: string[] }
  /** Opens a streaming transcription on a loaded model; answers a `StreamOpened`. */
  | { type: 'stream-open'; modelId: string }
  /** Feeds one chunk of 16 kHz samples to an open stream; answers the text it adds. */
  | { type: 'stream-step'; stream: number; samples: Float32Array }
  | { type: 'stream-reset'; stream: number }
  | { type: 'stream-close'; stream: number };

/** A stream the child opened: its handle for the next requests, and the samples it takes per step. */
export interface StreamOpened {
  stream: number;
  chunkSamples: number;
}

export type ToChild =
  | { type: 'init'; module: string; options: Record<string, unknown>; logLevel: string }
  | { type: 'request'; id: number; request: ChildRequest }
  | { type: 'cancel'; id: number }
  | { type: 'reply'; call: number; ok: true; value: unknown }
  | { type: 'reply'; call: number; ok: false; error: WireError };

export type ParentCall =
  | { method: 'provision'; request: number; files: ModelFile[]; model?: string }
  | { method: 'fetchInput'; request: number; url: string; destDir: string; maxBytes?: number }
  | { method: 'release'; handle: number };

export type FromChild =
  | { type: 'ready'; capabilities: EngineCapabilities }
  | {
      type: 'done';
      id: number;
      ok: true;
      value: EngineResult | number[] | StreamOpened | string | undefined | null;
    }
  | { type: 'done'; id: number; ok: false; error: WireError }
  | { type: 'progress'; id: number; fraction?: number; message?: string }
  | { type: 'text'; id: number; chunk: string }
  | { type: 'warm'; models: WarmModel[] }
  /** The GPU backend the engine started on ("cuda", "vulkan", "metal", "cpu"). */
  | { type: 'backend'; backend: string }
  | { type: 'log'; line: string }
  | ({ type: 'call'; call: number } & ParentCall);

/** A provisioned model as the child sees it: its files by role, and the handle to release. */
export interface WireProvisioned {
  handle: number;
  roles: Record<string, string[]>;
}

/** What a child-side engine module exports: `createEngine(options, host)`. */
export interface ChildEngineHost {
  /** Settings the parent sends with each request (values that change at run time). */
  settings: () => Record<string, unknown>;
  /** Report the GPU backend the engine started on, so a crash on it can be told apart. */
  reportBackend: (backend: string) => void;
}
