import { z } from 'zod';

/** Task kinds, spelled exactly as the studio spells them (snake_case). */
export const TaskKindSchema = z.enum(['image', 'llm', 'audio_stt', 'audio_tts', 'video']);
export type TaskKind = z.infer<typeof TaskKindSchema>;
export const TASK_KINDS: readonly TaskKind[] = TaskKindSchema.options;

/** Engines a `modelSource` can name (kebab-case). Routing is strictly by this value. */
export const EngineNameSchema = z.enum(['sd-cpp', 'llama-cpp', 'onnx', 'parakeet', 'synthetic']);
export type EngineName = z.infer<typeof EngineNameSchema>;

/** Roles a model file can play (kebab-case). */
export const FileRoleSchema = z.enum([
  'diffusion-model',
  'text-encoder',
  'text-encoder-vision',
  'vae',
  'lora',
  'model',
]);
export type FileRole = z.infer<typeof FileRoleSchema>;

/** Codes of the studio's `error` frame. */
export const StudioErrorCodeSchema = z.enum([
  'auth_failed',
  'protocol_violation',
  'duplicate_worker',
  'worker_deleted',
  'internal_error',
]);
export type StudioErrorCode = z.infer<typeof StudioErrorCodeSchema>;

/** Levels a shipped log entry carries, as the original ships them (debug/trace are never shipped). */
export const LogLevelSchema = z.enum(['info', 'warn', 'error']);

/** Structured `reject` codes the original sends; both mean "transient, requeue without an attempt". */
export const RejectCodeSchema = z.enum(['busy', 'paused']);
export type RejectCode = z.infer<typeof RejectCodeSchema>;
export type LogLevel = z.infer<typeof LogLevelSchema>;

/** The WebSocket subprotocol the worker asks for on the upgrade; the production studio echoes it. */
export const SUBPROTOCOL = 'studio-worker-v1';

/** WebSocket close codes of the contract. */
export const CloseCode = {
  normal: 1000,
  authFailed: 4001,
  protocolViolation: 4002,
  duplicateWorker: 4003,
  workerDeleted: 4004,
} as const;
export type CloseCodeValue = (typeof CloseCode)[keyof typeof CloseCode];

/** Close codes after which the worker must not reconnect. */
export const FATAL_CLOSE_CODES: ReadonlySet<number> = new Set([
  CloseCode.authFailed,
  CloseCode.duplicateWorker,
  CloseCode.workerDeleted,
]);
