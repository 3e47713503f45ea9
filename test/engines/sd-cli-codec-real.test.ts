import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalFirstModels } from '../../src/generate/index.js';
import { useImageCodecProcess } from '../../src/util/index.js';
import {
  captureLog,
  closeEngines,
  imageMeta,
  realClaim,
  realEngine,
  realScratch,
  runReal,
  sdcppReady,
  sdcppSkipReason,
} from '../support/sdcpp-real.js';
import { codecChildPids } from '../support/engine-children.js';

// The REAL sd-cli, built from ../shared/vendor, with images made as `run`, `ui` and `serve` make
// them: in the image codec process (src/util/sharp-remote.ts), not with sharp in this process.
const codec = useImageCodecProcess(60_000);

let scratch: string;
let models: LocalFirstModels;
beforeAll(async () => {
  ({ scratch, models } = await realScratch('sd-cli-codec-real'));
});
afterAll(async () => {
  codec.stop();
  await closeEngines();
  await rm(scratch, { recursive: true, force: true });
});

describe.skipIf(!sdcppReady || process.platform !== 'linux')(
  `sd-cli's PNG made into the job's format in the image codec process${sdcppSkipReason}`,
  { timeout: 180_000 },
  () => {
    it('converts the real PNG into webp (64×64) and jpeg at a size sd.cpp rounds (72×40), in the codec process', async () => {
      expect(codec.running).toBe(false);
      const engine = realEngine({ imageIdleUnloadMs: 0 });
      const webp = await runReal(engine, realClaim({ seed: 42, width: 64, height: 64, ext: 'webp' }), {
        log: captureLog().log,
        models,
        scratch,
      });
      expect(await imageMeta(webp)).toMatchObject({ width: 64, height: 64, format: 'webp' });
      // The conversion started the codec process, a child of this one.
      expect(codec.running).toBe(true);
      expect(await codecChildPids(process.pid)).toHaveLength(1);
      const jpeg = await runReal(engine, realClaim({ width: 72, height: 40, ext: 'jpeg' }), {
        log: captureLog().log,
        models,
        scratch,
      });
      expect(await imageMeta(jpeg)).toMatchObject({ width: 72, height: 40, format: 'jpeg' });
    });
  },
);
