/**
 * Checks that a result is real: images and videos decode, WAVs parse, JSON has the shape its
 * consumers expect. Used by the demo and the tests, never on the job path.
 */
import type { Task, TaskKind } from '../protocol/index.js';
import { verifyTts } from './audio.js';
import { verifyImage } from './image.js';
import { verifyLlm, verifyStt } from './json.js';
import { failed, type ResultToVerify, type VerifyOutcome } from './types.js';
import { verifyVideo } from './video.js';

export type { ResultToVerify, VerifyOutcome } from './types.js';
export { formatBytes } from './types.js';
export { encodeWavPcm16, parseWav, WavError, type WavInfo } from './wav.js';
export { ChatCompletionSchema, WhisperTranscriptSchema } from './json.js';
export {
  isRecord,
  schemaTypes,
  unwrapJsonSchema,
  validateJsonSubset,
  type JsonSchemaNode,
} from './json-subset.js';

/** Checks one result of `kind`; with `task`, also that it matches what the task asked for. */
export async function verifyResult(
  kind: TaskKind,
  result: ResultToVerify,
  task?: Task,
): Promise<VerifyOutcome> {
  if (task && task.kind !== kind) return failed(`task is ${task.kind}, but the result is checked as ${kind}`);
  if (kind === 'llm' || kind === 'audio_stt') {
    if (!('json' in result)) return failed(`${kind} results are JSON, got a binary ${result.ext}`);
    return kind === 'llm' ? verifyLlm(result.json, task) : verifyStt(result.json);
  }
  if ('json' in result) return failed(`${kind} results are binary, got JSON`);
  switch (kind) {
    case 'image':
      return verifyImage(result, task);
    case 'audio_tts':
      return verifyTts(result);
    case 'video':
      return verifyVideo(result, task);
  }
}
