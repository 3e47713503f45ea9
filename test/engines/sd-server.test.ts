import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { EngineResult } from '../../src/engines/index.js';
import { SdCppEngine, type SdCppEngineOptions } from '../../src/engines/sd-cpp/index.js';
import { ClaimSchema, type Claim, type ModelFile, type TaskInput } from '../../src/protocol/index.js';
import { silentLog, STANDIN, startSdFixture, type SdFixture } from '../fixtures/sd-cli-standin/harness.js';

// The STAND-IN sd-cli and sd-server (test/fixtures/sd-cli-standin, see their headers), kept only
// for video: no random-weight Wan model can be written here. The warm-server path itself runs on
// the real sd-server: sd-server-real.test.ts.
let fixture: SdFixture;
let workDir: string;
let logs: { loads: string; args: string };
const engines: SdCppEngine[] = [];

beforeAll(async () => {
  fixture = await startSdFixture();
});
afterAll(async () => {
  await fixture.close();
});
beforeEach(async () => {
  workDir = await mkdtemp(join(fixture.scratch, 'job-'));
  logs = {
    loads: `${workDir}-loads.jsonl`,
    args: `${workDir}-args.jsonl`,
  };
});
afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.close()));
  await rm(workDir, { recursive: true, force: true });
});

function engine(opts: Partial<SdCppEngineOptions> = {}): SdCppEngine {
  const e = new SdCppEngine({
    sdCliPath: STANDIN,
    env: {
      ...process.env,
      SD_STANDIN_LOADS_LOG: logs.loads,
      SD_STANDIN_ARGS_LOG: logs.args,
    },
    ...opts,
  });
  engines.push(e);
  return e;
}

function claim(task: TaskInput, files: ModelFile[], model = 'z-image-turbo'): Claim {
  return ClaimSchema.parse({
    jobId: 'job-sd',
    gameId: 'g',
    assetName: 'a',
    model,
    vramGbEstimate: 6,
    task,
    modelSource: { engine: 'sd-cpp', files, cliDefaults: { cfgScale: 1, steps: 4, width: 512, height: 512 } },
  });
}

function run(e: SdCppEngine, c: Claim): Promise<EngineResult> {
  return e.run(c.task, c.modelSource, {
    signal: new AbortController().signal,
    log: silentLog,
    workDir,
    claim: c,
    models: fixture.cache,
  });
}

const lines = async (path: string): Promise<Array<Record<string, unknown>>> =>
  existsSync(path)
    ? (await readFile(path, 'utf8'))
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>)
    : [];

describe('video beside a warm sd-server (stand-in sd-cli and sd-server: no Wan model here)', () => {
  it('runs video through sd-cli even with a warm server (sd-server’s sdapi routes make images only)', async () => {
    const e = engine();
    await run(
      e,
      claim(
        {
          kind: 'video',
          prompt: 'waves',
          seconds: 1,
          fps: 2,
          width: 32,
          height: 32,
          ext: 'mp4',
        },
        fixture.files('wan', 'umt5', 'vae'),
        'wan-2.1',
      ),
    );
    expect(await lines(logs.args)).toHaveLength(1);
    expect(await lines(logs.loads)).toEqual([]);
  });
});
