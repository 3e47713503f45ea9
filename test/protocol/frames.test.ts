import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseStudioFrame } from '../../src/session/parse.js';
import {
  ClaimSchema,
  RegisterRequestSchema,
  RegisterResponseSchema,
  RegisterStatusSchema,
  ReleaseFeedSchema,
  StudioFrameSchema,
  TaskSchema,
  WorkerFrameSchema,
  jsonSchemas,
} from '../../src/protocol/index.js';

interface Fixtures {
  capabilities: unknown;
  worker: Record<string, Record<string, unknown>>;
  studio: Record<string, Record<string, unknown>>;
}

const raw = JSON.parse(readFileSync(new URL('./fixtures/frames.json', import.meta.url), 'utf8')) as Fixtures;
const withCapabilities = (frame: Record<string, unknown>) =>
  Object.fromEntries(
    Object.entries(frame).map(([k, v]) => [k, v === '$capabilities' ? raw.capabilities : v]),
  );

describe('every worker frame', () => {
  const types = WorkerFrameSchema.options.map((o) => o.shape.type.value);
  it('has a fixture for each frame type', () => {
    expect(Object.keys(raw.worker).sort()).toEqual([...types].sort());
  });
  for (const [type, fixture] of Object.entries(raw.worker)) {
    it(`round-trips ${type} unchanged through the schema and JSON`, () => {
      const frame = withCapabilities(fixture);
      const parsed = WorkerFrameSchema.parse(JSON.parse(JSON.stringify(frame)));
      expect(parsed).toEqual(frame);
      expect(JSON.parse(JSON.stringify(parsed))).toEqual(frame);
    });
  }
});

describe('every studio frame', () => {
  const types = StudioFrameSchema.options.map((o) => o.shape.type.value);
  it('has a fixture for each frame type', () => {
    expect(Object.keys(raw.studio).sort()).toEqual([...types].sort());
  });
  for (const [type, fixture] of Object.entries(raw.studio)) {
    it(`round-trips ${type} unchanged through the schema and JSON`, () => {
      const parsed = StudioFrameSchema.parse(JSON.parse(JSON.stringify(fixture)));
      expect(parsed).toEqual(fixture);
    });
  }
});

describe("as lenient as the original's serde types", () => {
  const claim = (task: Record<string, unknown>, files: Record<string, unknown>[] = []) =>
    JSON.stringify({
      type: 'offer',
      claim: {
        jobId: 'j',
        gameId: 'g',
        assetName: 'a',
        model: 'm',
        vramGbEstimate: 0.5,
        task,
        modelSource: { engine: 'sd-cpp', files, cliDefaults: { cfgScale: 1, steps: 0, width: 0, height: 0 } },
        futureField: { any: 'thing' },
      },
    });
  it.each([
    ['timestamps as any string', { kind: 'audio_stt', inputUrl: 'https://x/a.wav', timestamps: 'sentence' }],
    ['any ext', { kind: 'image', prompt: 'p', ext: 'JPEG' }],
    ['denoise outside 0–1, width 0', { kind: 'image', prompt: 'p', denoise: 1.7, width: 0 }],
    [
      'null for optional fields',
      { kind: 'audio_stt', inputUrl: 'https://x/a.wav', language: null, vad: null },
    ],
    ['a jsonSchema that is not an object', { kind: 'llm', messages: [], jsonSchema: true, temperature: 2.5 }],
    ['unknown fields', { kind: 'audio_tts', text: 't', voiceCloneUrl: 'https://x/v.wav' }],
  ])('parses an offer with %s', (_what, task) => {
    const parsed = parseStudioFrame(claim(task));
    expect(parsed.ok, parsed.ok ? '' : parsed.reason).toBe(true);
  });
  it('parses a sha256 in any case and any string, leaving the check to provisioning', () => {
    const files = [
      { role: 'model', url: 'https://x/m.gguf', filename: 'm.gguf', sha256: 'AB'.repeat(32) },
      { role: 'vae', url: 'https://x/v.gguf', filename: 'v.gguf', sha256: 'not-hex', approxBytes: null },
    ];
    expect(parseStudioFrame(claim({ kind: 'image', prompt: 'p' }, files)).ok).toBe(true);
  });
});

describe('tasks', () => {
  it('fill each kind’s defaults from the contract', () => {
    expect(TaskSchema.parse({ kind: 'image', prompt: 'p' })).toMatchObject({
      width: 512,
      height: 512,
      steps: 20,
      ext: 'webp',
    });
    expect(TaskSchema.parse({ kind: 'llm', messages: [] })).toMatchObject({
      maxTokens: 512,
      temperature: 0.7,
    });
    expect(TaskSchema.parse({ kind: 'audio_tts', text: 't' })).toMatchObject({
      voice: 'default',
      ext: 'wav',
    });
    expect(TaskSchema.parse({ kind: 'video', prompt: 'p' })).toMatchObject({
      seconds: 2,
      width: 512,
      height: 512,
      ext: 'mp4',
    });
    expect(TaskSchema.parse({ kind: 'audio_stt', inputUrl: 'http://x/a.wav' })).toEqual({
      kind: 'audio_stt',
      inputUrl: 'http://x/a.wav',
    });
  });

  it('refuse an unknown kind and a wrongly spelled engine', () => {
    expect(TaskSchema.safeParse({ kind: 'audioStt', inputUrl: 'x' }).success).toBe(false);
    const claim = StudioFrameSchema.parse(raw.studio.offer);
    if (claim.type !== 'offer') throw new Error('fixture is not an offer');
    const bad = { ...claim.claim, modelSource: { ...claim.claim.modelSource, engine: 'sd_cpp' } };
    expect(ClaimSchema.safeParse(bad).success).toBe(false);
  });

  it('treat an offer without task or modelSource as invalid', () => {
    const offer = raw.studio.offer as { claim: Record<string, unknown> };
    const { task: _t, ...withoutTask } = offer.claim;
    const { modelSource: _m, ...withoutSource } = offer.claim;
    expect(ClaimSchema.safeParse(withoutTask).success).toBe(false);
    expect(ClaimSchema.safeParse(withoutSource).success).toBe(false);
  });
});

describe('registration and release feed', () => {
  it('round-trip their literal fixtures', () => {
    const request = {
      installId: '3b241101-e2bb-4255-8caf-4136c566a962',
      registrationSecretHash: 'a'.repeat(64),
      capabilities: raw.capabilities,
      userAgent: 'studio-worker/0.1.0',
    };
    expect(RegisterRequestSchema.parse(request)).toEqual(request);
    expect(RegisterResponseSchema.parse({ requestId: 'rr-1', status: 'pending' })).toEqual({
      requestId: 'rr-1',
      status: 'pending',
    });
    // Any status string, as the original's `status: String` reads it: the poll decides.
    expect(RegisterResponseSchema.parse({ requestId: 'rr-2', status: 'queued' }).status).toBe('queued');
    for (const status of [
      { status: 'pending' },
      { status: 'approved', workerId: 'w-1', authToken: 't' },
      { status: 'rejected', reason: 'unknown machine' },
    ]) {
      expect(RegisterStatusSchema.parse(status)).toEqual(status);
    }
    const feed = [
      {
        tag_name: 'v0.2.0',
        prerelease: false,
        draft: false,
        assets: [{ name: 'studio-worker-0.2.0.tgz', browser_download_url: 'https://x/y.tgz' }],
      },
    ];
    expect(ReleaseFeedSchema.parse(feed)).toEqual(feed);
  });
});

describe('JSON Schema export', () => {
  it('describes every wire type, with defaulted fields optional', () => {
    const schemas = jsonSchemas() as Record<string, { $id?: string }>;
    expect(Object.keys(schemas)).toContain('worker-frame');
    expect(Object.keys(schemas)).toContain('studio-frame');
    const task = JSON.stringify(schemas.task);
    expect(task).toContain('"audio_stt"');
    expect(schemas['studio-frame']?.$id).toBe('studio-worker/studio-frame.schema.json');
  });
});

describe('the committed schema/ folder', () => {
  it('matches what `npm run schema` generates from the zod schemas', () => {
    for (const [name, schema] of Object.entries(jsonSchemas())) {
      const file = new URL(`../../schema/${name}.schema.json`, import.meta.url);
      expect(JSON.parse(readFileSync(file, 'utf8')), `${name}: run npm run schema`).toEqual(schema);
    }
  });
});
