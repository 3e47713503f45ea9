import { rm } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe } from 'vitest';
import { SdCppEngine } from '../../src/engines/sd-cpp/index.js';
import type { LocalFirstModels } from '../../src/generate/index.js';
import {
  startSdFixture,
  STANDIN,
  withModelSource,
  type SdFixture,
} from '../fixtures/sd-cli-standin/harness.js';
import { realScratch, SD_CLI, SDCPP_MODEL, sdcppReady, sdcppSkipReason } from '../support/sdcpp-real.js';
import { bytesFingerprint, engineContract } from './contract.js';

// Images: the REAL sd-server and sd-cli built from ../shared/vendor, on the random-weight SD 1.x model.
// Video: the STAND-IN sd-cli (test/fixtures/sd-cli-standin, see its header), since no random-weight
// Wan model can be written here.
let scratch: string;
let models: LocalFirstModels;
let fixture: SdFixture;
beforeAll(async () => {
  ({ scratch, models } = await realScratch('sd-cpp-contract'));
  fixture = await startSdFixture();
});
afterAll(async () => {
  await Promise.all([realImage.close(), standinVideo.close()]);
  await fixture.close();
  await rm(scratch, { recursive: true, force: true });
});

const realImage = new SdCppEngine({ sdCliPath: SD_CLI, models: { image: ['sd1x-random'] } });
const standinVideo = new SdCppEngine({ sdCliPath: STANDIN, models: { video: ['standin-wan'] } });

describe.skipIf(!sdcppReady)(`images on the real sd-server${sdcppSkipReason}`, { timeout: 180_000 }, () => {
  engineContract(
    withModelSource(
      realImage,
      () => [{ role: 'model', url: pathToFileURL(SDCPP_MODEL ?? '').href, filename: 'sd1x-random.gguf' }],
      () => models,
    ),
    [
      {
        kind: 'image',
        model: 'sd1x-random',
        task: (prompt) => ({ kind: 'image', prompt, width: 64, height: 48, steps: 2, ext: 'webp' }),
        fingerprint: bytesFingerprint,
        badTask: () => ({ kind: 'image', prompt: 'x', width: 64, height: 64, ext: 'bmp' }),
        slowTask: () => ({ kind: 'image', prompt: 'x', width: 64, height: 64, steps: 10_000, ext: 'png' }),
      },
    ],
  );
});

describe('video on the stand-in sd-cli (no Wan model of a real architecture can be written here)', () => {
  engineContract(
    withModelSource(
      standinVideo,
      () => fixture.files('wan', 'umt5', 'vae'),
      () => fixture.cache,
    ),
    [
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
    ],
  );
});
