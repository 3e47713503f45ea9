import { z } from 'zod';

// As lenient as the original's serde types: a u32 is any whole number ≥ 0, an f32 any number, a
// String any string. A value that parses but cannot work (a width of 0, an ext no engine writes)
// fails where it is used, with the reason, never here.
const u32 = z.number().int().nonnegative();
const f32 = z.number();
const extSchema = z.string();

export const ChatMessageSchema = z.object({
  role: z.string().min(1),
  content: z.string(),
});
export type ChatMessage = z.infer<typeof ChatMessageSchema>;

export const ImageTaskSchema = z.object({
  kind: z.literal('image'),
  prompt: z.string(),
  negativePrompt: z.string().optional(),
  initImageUrl: z.string().optional(),
  maskUrl: z.string().optional(),
  refImageUrl: z.string().optional(),
  denoise: f32.optional(),
  cfgScale: f32.optional(),
  samplingMethod: z.string().optional(),
  width: u32.default(512),
  height: u32.default(512),
  steps: u32.default(20),
  seed: z.number().int().nonnegative().optional(),
  ext: extSchema.default('webp'),
});

export const LlmTaskSchema = z.object({
  kind: z.literal('llm'),
  messages: z.array(ChatMessageSchema),
  system: z.string().optional(),
  maxTokens: u32.default(512),
  temperature: f32.default(0.7),
  topP: f32.optional(),
  stop: z.union([z.string(), z.array(z.string())]).optional(),
  /** Any JSON value, as the original's `serde_json::Value`; the llm engine checks it is a schema. */
  jsonSchema: z.unknown().optional(),
  reasoning: z.union([z.boolean(), z.string()]).optional(),
  chatTemplateKwargs: z.record(z.string(), z.unknown()).optional(),
});

export const AudioSttTaskSchema = z.object({
  kind: z.literal('audio_stt'),
  inputUrl: z.string(),
  language: z.string().optional(),
  translate: z.boolean().optional(),
  prompt: z.string().optional(),
  vad: z.boolean().optional(),
  /** "segment" or "word"; any other string is refused by the engine that runs the job. */
  timestamps: z.string().optional(),
});

export const AudioTtsTaskSchema = z.object({
  kind: z.literal('audio_tts'),
  text: z.string(),
  voice: z.string().default('default'),
  speed: f32.optional(),
  language: z.string().optional(),
  ext: extSchema.default('wav'),
});

export const VideoTaskSchema = z.object({
  kind: z.literal('video'),
  prompt: z.string(),
  negativePrompt: z.string().optional(),
  initImageUrl: z.string().optional(),
  seconds: f32.default(2),
  fps: u32.optional(),
  width: u32.default(512),
  height: u32.default(512),
  ext: extSchema.default('mp4'),
});

/** A task, tagged by `kind`, with the kind's defaults filled in once parsed. */
export const TaskSchema = z.discriminatedUnion('kind', [
  ImageTaskSchema,
  LlmTaskSchema,
  AudioSttTaskSchema,
  AudioTtsTaskSchema,
  VideoTaskSchema,
]);
/** A parsed task: every default present. */
export type Task = z.output<typeof TaskSchema>;
/** A task as it may appear on the wire: defaulted fields optional. */
export type TaskInput = z.input<typeof TaskSchema>;
export type ImageTask = z.output<typeof ImageTaskSchema>;
export type LlmTask = z.output<typeof LlmTaskSchema>;
export type AudioSttTask = z.output<typeof AudioSttTaskSchema>;
export type AudioTtsTask = z.output<typeof AudioTtsTaskSchema>;
export type VideoTask = z.output<typeof VideoTaskSchema>;
export type TaskOfKind<K extends Task['kind']> = Extract<Task, { kind: K }>;
