import { afterAll, beforeAll, describe } from 'vitest';
import { SdCppEngine } from '../../src/engines/sd-cpp/index.js';
import {
  startSdFixture,
  STANDIN,
  withModelSource,
  type SdFixture,
} from '../fixtures/sd-cli-standin/harness.js';
import { bytesFingerprint, engineContract } from './contract.js';

// No stable-diffusion.cpp build or model can be obtained on this machine: these run the real engine
// code (arguments, model provisioning, progress, conversion) against the stand-in sd-cli and
// sd-server (images go through the warm stand-in sd-server, video through the stand-in sd-cli).
let fixture: SdFixture;
beforeAll(async () => {
  fixture = await startSdFixture();
});
afterAll(async () => {
  await engine.close();
  await fixture.close();
});

const engine = new SdCppEngine({
  sdCliPath: STANDIN,
  models: { image: ['standin-z-image'], video: ['standin-wan'] },
});
const contractEngine = withModelSource(
  engine,
  () => fixture.files('diffusion', 'qwen', 'vae'),
  () => fixture.cache,
);

describe('with the stand-in sd-cli and sd-server (no stable-diffusion.cpp build or model is obtainable here)', () => {
  engineContract(contractEngine, [
    {
      kind: 'image',
      model: 'standin-z-image',
      task: (prompt) => ({ kind: 'image', prompt, width: 64, height: 48, steps: 3, ext: 'webp' }),
      fingerprint: bytesFingerprint,
      badTask: () => ({ kind: 'image', prompt: 'x', width: 64, height: 64, ext: 'bmp' }),
      slowTask: () => ({ kind: 'image', prompt: 'x', width: 64, height: 64, steps: 10_000, ext: 'png' }),
    },
    {
      kind: 'video',
      model: 'standin-wan',
      task: (prompt) => ({ kind: 'video', prompt, seconds: 1, fps: 4, width: 64, height: 48, ext: 'mp4' }),
      fingerprint: bytesFingerprint,
      badTask: () => ({ kind: 'video', prompt: 'x', seconds: 1, width: 64, height: 64, ext: 'avi' }),
      slowTask: () => ({
        kind: 'video',
        prompt: 'x',
        seconds: 1000,
        fps: 16,
        width: 64,
        height: 64,
        ext: 'mp4',
      }),
    },
  ]);
});
