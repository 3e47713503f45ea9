import { readFileSync, statSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { CliDefaults, ClaimInput, ModelFile, TaskInput } from '../protocol/index.js';
import { ClaimSchema, FileRoleSchema } from '../protocol/index.js';
import type { Claim } from '../protocol/index.js';
import { UserError } from '../util/index.js';

/** The flags of `studio-worker generate`, as commander hands them over (all strings). */
export interface GenerateFlags {
  kind: string;
  engine: string;
  model?: string;
  file?: string[];
  task?: string;
  cliDefault?: string[];
  prompt?: string;
  negativePrompt?: string;
  width?: string;
  height?: string;
  steps?: string;
  seed?: string;
  cfgScale?: string;
  samplingMethod?: string;
  denoise?: string;
  initImageUrl?: string;
  maskUrl?: string;
  refImageUrl?: string;
  ext?: string;
  message?: string[];
  system?: string;
  maxTokens?: string;
  temperature?: string;
  topP?: string;
  stop?: string[];
  jsonSchema?: string;
  inputUrl?: string;
  language?: string;
  translate?: boolean;
  timestamps?: string;
  text?: string;
  voice?: string;
  speed?: string;
  seconds?: string;
  fps?: string;
}

function num(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n))
    throw new UserError(`${flag} expects a number, got "${value}"`);
  return n;
}

/**
 * `--file role=url[#sha256]` → a modelSource file. The file name is the URL's last path segment. A
 * local path (or `file:` URL) names a model already on disk: it becomes a `file:` URL, used in place.
 */
export function parseFileFlag(spec: string): ModelFile {
  const eq = spec.indexOf('=');
  if (eq <= 0) {
    throw new UserError(
      `--file expects role=url or role=path (e.g. model=https://host/m.gguf or model=./m.gguf), got "${spec}"`,
    );
  }
  const role = spec.slice(0, eq);
  const roleCheck = FileRoleSchema.safeParse(role);
  if (!roleCheck.success) {
    throw new UserError(`--file role "${role}" is not one of: ${FileRoleSchema.options.join(', ')}`);
  }
  const value = spec.slice(eq + 1);
  if (!/^https?:\/\//i.test(value)) return localFile(roleCheck.data, value);
  const [url = '', sha256] = value.split('#');
  let filename: string;
  try {
    filename = decodeURIComponent(new URL(url).pathname.split('/').pop() ?? '');
  } catch {
    throw new UserError(`--file ${role}= expects a URL, got "${url}"`);
  }
  if (!filename) throw new UserError(`--file ${role}=${url}: the URL does not end in a file name`);
  return { role: roleCheck.data, url, filename, ...(sha256 ? { sha256 } : {}) };
}

function parseJsonArg(value: string, flag: string): unknown {
  const text = value.startsWith('@') ? readFileSync(value.slice(1), 'utf8') : value;
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new UserError(`${flag}: not valid JSON (${(e as Error).message})`);
  }
}

function parseMessages(specs: string[] | undefined): { role: string; content: string }[] {
  return (specs ?? []).map((spec) => {
    const m = /^(system|user|assistant):(.*)$/s.exec(spec);
    return m ? { role: m[1]!, content: m[2]! } : { role: 'user', content: spec };
  });
}

function taskFromFlags(f: GenerateFlags): Record<string, unknown> {
  const fields: Record<string, unknown> = {
    kind: f.kind,
    prompt: f.prompt,
    negativePrompt: f.negativePrompt,
    width: num(f.width, '--width'),
    height: num(f.height, '--height'),
    steps: num(f.steps, '--steps'),
    seed: num(f.seed, '--seed'),
    cfgScale: num(f.cfgScale, '--cfg-scale'),
    samplingMethod: f.samplingMethod,
    denoise: num(f.denoise, '--denoise'),
    initImageUrl: localInput(f.initImageUrl),
    maskUrl: localInput(f.maskUrl),
    refImageUrl: localInput(f.refImageUrl),
    ext: f.ext,
    system: f.system,
    maxTokens: num(f.maxTokens, '--max-tokens'),
    temperature: num(f.temperature, '--temperature'),
    topP: num(f.topP, '--top-p'),
    stop: f.stop,
    jsonSchema: f.jsonSchema === undefined ? undefined : parseJsonArg(f.jsonSchema, '--json-schema'),
    inputUrl: localInput(f.inputUrl),
    language: f.language,
    translate: f.translate,
    timestamps: f.timestamps,
    text: f.text,
    voice: f.voice,
    speed: num(f.speed, '--speed'),
    seconds: num(f.seconds, '--seconds'),
    fps: num(f.fps, '--fps'),
  };
  if (f.kind === 'llm') fields.messages = parseMessages(f.message ?? (f.prompt ? [f.prompt] : []));
  if (f.kind === 'llm' || f.kind === 'audio_stt') delete fields.prompt;
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
}

const CLI_DEFAULT_FALLBACK: CliDefaults = { cfgScale: 7, steps: 20, width: 512, height: 512 };

function parseCliDefaults(specs: string[] | undefined): CliDefaults {
  const out: Record<string, unknown> = { ...CLI_DEFAULT_FALLBACK };
  for (const spec of specs ?? []) {
    const eq = spec.indexOf('=');
    if (eq <= 0) throw new UserError(`--cli-default expects key=value (e.g. flowShift=3), got "${spec}"`);
    const raw = spec.slice(eq + 1);
    out[spec.slice(0, eq)] =
      raw === 'true' ? true : raw === 'false' ? false : Number.isFinite(Number(raw)) ? Number(raw) : raw;
  }
  return out as CliDefaults;
}

/**
 * Builds the claim `generate` runs, exactly as a studio offer would carry it, and validated with
 * the contract's schema so a job that works here also works when the dev studio enqueues it.
 */
export function buildGenerateClaim(flags: GenerateFlags): Claim {
  const task = (
    flags.task !== undefined ? parseJsonArg(flags.task, '--task') : taskFromFlags(flags)
  ) as TaskInput;
  const input: ClaimInput = {
    jobId: `local-${Date.now().toString(36)}`,
    gameId: 'local',
    assetName: 'generate',
    model: flags.model ?? (flags.engine === 'synthetic' ? `synthetic-${flags.kind}` : flags.engine),
    vramGbEstimate: 0,
    task,
    modelSource: {
      engine: flags.engine as ClaimInput['modelSource']['engine'],
      files: (flags.file ?? []).map(parseFileFlag),
      cliDefaults: parseCliDefaults(flags.cliDefault),
    },
  };
  const parsed = ClaimSchema.safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues
      .map((i) => `${i.path.join('.') || '(job)'}: ${i.message}`)
      .join('; ');
    throw new UserError(`this job does not fit the contract: ${problems}`);
  }
  return parsed.data;
}

/**
 * A job input named by path (the operator's own file, for this local command only) becomes a
 * `file:` URL that the local model provider copies in; web URLs and anything else pass as given.
 */
function localInput(value: string | undefined): string | undefined {
  if (value === undefined || /^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return value;
  const path = resolve(value);
  try {
    if (statSync(path).isFile()) return pathToFileURL(path).href;
  } catch {
    // Not a file here: passed on, and the engine says what is wrong with it.
  }
  return value;
}

/** A model file already on this machine: an existing regular file, by path or `file:` URL. */
function localFile(role: ModelFile['role'], value: string): ModelFile {
  let path: string;
  try {
    path = value.startsWith('file:') ? fileURLToPath(value) : resolve(value);
  } catch {
    throw new UserError(`--file ${role}=${value}: not a path or URL this command can read`);
  }
  let isFile = false;
  try {
    isFile = statSync(path).isFile();
  } catch {
    throw new UserError(`--file ${role}=${value}: ${path} does not exist`);
  }
  if (!isFile) throw new UserError(`--file ${role}=${value}: ${path} is not a file`);
  return { role, url: pathToFileURL(path).href, filename: basename(path) };
}
