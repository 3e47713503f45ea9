import { afterAll, beforeAll } from 'vitest';
import { SyntheticEngine } from '../../src/engines/index.js';
import { bytesFingerprint, engineContract } from './contract.js';
import { sineWav, startInputServer, type InputServer } from './wav-server.js';

let inputs: InputServer;
beforeAll(async () => {
  inputs = await startInputServer({ '/speech.wav': sineWav(5, 440) });
});
afterAll(async () => {
  await inputs.close();
});

engineContract(new SyntheticEngine(), [
  {
    kind: 'image',
    model: 'synthetic-image',
    task: (prompt) => ({ kind: 'image', prompt, width: 64, height: 64, ext: 'webp' }),
    fingerprint: bytesFingerprint,
    badTask: () => ({ kind: 'image', prompt: 'x', width: 64, height: 64, ext: 'bmp' }),
    slowTask: () => ({ kind: 'image', prompt: 'x', width: 2048, height: 2048, ext: 'png' }),
  },
  {
    kind: 'llm',
    model: 'synthetic-llm',
    task: (prompt) => ({ kind: 'llm', messages: [{ role: 'user', content: prompt }] }),
    fingerprint: (result) => Promise.resolve(JSON.stringify(contentOf(result))),
    badTask: () => ({ kind: 'llm', messages: [] }),
  },
  {
    kind: 'audio_stt',
    model: 'synthetic-stt',
    task: (prompt) => ({ kind: 'audio_stt', inputUrl: inputs.url('/speech.wav'), prompt }),
    fingerprint: (result) => Promise.resolve(JSON.stringify(result.type === 'json' ? result.value : null)),
    badTask: () => ({ kind: 'audio_stt', inputUrl: inputs.url('/missing.wav') }),
    slowTask: () => ({ kind: 'audio_stt', inputUrl: inputs.url('/hang') }),
  },
  {
    kind: 'audio_tts',
    model: 'synthetic-tts',
    task: (text) => ({ kind: 'audio_tts', text }),
    fingerprint: bytesFingerprint,
    badTask: () => ({ kind: 'audio_tts', text: 'hello', ext: 'mp3' }),
  },
  {
    kind: 'video',
    model: 'synthetic-video',
    task: (prompt) => ({ kind: 'video', prompt, seconds: 1, fps: 8, width: 64, height: 64, ext: 'mp4' }),
    fingerprint: bytesFingerprint,
    badTask: () => ({ kind: 'video', prompt: 'x', seconds: 1, width: 64, height: 64, ext: 'avi' }),
    slowTask: () => ({
      kind: 'video',
      prompt: 'x',
      seconds: 1000,
      fps: 10,
      width: 64,
      height: 64,
      ext: 'mp4',
    }),
  },
]);

function contentOf(result: { type: string; value?: unknown }): unknown {
  const value = result.value as { choices?: { message?: { content?: unknown } }[] } | undefined;
  return value?.choices?.[0]?.message?.content;
}
