import type { TaskInput } from '../protocol/index.js';

/** One job of each kind, small enough that the whole demo runs in a few seconds on a laptop CPU. */
export function demoTasks(sampleAudioUrl: string): TaskInput[] {
  return [
    { kind: 'image', prompt: 'a lighthouse at dusk, watercolour', width: 256, height: 256, ext: 'webp' },
    {
      kind: 'llm',
      messages: [{ role: 'user', content: 'Write one sentence about a lighthouse keeper.' }],
      maxTokens: 48,
    },
    { kind: 'audio_stt', inputUrl: sampleAudioUrl, timestamps: 'segment' },
    { kind: 'audio_tts', text: 'The light turns all night long.', ext: 'wav' },
    {
      kind: 'video',
      prompt: 'waves rolling under the lighthouse',
      seconds: 1,
      fps: 8,
      width: 128,
      height: 128,
      ext: 'mp4',
    },
  ];
}
