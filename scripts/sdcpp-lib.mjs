/**
 * The real stable-diffusion.cpp for tests, the demo and the bench: built from the vendored source
 * (see sdcpp-build.mjs) and a random-weight SD 1.x model written for it (see sdcpp-model.mjs).
 * Everything is cached under SDCPP_CACHE by the source's hash, and made once per machine.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readdirSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

class ScriptError extends Error {
  constructor(message, exitCode) {
    super(message);
    this.exitCode = exitCode;
  }
}

/** The vendored source tarball, or undefined when this checkout has none beside it. */
export function sdcppSource(env = process.env) {
  if (env.SDCPP_SOURCE) return existsSync(env.SDCPP_SOURCE) ? resolve(env.SDCPP_SOURCE) : undefined;
  const dir = resolve(ROOT, '..', 'shared', 'vendor');
  if (!existsSync(dir)) return undefined;
  const tar = readdirSync(dir).find((f) => /^stable-diffusion\.cpp-.*\.tar\.xz$/.test(f));
  return tar ? join(dir, tar) : undefined;
}

async function sha256(path) {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk);
  return hash.digest('hex');
}

/** The cache folder of this source and backend: `<cache>/<source hash>-<backend>/`. */
export async function sdcppCacheDir(env = process.env) {
  const source = sdcppSource(env);
  if (!source) {
    throw new ScriptError(
      'the vendored stable-diffusion.cpp source is absent (expected ../shared/vendor/stable-diffusion.cpp-*.tar.xz beside the clone, or SDCPP_SOURCE)',
      2,
    );
  }
  const backend = env.SDCPP_BACKEND ?? 'cpu';
  if (!['cpu', 'vulkan'].includes(backend)) {
    throw new ScriptError(`SDCPP_BACKEND must be cpu or vulkan, not "${backend}"`, 2);
  }
  const base = env.SDCPP_CACHE ?? join(homedir(), '.cache', 'studio-worker', 'sdcpp');
  const hash = (await sha256(source)).slice(0, 16);
  return { source, backend, dir: join(base, `${hash}-${backend}`), hash };
}

function run(cmd, args, log, opts = {}) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    let tail = '';
    const onData = (chunk) => {
      const text = chunk.toString();
      tail = (tail + text).slice(-4000);
      for (const line of text.split('\n')) {
        // cmake --build prints "[ 42%] Building CXX object …": that is the progress worth showing.
        if (/^\[\s*\d+%\]/.test(line)) log(`  ${line.replace(/ object .*\/(\S+)$/, ' $1')}`);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', (e) => reject(new ScriptError(`${cmd} could not start: ${e.message}`, 6)));
    child.on('close', (code) =>
      code === 0
        ? resolvePromise()
        : reject(new ScriptError(`${cmd} ${args.join(' ')} failed (exit ${code}):\n${tail.trim()}`, 5)),
    );
  });
}

const has = (tool) => spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0;

/** Installs what the build needs with apt where it is missing (as root); says what to install otherwise. */
async function ensureTools(backend, log) {
  const need = [];
  if (!has('cmake')) need.push('cmake');
  if (!has('g++')) need.push('g++');
  if (!has('make')) need.push('make');
  if (backend === 'vulkan') {
    if (!existsSync('/usr/include/vulkan/vulkan.h')) need.push('libvulkan-dev');
    if (!has('glslc')) need.push('glslc');
  }
  if (need.length === 0) return;
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!has('apt-get') || !root) {
    throw new ScriptError(`the build needs ${need.join(', ')}: install them and run this again`, 6);
  }
  log(`installing ${need.join(', ')} with apt-get`);
  await run('apt-get', ['update', '-qq'], log);
  await run('apt-get', ['install', '-y', '-qq', ...need], log, {
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
}

/** Builds (or reuses) sd-cli and sd-server; answers their folder. */
export async function sdcppBuild({ env = process.env, log = () => undefined } = {}) {
  const { source, backend, dir } = await sdcppCacheDir(env);
  const bin = join(dir, 'bin');
  const done = join(dir, 'built');
  if (existsSync(done) && existsSync(join(bin, 'sd-cli')) && existsSync(join(bin, 'sd-server'))) {
    log(`stable-diffusion.cpp already built: ${bin}`);
    return bin;
  }
  await ensureTools(backend, log);
  const work = `${dir}.partial`;
  await rm(work, { recursive: true, force: true });
  await mkdir(join(work, 'src'), { recursive: true });
  log(`unpacking ${source}`);
  await run('tar', ['-xJf', source, '-C', join(work, 'src'), '--strip-components=1'], log);
  const jobs = env.SDCPP_JOBS ?? String(availableParallelism());
  log(`configuring (${backend} backend)`);
  await run(
    'cmake',
    [
      '-S',
      join(work, 'src'),
      '-B',
      join(work, 'build'),
      '-DCMAKE_BUILD_TYPE=Release',
      '-DSD_WEBP=OFF',
      '-DSD_WEBM=OFF',
      ...(backend === 'vulkan' ? ['-DSD_VULKAN=ON'] : []),
    ],
    log,
  );
  log(`building sd-cli and sd-server with ${jobs} jobs (about 4 minutes on 2 cores)`);
  const started = Date.now();
  await run('cmake', ['--build', join(work, 'build'), '-j', jobs], log);
  for (const name of ['sd-cli', 'sd-server']) {
    if (!existsSync(join(work, 'build', 'bin', name))) {
      throw new ScriptError(`the build finished without ${name} in ${join(work, 'build', 'bin')}`, 5);
    }
  }
  // Only the binaries are kept: the tree and objects are ~1 GB the tests never read again.
  await mkdir(dir, { recursive: true });
  await rm(bin, { recursive: true, force: true });
  await rename(join(work, 'build', 'bin'), bin);
  await rm(work, { recursive: true, force: true });
  await writeFile(done, `${new Date().toISOString()} ${Math.round((Date.now() - started) / 1000)} s\n`);
  log(`built in ${Math.round((Date.now() - started) / 1000)} s`);
  return bin;
}

export { ScriptError };

// --- A random-weight model of a real architecture (SD 1.x), written as GGUF v3 ---

const GGML_F32 = 0;
const GGML_F16 = 1;
const ALIGN = 32;

/** The tensors whose presence makes sd.cpp's loader take a file for SD 1.x (see the vendor README). */
export const SD1_SEED_TENSORS = [
  {
    name: 'cond_stage_model.transformer.text_model.embeddings.token_embedding.weight',
    ne: [768, 49408],
    type: GGML_F16,
  },
  { name: 'model.diffusion_model.input_blocks.0.0.weight', ne: [3, 3, 4, 320], type: GGML_F16 },
  { name: 'model.diffusion_model.middle_block.1.norm.weight', ne: [1280], type: GGML_F32 },
  { name: 'model.diffusion_model.output_blocks.7.1.norm.weight', ne: [640], type: GGML_F32 },
];

function ggufString(text) {
  const bytes = Buffer.from(text, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(bytes.length));
  return Buffer.concat([len, bytes]);
}

function f16Bits(value) {
  // Small values only (|v| < 1): sign, exponent and a 10-bit mantissa, subnormals flushed to 0.
  const sign = value < 0 ? 0x8000 : 0;
  const a = Math.abs(value);
  if (a < 6.1e-5) return sign;
  const exp = Math.floor(Math.log2(a));
  const mant = Math.round((a / 2 ** exp - 1) * 1024) & 0x3ff;
  return sign | ((exp + 15) << 10) | mant;
}

/** A block of small random values (seeded, so the file is the same on every machine). */
function randomBlock(type, bytes) {
  const out = Buffer.alloc(bytes);
  let seed = 0x2545f491;
  const next = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return ((seed >>> 0) / 0x100000000 - 0.5) * 0.04;
  };
  if (type === GGML_F32) for (let i = 0; i + 4 <= bytes; i += 4) out.writeFloatLE(next(), i);
  else for (let i = 0; i + 2 <= bytes; i += 2) out.writeUInt16LE(f16Bits(next()), i);
  return out;
}

const bytesOf = (t) => t.ne.reduce((a, b) => a * b, 1) * (t.type === GGML_F32 ? 4 : 2);
const pad = (n) => (ALIGN - (n % ALIGN)) % ALIGN;

/** Writes `tensors` (name, ne in ggml order, type) as a GGUF file of small random values. */
export async function writeRandomGguf(path, tensors, metadata) {
  const { open } = await import('node:fs/promises');
  const header = [Buffer.from('GGUF', 'ascii')];
  const u32 = (n) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(n);
    return b;
  };
  const u64 = (n) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(n));
    return b;
  };
  const kv = Object.entries(metadata);
  header.push(u32(3), u64(tensors.length), u64(kv.length));
  for (const [key, value] of kv) header.push(ggufString(key), u32(8), ggufString(value));
  let offset = 0;
  for (const t of tensors) {
    header.push(ggufString(t.name), u32(t.ne.length), ...t.ne.map(u64), u32(t.type), u64(offset));
    offset += bytesOf(t);
    offset += pad(offset);
  }
  let head = Buffer.concat(header);
  head = Buffer.concat([head, Buffer.alloc(pad(head.length))]);
  const blocks = { [GGML_F16]: randomBlock(GGML_F16, 1 << 22), [GGML_F32]: randomBlock(GGML_F32, 1 << 22) };
  const file = await open(path, 'w');
  try {
    await file.write(head);
    for (const t of tensors) {
      let left = bytesOf(t);
      while (left > 0) {
        const n = Math.min(left, blocks[t.type].length);
        await file.write(blocks[t.type], 0, n);
        left -= n;
      }
      const p = pad(bytesOf(t));
      if (p > 0) await file.write(Buffer.alloc(p));
    }
  } finally {
    await file.close();
  }
}

const MISSING = /tensor '([^']+)' not in model file \(expected type (\w+), shape \[([\d, ]+)\]\)/g;

/** The tensors sd.cpp says a run of `args` misses, from its own error lines. */
function missingTensors(bin, args) {
  const r = spawnSync(bin, args, { encoding: 'utf8', timeout: 300_000, maxBuffer: 64 << 20 });
  const text = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  const found = [];
  for (const m of text.matchAll(MISSING)) {
    const ne = m[3].split(',').map((d) => Number(d.trim()));
    while (ne.length > 1 && ne[ne.length - 1] === 1) ne.pop();
    found.push({ name: m[1], ne, type: m[2] === 'f32' && ne.length === 1 ? GGML_F32 : GGML_F16 });
  }
  return { found, text };
}

/**
 * Writes (or reuses) the random-weight SD 1.x model: every tensor sd-cli and sd-server load, found
 * by asking the real binaries which ones a seed file lacks. Answers its path in the cache.
 */
export async function sdcppModel({ env = process.env, log = () => undefined } = {}) {
  const bin = await sdcppBuild({ env, log });
  const { dir } = await sdcppCacheDir(env);
  const path = join(dir, 'sd1x-random.gguf');
  if (existsSync(path)) {
    log(`random-weight SD 1.x model already written: ${path}`);
    return path;
  }
  const work = join(dir, 'model.partial');
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  const metadata = {
    'general.name': 'sd1x-random-weights',
    'general.description':
      'RANDOM WEIGHTS FOR TESTS: an SD 1.x architecture with small random values, written by studio-worker scripts/sdcpp-model.mjs; its images are noise',
  };
  let tensors = [...SD1_SEED_TENSORS];
  const probe = join(work, 'probe.gguf');
  // sd-cli names what the txt2img path loads; sd-server also loads the VAE encoder (img2img).
  for (const [name, args] of [
    [
      'sd-cli',
      (m) => ['-m', m, '-p', 'probe', '-W', '64', '-H', '64', '--steps', '1', '-o', join(work, 'probe.png')],
    ],
    ['sd-server', (m) => ['-m', m, '--listen-port', '0']],
  ]) {
    await writeRandomGguf(probe, tensors, metadata);
    const { found, text } = missingTensors(join(bin, name), args(probe));
    const known = new Set(tensors.map((t) => t.name));
    const added = found.filter((t) => !known.has(t.name));
    if (tensors.length === SD1_SEED_TENSORS.length && added.length === 0) {
      throw new ScriptError(
        `${name} did not name any missing tensor; its output ends:\n${text.slice(-2000)}`,
        5,
      );
    }
    log(`${name} needs ${added.length} more tensor(s)`);
    tensors = [...tensors, ...added];
  }
  log(`writing ${tensors.length} tensors of small random values (about 2 GB)`);
  await writeRandomGguf(join(work, 'model.gguf'), tensors, metadata);
  await rename(join(work, 'model.gguf'), path);
  await rm(work, { recursive: true, force: true });
  return path;
}
