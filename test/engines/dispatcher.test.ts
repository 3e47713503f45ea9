import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  EngineDispatcher,
  EngineError,
  SyntheticEngine,
  type Engine,
  type EngineCapabilities,
  type EngineResult,
  type EngineRunContext,
} from '../../src/engines/index.js';
import type { Claim, EngineName, TaskInput } from '../../src/protocol/index.js';
import { claimFor } from './contract.js';

/**
 * A stand-in for an engine that needs a GPU (the one thing these tests cannot run): it serves
 * images of one model, records every task it is given and then does what `behaviour` says.
 */
class StandInEngine implements Engine {
  readonly ran: string[] = [];
  closed = 0;
  constructor(
    readonly name: EngineName,
    private readonly behaviour: () => Promise<EngineResult> = () =>
      Promise.resolve({ type: 'bytes', ext: 'png', data: new Uint8Array([1]) }),
  ) {}
  capabilities(): EngineCapabilities {
    return { taskKinds: ['image'], modelsPerKind: { image: ['flux-schnell', 'synthetic-image'] } };
  }
  run(task: { kind: string }): Promise<EngineResult> {
    this.ran.push(task.kind);
    return this.behaviour();
  }
  close(): Promise<void> {
    this.closed++;
    return Promise.resolve();
  }
}

const image: TaskInput = { kind: 'image', prompt: 'a tree', width: 64, height: 64 };
let workDir: string;
beforeEach(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'dispatcher-'));
});
afterEach(async () => {
  await rm(workDir, { recursive: true, force: true });
});

function ctx(claim: Claim): EngineRunContext {
  return { signal: new AbortController().signal, log: pino({ enabled: false }), workDir, claim };
}

async function runError(dispatcher: EngineDispatcher, claim: Claim): Promise<unknown> {
  return dispatcher.run(claim, ctx(claim)).then(
    () => undefined,
    (e: unknown) => e,
  );
}

describe('the engine dispatcher', () => {
  it('advertises what its engines serve together', () => {
    const dispatcher = new EngineDispatcher([new SyntheticEngine(), new StandInEngine('sd-cpp')]);
    const caps = dispatcher.capabilities();
    expect(caps.taskKinds).toEqual(['image', 'llm', 'audio_stt', 'audio_tts', 'video']);
    expect(caps.supportedModelsPerKind.image).toEqual(['synthetic-image', 'flux-schnell']);
    expect(caps.supportedModels).toContain('flux-schnell');
    expect(new Set(caps.supportedModels).size).toBe(caps.supportedModels.length);
  });

  it('runs a claim on the engine its modelSource names', async () => {
    const sd = new StandInEngine('sd-cpp');
    const dispatcher = new EngineDispatcher([new SyntheticEngine(), sd]);
    const claim = claimFor('sd-cpp', 'synthetic-image', image);
    expect(dispatcher.refuse(claim)).toBeUndefined();
    await expect(dispatcher.run(claim, ctx(claim))).resolves.toMatchObject({ type: 'bytes', ext: 'png' });
    expect(sd.ran).toEqual(['image']);
  });

  it('refuses a claim for an engine that is not installed, never falling back to another', async () => {
    const onnx = new StandInEngine('onnx');
    const dispatcher = new EngineDispatcher([new SyntheticEngine(), onnx]);
    const claim = claimFor('sd-cpp', 'synthetic-image', image);
    expect(dispatcher.refuse(claim)).toBe(
      'engine "sd-cpp" is not installed on this worker (engines here: synthetic, onnx)',
    );
    const error = await runError(dispatcher, claim);
    expect(error).toBeInstanceOf(EngineError);
    expect(error).toMatchObject({ retryable: false });
    expect((error as Error).message).toContain('"sd-cpp"');
    expect(onnx.ran).toEqual([]);
  });

  it('refuses a kind the named engine does not serve', async () => {
    const dispatcher = new EngineDispatcher([new StandInEngine('llama-cpp')]);
    const claim = claimFor('llama-cpp', 'qwen', { kind: 'llm', messages: [{ role: 'user', content: 'hi' }] });
    expect(dispatcher.refuse(claim)).toBe('engine "llama-cpp" does not serve llm jobs (it serves: image)');
    await expect(runError(dispatcher, claim)).resolves.toMatchObject({
      name: 'EngineError',
      retryable: false,
    });
  });

  it('passes on the engine’s own refusal', async () => {
    const dispatcher = new EngineDispatcher([new SyntheticEngine()]);
    const claim = claimFor('synthetic', 'flux', image);
    expect(dispatcher.refuse(claim)).toBe('synthetic engine serves only synthetic* models, not "flux"');
    await expect(runError(dispatcher, claim)).resolves.toMatchObject({
      name: 'EngineError',
      retryable: false,
    });
  });

  it('keeps an engine’s own EngineError and its classification', async () => {
    const busy = new StandInEngine('sd-cpp', () => Promise.reject(new EngineError('out of VRAM', true)));
    const claim = claimFor('sd-cpp', 'flux-schnell', image);
    const error = await runError(new EngineDispatcher([busy]), claim);
    expect(error).toMatchObject({ name: 'EngineError', message: 'out of VRAM', retryable: true });
  });

  it('turns anything else an engine throws into a non-retryable EngineError that keeps the cause', async () => {
    const cause = new TypeError('cannot read properties of undefined');
    const broken = new StandInEngine('sd-cpp', () => Promise.reject(cause));
    const claim = claimFor('sd-cpp', 'flux-schnell', image);
    const error = await runError(new EngineDispatcher([broken]), claim);
    expect(error).toBeInstanceOf(EngineError);
    expect(error).toMatchObject({ retryable: false, cause });
    expect((error as Error).message).toContain(cause.message);
  });

  it('rethrows an AbortError untouched', async () => {
    const aborted = new DOMException('stopped', 'AbortError');
    const cancelled = new StandInEngine('sd-cpp', () => Promise.reject(aborted));
    const claim = claimFor('sd-cpp', 'flux-schnell', image);
    expect(await runError(new EngineDispatcher([cancelled]), claim)).toBe(aborted);
  });

  it('closes every engine once however often it is closed, and runs nothing afterwards', async () => {
    const sd = new StandInEngine('sd-cpp');
    const onnx = new StandInEngine('onnx');
    const dispatcher = new EngineDispatcher([sd, onnx]);
    await Promise.all([dispatcher.close(), dispatcher.close()]);
    await dispatcher.close();
    expect([sd.closed, onnx.closed]).toEqual([1, 1]);
    const claim = claimFor('sd-cpp', 'flux-schnell', image);
    await expect(runError(dispatcher, claim)).resolves.toBeInstanceOf(EngineError);
    expect(sd.ran).toEqual([]);
  });

  it('will not register two engines under one name', () => {
    expect(() => new EngineDispatcher([new StandInEngine('onnx'), new StandInEngine('onnx')])).toThrow(
      'engine "onnx" is registered twice',
    );
  });
});
