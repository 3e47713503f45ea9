import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EngineError, type Engine, type EngineResult } from '../../src/engines/index.js';
import {
  ClaimSchema,
  TaskSchema,
  type Claim,
  type TaskInput,
  type TaskKind,
} from '../../src/protocol/index.js';
import { verifyResult, type ResultToVerify } from '../../src/results/index.js';

/** One kind an engine serves, described so the shared contract can exercise it. */
export interface ContractCase {
  kind: TaskKind;
  /** A model name the engine serves for this kind. */
  model: string;
  /** A valid task; `prompt` varies it, so a different prompt must give a different output. */
  task: (prompt: string) => TaskInput;
  /** What must stay equal for equal tasks and differ for different prompts (e.g. the content of a completion). */
  fingerprint: (result: EngineResult) => Promise<string>;
  /** A task the engine must refuse as the job's fault: a non-retryable EngineError. */
  badTask: () => TaskInput;
  /** A task that runs long enough to be cancelled part-way through (omitted for kinds that finish at once). */
  slowTask?: () => TaskInput;
}

const silentLog = pino({ enabled: false });

/** A claim for `task`, parsed like an offer so every default is filled in. */
export function claimFor(engineName: Engine['name'], model: string, task: TaskInput, jobId = 'job-1'): Claim {
  return ClaimSchema.parse({
    jobId,
    gameId: 'game-1',
    assetName: 'asset',
    model,
    vramGbEstimate: 0,
    task,
    modelSource: {
      engine: engineName,
      files: [],
      cliDefaults: { cfgScale: 1, steps: 1, width: 64, height: 64 },
    },
  });
}

/** The engine result in the shape `verifyResult` checks. */
export function toVerifiable(result: EngineResult): ResultToVerify {
  if (result.type === 'json') return { json: result.value };
  if (result.type === 'bytes') return { bytes: result.data, ext: result.ext };
  return { path: result.path, ext: result.ext };
}

/** sha256 of a binary result's bytes, wherever they are. */
export async function bytesFingerprint(result: EngineResult): Promise<string> {
  if (result.type === 'json') throw new Error('expected a binary result');
  const bytes = result.type === 'bytes' ? result.data : await readFile(result.path);
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * The contract every engine keeps, run once per engine: for each kind it serves, a task yields a
 * result that really decodes; the same task yields the same output and another prompt another;
 * cancellation rejects with an AbortError; a task it cannot do is a non-retryable EngineError.
 */
export function engineContract(engine: Engine, cases: ContractCase[]): void {
  describe(`engine "${engine.name}" keeps the engine contract`, () => {
    let workDir: string;
    beforeEach(async () => {
      workDir = await mkdtemp(join(tmpdir(), `engine-contract-${engine.name}-`));
    });
    afterEach(async () => {
      await rm(workDir, { recursive: true, force: true });
    });

    const run = async (
      c: ContractCase,
      input: TaskInput,
      signal = new AbortController().signal,
    ): Promise<EngineResult> => {
      const claim = claimFor(engine.name, c.model, input);
      return engine.run(claim.task, claim.modelSource, { signal, log: silentLog, workDir, claim });
    };

    for (const c of cases) {
      describe(`for ${c.kind} jobs`, () => {
        it('advertises the kind and the model', () => {
          const caps = engine.capabilities();
          expect(caps.taskKinds).toContain(c.kind);
          expect(caps.modelsPerKind[c.kind]).toContain(c.model);
        });

        it('turns the task into a result that decodes and matches the task', async () => {
          const input = c.task('a lighthouse on a cliff at dusk');
          const result = await run(c, input);
          if (result.type === 'file') expect(relative(workDir, result.path).startsWith('..')).toBe(false);
          const verdict = await verifyResult(c.kind, toVerifiable(result), TaskSchema.parse(input));
          expect(verdict, verdict.summary).toMatchObject({ ok: true });
        });

        it('gives the same output for the same task and a different one for another prompt', async () => {
          const first = await c.fingerprint(await run(c, c.task('a red fox in snow')));
          const again = await c.fingerprint(await run(c, c.task('a red fox in snow')));
          const other = await c.fingerprint(await run(c, c.task('a blue whale at night')));
          expect(again).toBe(first);
          expect(other).not.toBe(first);
        });

        it('rejects with an AbortError when the job is already cancelled', async () => {
          await expect(run(c, c.task('anything'), AbortSignal.abort())).rejects.toMatchObject({
            name: 'AbortError',
          });
        });

        const slowTask = c.slowTask;
        if (slowTask) {
          it('rejects with an AbortError when the job is cancelled part-way', async () => {
            const controller = new AbortController();
            const claim = claimFor(engine.name, c.model, slowTask());
            const timer = setTimeout(() => controller.abort(), 50);
            try {
              const running = engine.run(claim.task, claim.modelSource, {
                signal: controller.signal,
                log: silentLog,
                workDir,
                claim,
                onProgress: () => controller.abort(),
              });
              await expect(running).rejects.toMatchObject({ name: 'AbortError' });
            } finally {
              clearTimeout(timer);
            }
          });
        }

        it('classifies a task it cannot do as a non-retryable EngineError', async () => {
          const error: unknown = await run(c, c.badTask()).catch((e: unknown) => e);
          expect(error).toBeInstanceOf(EngineError);
          expect(error).toMatchObject({ retryable: false });
        });
      });
    }
  });
}
