/**
 * The real stable-diffusion.cpp for tests, the demo and the bench: built from the vendored source
 * (see sdcpp-build.mjs) and a random-weight SD 1.x model written for it (see sdcpp-model.mjs).
 * Everything is cached under SDCPP_CACHE by the source's hash, and made once per machine.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
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

/** cpu (the default), vulkan (Debian's libvulkan-dev and glslc) or cuda (the CUDA toolkit's nvcc). */
export const BACKENDS = ['cpu', 'vulkan', 'cuda'];

/** The cache folder of this source and backend: `<cache>/<source hash>-<backend>/`. */
export async function sdcppCacheDir(env = process.env) {
  const source = sdcppSource(env);
  if (!source) {
    throw new ScriptError(
      'the vendored stable-diffusion.cpp source is absent (expected ../shared/vendor/stable-diffusion.cpp-*.tar.xz beside the clone, or SDCPP_SOURCE)',
      2,
    );
  }
  const backend = env.SDCPP_BACKEND || 'cpu';
  if (!BACKENDS.includes(backend)) {
    throw new ScriptError(`SDCPP_BACKEND must be ${BACKENDS.join(', ')}, not "${backend}"`, 2);
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
        // (Ninja, used where make is absent, prints "[42/310] Building CUDA object …" instead.)
        if (/^\[\s*\d+(%|\/\d+)\]/.test(line)) log(`  ${line.replace(/ object .*\/(\S+)$/, ' $1')}`);
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

/**
 * The CUDA compiler: `CUDACXX`, else nvcc on PATH, else the toolkit's usual folders (a CUDA image
 * often leaves /usr/local/cuda/bin off PATH). Undefined when there is none.
 */
export function findNvcc(env = process.env) {
  if (env.CUDACXX) return existsSync(env.CUDACXX) ? env.CUDACXX : undefined;
  const onPath = spawnSync('sh', ['-c', 'command -v nvcc'], { encoding: 'utf8', env });
  if (onPath.status === 0 && onPath.stdout.trim()) return onPath.stdout.trim();
  const fixed = [join(env.CUDA_HOME ?? '/usr/local/cuda', 'bin', 'nvcc'), '/usr/local/cuda/bin/nvcc'];
  if (existsSync('/usr/local')) {
    for (const d of readdirSync('/usr/local')
      .filter((n) => /^cuda-[\d.]+$/.test(n))
      .sort()
      .reverse()) {
      fixed.push(join('/usr/local', d, 'bin', 'nvcc'));
    }
  }
  return fixed.find((p) => existsSync(p));
}

/** The major version of an nvcc (`release 13.0` → 13), or undefined. */
function nvccMajor(nvcc) {
  const r = spawnSync(nvcc, ['--version'], { encoding: 'utf8' });
  const m = /release (\d+)\./.exec(r.stdout ?? '');
  return m ? Number(m[1]) : undefined;
}

/** `lib<name>.so`, else `lib<name>.so.<major>` (or any `.so.N` when no major is asked for) in `dir`. */
function sharedLib(dir, name, major) {
  if (!existsSync(dir)) return undefined;
  const files = readdirSync(dir);
  if (files.includes(`lib${name}.so`)) return join(dir, `lib${name}.so`);
  const versioned = files.filter((f) => new RegExp(`^lib${name}\\.so\\.\\d+$`).test(f)).sort();
  const pick = major === undefined ? versioned.at(-1) : versioned.find((f) => f === `lib${name}.so.${major}`);
  return pick ? join(dir, pick) : undefined;
}

/** Where the toolkit of `nvcc` may be (a wrapper script's target is not followed: the usual roots too). */
function toolkitRoots(nvcc, env) {
  return [
    resolve(dirname(realpathSync(nvcc)), '..'),
    ...(env.CUDA_HOME ? [env.CUDA_HOME] : []),
    '/usr/local/cuda',
  ];
}

/**
 * How ggml-cuda gets the driver library (libcuda) it links for its virtual-memory pool: CMake finds
 * the toolkit's stub itself where there is one; else the driver's own library from ldconfig is named;
 * else (a toolkit without stubs on a machine without a driver) the pool is left out
 * (`-DGGML_CUDA_NO_VMM=ON`: plain cudaMalloc pools, the same kernels).
 */
export function cudaDriverArgs(nvcc, env = process.env) {
  for (const r of toolkitRoots(nvcc, env)) {
    for (const lib of ['lib64/stubs', 'lib/stubs', 'targets/x86_64-linux/lib/stubs']) {
      if (existsSync(join(r, lib, 'libcuda.so'))) return [];
    }
  }
  const ld = spawnSync('ldconfig', ['-p'], { encoding: 'utf8' });
  const driver = /libcuda\.so(?:\.1)? .*=> (\S+)/.exec(ld.stdout ?? '');
  return driver ? [`-DCUDA_cuda_driver_LIBRARY=${driver[1]}`] : ['-DGGML_CUDA_NO_VMM=ON'];
}

/**
 * cuBLAS, which ggml's CUDA backend links, for the toolkit of `nvcc`: in that toolkit (`toolkit:
 * true`, CMake finds it itself), else where a CUDA image often keeps it instead: the library folders
 * ldconfig knows and Python's `nvidia` packages (PyTorch's pip wheels: nvidia/cu13/, nvidia/cublas/),
 * with headers in a sibling `include/`. Only the major version of nvcc is taken. Undefined if none.
 */
export function findCublas(nvcc, env = process.env) {
  const major = nvccMajor(nvcc);
  for (const r of toolkitRoots(nvcc, env)) {
    for (const [inc, lib] of [
      ['include', 'lib64'],
      ['include', 'lib'],
      ['targets/x86_64-linux/include', 'targets/x86_64-linux/lib'],
    ]) {
      if (existsSync(join(r, inc, 'cublas_v2.h')) && existsSync(join(r, lib, 'libcublas.so'))) {
        return { toolkit: true, include: join(r, inc), cublas: join(r, lib, 'libcublas.so') };
      }
    }
  }
  const dirs = new Set();
  const ld = spawnSync('ldconfig', ['-p'], { encoding: 'utf8' });
  for (const m of (ld.stdout ?? '').matchAll(/libcublas\.so\S* .*=> (\S+)/g)) dirs.add(dirname(m[1]));
  const py = spawnSync('python3', ['-c', 'import nvidia; print("\\n".join(nvidia.__path__))'], {
    encoding: 'utf8',
    env,
  });
  for (const base of (py.status === 0 ? py.stdout : '').split('\n').filter(Boolean)) {
    if (!existsSync(base)) continue;
    for (const sub of readdirSync(base)) dirs.add(join(base, sub, 'lib'));
  }
  for (const dir of dirs) {
    const cublas = sharedLib(dir, 'cublas', major);
    const cublasLt = sharedLib(dir, 'cublasLt', major);
    const include = [join(dir, '..', 'include'), '/usr/include'].find((d) =>
      existsSync(join(d, 'cublas_v2.h')),
    );
    if (cublas && cublasLt && include) return { toolkit: false, include: resolve(include), cublas, cublasLt };
  }
  return undefined;
}

/**
 * Installs what the build needs with apt where it is missing (as root); says what to install
 * otherwise. The CUDA toolkit is never installed here (it is not one apt package, and its version
 * must match the driver): a cuda build without nvcc stops with an error naming what is missing.
 */
async function ensureTools(backend, log, env = process.env) {
  if (backend === 'cuda') {
    const nvcc = findNvcc(env);
    if (!nvcc) {
      throw new ScriptError(
        "SDCPP_BACKEND=cuda needs the CUDA toolkit's compiler nvcc (and its cuBLAS), and found none: not CUDACXX, " +
          'not on PATH, not in /usr/local/cuda*/bin. Install the CUDA toolkit that matches the driver (it is not ' +
          'installed for you), or set CUDACXX to its nvcc',
        6,
      );
    }
    if (!findCublas(nvcc, env)) {
      throw new ScriptError(
        `SDCPP_BACKEND=cuda: nvcc is here (${nvcc}, CUDA ${nvccMajor(nvcc) ?? '?'}) but not cuBLAS, which ggml's ` +
          'CUDA backend links (cublas_v2.h and libcublas/libcublasLt of the same major version): looked in the ' +
          "toolkit, ldconfig's folders and Python's nvidia packages. Install cuBLAS for that toolkit (it is not " +
          'installed for you)',
        6,
      );
    }
  }
  const need = [];
  if (!has('cmake')) need.push('cmake');
  if (!has('g++')) need.push('g++');
  // Ninja does as well as make (CUDA images often ship ninja without make).
  if (!has('make') && !has('ninja')) need.push('make');
  if (backend === 'vulkan') {
    if (!existsSync('/usr/include/vulkan/vulkan.h')) need.push('libvulkan-dev');
    if (!has('glslc')) need.push('glslc');
    // ggml-vulkan.cpp includes <spirv/unified1/spirv.hpp>.
    if (!existsSync('/usr/include/spirv/unified1/spirv.hpp')) need.push('spirv-headers');
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

/**
 * The cmake arguments of a backend, then `SDCPP_CMAKE_ARGS` (split on spaces; they do not change the
 * cache folder, so give such a build its own SDCPP_CACHE).
 * - vulkan: `-DSD_VULKAN=ON`, and portable CPU code (`-DGGML_NATIVE=OFF`: AVX2/FMA/F16C), since a
 *   Vulkan build is made to be carried to a GPU machine whose processor may lack this one's
 *   instructions (scripts/gpu-check.sh --pack).
 * - cuda: `-DSD_CUDA=ON`, nvcc as found by findNvcc, libcuda as cudaDriverArgs says, cuBLAS as
 *   found by findCublas, and only the GPU architectures in `SDCPP_CUDA_ARCH` when set (`90` for an
 *   H100/H200; unset, ggml chooses: the building machine's own GPUs where it sees one, else a list
 *   of seven), since every architecture more costs minutes of kernels.
 */
export function backendArgs(backend, env = process.env) {
  const args = [];
  if (backend === 'vulkan') args.push('-DSD_VULKAN=ON', '-DGGML_NATIVE=OFF');
  if (backend === 'cuda') {
    args.push('-DSD_CUDA=ON');
    if (env.SDCPP_CUDA_ARCH) args.push(`-DCMAKE_CUDA_ARCHITECTURES=${env.SDCPP_CUDA_ARCH}`);
    const nvcc = findNvcc(env);
    if (nvcc) args.push(`-DCMAKE_CUDA_COMPILER=${nvcc}`);
    if (nvcc) args.push(...cudaDriverArgs(nvcc, env));
    const cublas = nvcc ? findCublas(nvcc, env) : undefined;
    if (cublas && !cublas.toolkit) {
      // Outside the toolkit CMake's FindCUDAToolkit does not look: name the libraries and headers.
      args.push(
        `-DCUDA_cublas_LIBRARY=${cublas.cublas}`,
        `-DCUDA_cublasLt_LIBRARY=${cublas.cublasLt}`,
        `-DCMAKE_CUDA_FLAGS=-I${cublas.include}`,
        `-DCMAKE_CXX_FLAGS=-I${cublas.include}`,
      );
    }
  }
  return [...args, ...(env.SDCPP_CMAKE_ARGS ?? '').split(/\s+/).filter(Boolean)];
}

/** ggml-vulkan creates its instance with VK_EXT_layer_settings: Vulkan headers 1.3.261 or later. */
const VULKAN_HEADERS_MIN = [1, 3, 261];
/** Debian releases whose Vulkan headers are older, and the next release, whose headers are taken. */
const NEWER_DEBIAN = { bookworm: 'trixie' };

/** The version of the Vulkan headers in `include` ([major, minor, patch]), or undefined. */
function vulkanHeaders(include) {
  const core = join(include, 'vulkan', 'vulkan_core.h');
  if (!existsSync(core) || !existsSync(join(include, 'vulkan', 'vulkan.hpp'))) return undefined;
  const text = readFileSync(core, 'utf8');
  const patch = /#define VK_HEADER_VERSION (\d+)/.exec(text);
  const api =
    /#define VK_HEADER_VERSION_COMPLETE VK_MAKE_API_VERSION\(0, (\d+), (\d+), VK_HEADER_VERSION\)/.exec(text);
  return patch && api ? [Number(api[1]), Number(api[2]), Number(patch[1])] : undefined;
}
const atLeast = (v, min) => {
  for (let i = 0; i < min.length; i++) if (v[i] !== min[i]) return v[i] > min[i];
  return true;
};

/** This machine's Debian codename and the archive its apt sources name for it, if they say. */
function debianSource() {
  const release = existsSync('/etc/os-release') ? readFileSync('/etc/os-release', 'utf8') : '';
  const codename = /^VERSION_CODENAME=(\S+)$/m.exec(release)?.[1];
  if (!codename || !/^ID=debian$/m.test(release)) return undefined;
  const texts = [];
  for (const dir of ['/etc/apt/sources.list.d']) {
    if (existsSync(dir))
      for (const f of readdirSync(dir))
        if (/\.(sources|list)$/.test(f)) texts.push(readFileSync(join(dir, f), 'utf8'));
  }
  if (existsSync('/etc/apt/sources.list')) texts.push(readFileSync('/etc/apt/sources.list', 'utf8'));
  for (const text of texts) {
    // deb822 stanzas (URIs:/Suites:/Signed-By:) and one-line "deb [opts] uri suite components".
    for (const stanza of text.split(/\n\s*\n/)) {
      const uri = /^URIs:\s*(\S+)/m.exec(stanza)?.[1];
      const suites = /^Suites:\s*(.+)$/m.exec(stanza)?.[1].split(/\s+/) ?? [];
      if (uri && suites.includes(codename) && /^Types:.*\bdeb\b/m.test(stanza)) {
        return { codename, uri, signedBy: /^Signed-By:\s*(\S+)/m.exec(stanza)?.[1] };
      }
    }
    for (const m of text.matchAll(/^deb\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s/gm)) {
      if (m[3] === codename)
        return { codename, uri: m[2], signedBy: /signed-by=(\S+)/.exec(m[1] ?? '')?.[1] };
    }
  }
  return undefined;
}

/**
 * The Vulkan headers to build with: SDCPP_VULKAN_INCLUDE when set; the system's when recent enough
 * (undefined: CMake finds them); else, on a Debian release whose libvulkan-dev is older (Debian 12
 * has 1.3.239), the next release's libvulkan-dev, downloaded with apt from the same archive (a
 * private package list, nothing installed) and unpacked under the cache: headers only, the loader
 * stays the system's.
 */
async function vulkanInclude(env, log) {
  if (env.SDCPP_VULKAN_INCLUDE) {
    const v = vulkanHeaders(env.SDCPP_VULKAN_INCLUDE);
    if (!v)
      throw new ScriptError(
        `SDCPP_VULKAN_INCLUDE=${env.SDCPP_VULKAN_INCLUDE} holds no vulkan/vulkan_core.h and vulkan.hpp`,
        2,
      );
    return env.SDCPP_VULKAN_INCLUDE;
  }
  const system = vulkanHeaders('/usr/include');
  if (system && atLeast(system, VULKAN_HEADERS_MIN)) return undefined;
  const have = system ? system.join('.') : 'none';
  const want = VULKAN_HEADERS_MIN.join('.');
  const source = debianSource();
  const next = source && NEWER_DEBIAN[source.codename];
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!next || !root || !has('apt-get') || !has('dpkg')) {
    throw new ScriptError(
      `the Vulkan build needs Vulkan headers ${want} or later (vulkan_core.h and vulkan.hpp; ggml-vulkan uses ` +
        `VK_EXT_layer_settings), and this machine has ${have}: install newer ones (the Vulkan SDK, or a newer ` +
        `distribution's libvulkan-dev) and set SDCPP_VULKAN_INCLUDE to their include folder`,
      6,
    );
  }
  const base = join(
    env.SDCPP_CACHE ?? join(homedir(), '.cache', 'studio-worker', 'sdcpp'),
    `vulkan-headers-${next}`,
  );
  const include = join(base, 'root', 'usr', 'include');
  const found = vulkanHeaders(include);
  if (found && atLeast(found, VULKAN_HEADERS_MIN)) {
    log(`using Vulkan headers ${found.join('.')} from ${include} (the system's are ${have})`);
    return include;
  }
  log(
    `the system's Vulkan headers are ${have}, older than ggml-vulkan needs (${want}): taking Debian ${next}'s libvulkan-dev (headers only)`,
  );
  await rm(base, { recursive: true, force: true });
  await mkdir(join(base, 'lists', 'partial'), { recursive: true });
  await mkdir(join(base, 'debs'), { recursive: true });
  const list = join(base, 'sources.list');
  await writeFile(
    list,
    `deb ${source.signedBy ? `[signed-by=${source.signedBy}] ` : ''}${source.uri} ${next} main\n`,
  );
  const o = [
    '-o',
    `Dir::Etc::SourceList=${list}`,
    '-o',
    'Dir::Etc::SourceParts=/dev/null',
    '-o',
    `Dir::State::Lists=${join(base, 'lists')}`,
  ];
  await run('apt-get', [...o, 'update', '-qq'], log);
  await run('apt-get', [...o, 'download', '-qq', 'libvulkan-dev'], log, { cwd: join(base, 'debs') });
  const deb = readdirSync(join(base, 'debs')).find((f) => f.endsWith('.deb'));
  if (!deb)
    throw new ScriptError(
      `apt-get download libvulkan-dev (${next}) left no .deb in ${join(base, 'debs')}`,
      6,
    );
  await run('dpkg', ['-x', join(base, 'debs', deb), join(base, 'root')], log);
  const got = vulkanHeaders(include);
  if (!got || !atLeast(got, VULKAN_HEADERS_MIN)) {
    throw new ScriptError(
      `Debian ${next}'s libvulkan-dev holds Vulkan headers ${got?.join('.') ?? 'none'}, not ${want} or later`,
      6,
    );
  }
  log(`using Vulkan headers ${got.join('.')} from ${include}`);
  return include;
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
  await ensureTools(backend, log, env);
  const work = `${dir}.partial`;
  await rm(work, { recursive: true, force: true });
  await mkdir(join(work, 'src'), { recursive: true });
  log(`unpacking ${source}`);
  await run('tar', ['-xJf', source, '-C', join(work, 'src'), '--strip-components=1'], log);
  const jobs = env.SDCPP_JOBS ?? String(availableParallelism());
  const extra = backendArgs(backend, env);
  if (backend === 'vulkan') {
    const include = await vulkanInclude(env, log);
    if (include) extra.push(`-DVulkan_INCLUDE_DIR=${include}`);
  }
  log(`configuring (${backend} backend${extra.length ? `: ${extra.join(' ')}` : ''})`);
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
      ...(!has('make') && has('ninja') ? ['-G', 'Ninja'] : []),
      ...extra,
    ],
    log,
  );
  log(
    `building sd-cli and sd-server with ${jobs} jobs (${
      backend === 'cpu'
        ? 'about 4 minutes on 2 cores'
        : backend === 'vulkan'
          ? 'its shaders too: longer'
          : 'CUDA kernels: minutes even on 16 cores'
    })`,
  );
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
  await writeFile(
    done,
    `${new Date().toISOString()} ${Math.round((Date.now() - started) / 1000)} s ${backend} ${extra.join(' ')}\n`,
  );
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

/**
 * A norm's gain (a 1-D `.weight`: every other weight has two or more dimensions) is written as 1:
 * small random gains shrink the activations at every norm until the VAE paints one flat grey, and
 * a flat image cannot show whether the seed, the prompt or a mask reached sd.cpp.
 */
const isNormGain = (t) => t.ne.length === 1 && t.name.endsWith('.weight');

function onesBlock(t) {
  const out = Buffer.alloc(bytesOf(t));
  if (t.type === GGML_F32) for (let i = 0; i + 4 <= out.length; i += 4) out.writeFloatLE(1, i);
  else for (let i = 0; i + 2 <= out.length; i += 2) out.writeUInt16LE(0x3c00, i);
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
      if (isNormGain(t)) {
        await file.write(onesBlock(t));
        const p = pad(bytesOf(t));
        if (p > 0) await file.write(Buffer.alloc(p));
        continue;
      }
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
  // The name carries the generator's version: a changed generator writes a new file.
  const path = join(dir, 'sd1x-random-2.gguf');
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
      'RANDOM WEIGHTS FOR TESTS: an SD 1.x architecture with small random values, written by studio-worker scripts/sdcpp-model.mjs; its images are noise (norm gains are 1, every other value small and random)',
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
