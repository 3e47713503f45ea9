import type { Task } from './task.js';

/**
 * The prompt the studio stores with a job's result, derived from its task as the original derives
 * it: image and video → `prompt`, llm → the last message's content, audio_stt → `inputUrl`,
 * audio_tts → `text`. Always the full text: a shortened preview is for display only (the studio
 * persists what it gets, and once stored every prompt shortened).
 */
export function promptFor(task: Task): string {
  switch (task.kind) {
    case 'image':
    case 'video':
      return task.prompt;
    case 'llm':
      return task.messages.at(-1)?.content ?? '';
    case 'audio_stt':
      return task.inputUrl;
    case 'audio_tts':
      return task.text;
  }
}
