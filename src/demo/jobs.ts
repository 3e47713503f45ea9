import type { EnqueueJobInput } from '../dev-studio/index.js';
import type { ModelSource, TaskInput } from '../protocol/index.js';

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

/** The studio's name for the random-weight SD 1.x model of `--real-image`. */
export const REAL_IMAGE_MODEL = 'sd1x-random';

/** A job the demo enqueues, with the name its row gets in the table. */
export interface DemoJob {
  label: string;
  input: EnqueueJobInput;
}

/**
 * `--real-image`: the image job twice on the real stable-diffusion.cpp, the model offered as the
 * studio offers one (a URL the worker provisions from), tiny so that a CPU makes it in seconds: the
 * first loads the model into sd-server (cold), the second finds it loaded (warm).
 */
export function realImageJobs(model: { url: string; bytes: number }): DemoJob[] {
  const modelSource: ModelSource = {
    engine: 'sd-cpp',
    files: [{ role: 'model', url: model.url, filename: 'sd1x-random.gguf', approxBytes: model.bytes }],
    cliDefaults: { cfgScale: 7, steps: 2, width: 64, height: 64 },
  };
  const job = (label: string, prompt: string, seed: number): DemoJob => ({
    label,
    input: {
      task: { kind: 'image', prompt, width: 64, height: 64, steps: 2, seed, ext: 'webp' },
      model: REAL_IMAGE_MODEL,
      modelSource,
      vramGbEstimate: 2,
    },
  });
  return [
    job('image (cold)', 'a lighthouse at dusk, watercolour', 1),
    job('image (warm)', 'the same lighthouse at dawn, watercolour', 2),
  ];
}
