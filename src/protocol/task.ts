import { z } from 'zod';

const positiveInt = z.number().int().positive();
const extSchema = z
  .string()
  .regex(/^[a-z0-9]{1,8}$/, 'ext must be 1-8 lowercase letters or digits, without a dot');

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
  denoise: z.number().min(0).max(1).optional(),
  cfgScale: z.number().optional(),
  samplingMethod: z.string().optional(),
  width: positiveInt.default(512),
  height: positiveInt.default(512),
  steps: positiveInt.default(20),
  seed: z.number().int().optional(),
  ext: extSchema.default('webp'),
});

export const LlmTaskSchema = z.object({
  kind: z.literal('llm'),
  messages: z.array(ChatMessageSchema),
  system: z.string().optional(),
  maxTokens: positiveInt.default(512),
  temperature: z.number().min(0).default(0.7),
  topP: z.number().min(0).max(1).optional(),
  stop: z.union([z.string(), z.array(z.string())]).optional(),
  jsonSchema: z.record(z.string(), z.unknown()).optional(),
  reasoning: z.union([z.boolean(), z.string()]).optional(),
  chatTemplateKwargs: z.record(z.string(), z.unknown()).optional(),
});

export const AudioSttTaskSchema = z.object({
  kind: z.literal('audio_stt'),
  inputUrl: z.string().min(1),
  language: z.string().optional(),
  translate: z.boolean().optional(),
  prompt: z.string().optional(),
  vad: z.boolean().optional(),
  timestamps: z.enum(['segment', 'word']).optional(),
});

export const AudioTtsTaskSchema = z.object({
  kind: z.literal('audio_tts'),
  text: z.string(),
  voice: z.string().default('default'),
  speed: z.number().positive().optional(),
  language: z.string().optional(),
  ext: extSchema.default('wav'),
});

export const VideoTaskSchema = z.object({
  kind: z.literal('video'),
  prompt: z.string(),
  negativePrompt: z.string().optional(),
  initImageUrl: z.string().optional(),
  seconds: z.number().positive().default(2),
  fps: positiveInt.optional(),
  width: positiveInt.default(512),
  height: positiveInt.default(512),
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
