#!/usr/bin/env bash
# Real-GPU check of this worker, for a machine with an NVIDIA GPU (never run by CI or `npm test`).
#
#   bash scripts/gpu-check.sh               the whole check (image, llm, speech), below
#   bash scripts/gpu-check.sh --image-only  stable-diffusion.cpp only: what fits one 10-minute call
#   bash scripts/gpu-check.sh --pack [--vulkan]
#                                           run HERE, not on the GPU machine: writes .tmp/gpu/, what a
#                                           GPU machine without internet needs (see "Packing" below)
#
# It records the machine (GPU, driver, CUDA, Node), fetches small public models into MODELS_DIR
# (skipping any already there, or any whose variable points at a file; none where one short probe
# finds no internet), then runs real jobs with timings:
#   - (with --image-only, OFFLINE=1 or SDCPP_BACKEND) stable-diffusion.cpp built from the vendored
#     source of the worker's pinned release (../shared/vendor, or the copy in .tmp/gpu/) for the best
#     backend here, saying which and why: CUDA where nvcc is (only the architectures in
#     SDCPP_CUDA_ARCH, default 90 = H100/H200, and no flash-attention kernels, to keep the build to
#     minutes), else a Vulkan build already made (or carried) where a loader and NVIDIA's Vulkan
#     driver are, else the CPU. Its model is SD_MODEL, else the downloaded SD 1.5, else the
#     random-weight SD 1.x of `npm run sdcpp:model` (2.1 GB, noise images, real compute); then
#     sd-server on its own (load, a cold and a warm txt2img). Otherwise the worker installs its
#     pinned release (`engines install sd-cpp`, needs internet), as before;
#   - image through the worker: one cold and one warm job through sd-server (`--repeat 2`: one
#     process, so the second job reuses the loaded model), and the same on sd-cli alone
#     (image_idle_unload_secs = 0);
#   - (not with --image-only) llm with GPU offload (a small instruct GGUF; stories260K from
#     ../shared/models when offline); speech to text on whisper.cpp (ggml tiny.en) of speech made by
#     the TTS job; text to speech on sherpa-onnx (a Piper voice); streaming speech to text through
#     the LAN stream listener (scripts/stream-check.mjs) on the sherpa-onnx streaming transducer in
#     STREAM_MODEL_DIR, when one is at hand (never downloaded; skipped with a message otherwise).
# Then a table of the image timings and `engines` (what each engine runs on here). Results go to
# ${OUT:-.}/gpu-run.md (append that to docs/gpu-runs.md); build and sd-server logs beside it when OUT
# is set, else in .tmp/gpu-check/. Every step is time-limited, and none starts when DEADLINE seconds
# from the start are near (570 with --image-only, so one device call stays under ten minutes); what
# was skipped says why. Progress goes to stderr with the seconds since the start.
#
# Packing (for a GPU machine with no Node.js and no internet, such as the lent device machine):
# `--pack` copies into .tmp/gpu/ (ignored by git; carry it) this machine's node binary (xz), the
# worker's dist/ with the runtime node_modules its `generate` needs (xz; the LLM/ONNX/whisper engines,
# Sentry, the npm ffmpeg and node-notifier are left out: too big to carry), and the vendored sd.cpp
# source. With --vulkan it also builds (or reuses) `SDCPP_BACKEND=vulkan npm run sdcpp:build` here and
# adds that build and Debian's libvulkan1 (the loader). It prints the size against the 64 MiB a call
# may carry. There, the script unpacks what that machine lacks into a temporary folder and uses it.
#
# Overrides: MODELS_DIR, SD_MODEL (a file, or SD_MODEL_URL), LLM_GGUF (or LLM_URL), WHISPER_MODEL
# (or WHISPER_URL), TTS_DIR (an unpacked sherpa-onnx voice, or TTS_URL), SD_CLI (use this sd-cli
# instead of building or installing), SDCPP_BACKEND (cuda, vulkan or cpu: that one only),
# SDCPP_CUDA_ARCH (default 90), SDCPP_CMAKE_ARGS (replaces -DGGML_CUDA_FA=OFF), SD_WIDTH / SD_HEIGHT /
# SD_STEPS (default 512, 512, 20), STREAM_MODEL_DIR (an unpacked sherpa-onnx streaming transducer:
# *encoder*.onnx, *decoder*.onnx, *joiner*.onnx, tokens.txt), STREAM_WAV (a PCM16 WAV to stream;
# default the TTS job's speech), TIMEOUT (per job, default 900 s), BUILD_TIMEOUT (default 450 s),
# DEADLINE, OFFLINE=1 (no download attempts), GPU_PACK (default .tmp/gpu).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
root="$PWD"

mode=full
pack_vulkan=0
for arg in "$@"; do
  case "$arg" in
    --image-only) mode=image ;;
    --pack) mode=pack ;;
    --vulkan) pack_vulkan=1 ;;
    -h | --help)
      sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "gpu-check: unknown argument $arg (see --help)" >&2
      exit 2
      ;;
  esac
done

pack_dir="${GPU_PACK:-.tmp/gpu}"
# One device call is 10 minutes: --image-only is made to fit one; the whole check takes what it takes.
deadline="${DEADLINE:-$([ "$mode" = image ] && echo 570 || echo 3600)}"
# Seconds left before the deadline, less a reserve for what follows a step.
left() { echo $((deadline - SECONDS - ${1:-0})); }
min() { if [ "$1" -lt "$2" ]; then echo "$1"; else echo "$2"; fi; }
secs() { awk "BEGIN {printf \"%.1f\", $2 - $1}"; }
now() { date +%s.%N; }
# The binary size limit of what a device call carries, and what the working tree takes of it.
CARRY_LIMIT=$((64 * 1024 * 1024))

# --- Packing, on a machine with Node.js and the vendored source ---------------------------------

# The runtime packages `studio-worker generate` needs, from package.json down, without the engines
# too big to carry (node-llama-cpp, ONNX Runtime, sherpa-onnx, whisper.node), Sentry (loaded only
# with a DSN), ffmpeg's npm binary (PATH is used instead) and node-notifier (the dashboard's).
runtime_modules() {
  node --input-type=module - "$root" <<'EOF'
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
const root = process.argv[2];
const skip = new Set(['node-llama-cpp', 'onnxruntime-node', 'sherpa-onnx-node', '@fugood/whisper.node',
  '@sentry/node', '@ffmpeg-installer/ffmpeg', 'node-notifier']);
const seen = new Set();
const find = (from, name) => {
  for (let d = from; ; d = dirname(d)) {
    const c = join(d, 'node_modules', name);
    if (existsSync(join(c, 'package.json'))) return c;
    if (d === root || d === dirname(d)) return undefined;
  }
};
const walk = (dir) => {
  if (seen.has(dir)) return;
  seen.add(dir);
  const p = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  for (const name of Object.keys({ ...p.dependencies, ...p.optionalDependencies })) {
    if (skip.has(name)) continue;
    const found = find(dir, name);
    if (found) walk(found);
  }
};
walk(root);
const dirs = [...seen].filter((d) => d !== root).map((d) => relative(root, d)).sort();
// A package inside another one's folder travels with it.
console.log(dirs.filter((d) => !dirs.some((o) => o !== d && d.startsWith(`${o}/`))).join('\n'));
EOF
}

pack() {
  command -v node >/dev/null || { echo "gpu-check --pack: needs node on this machine" >&2; exit 2; }
  [ -f dist/cli/main.js ] || { echo "gpu-check --pack: run \`npm run build\` first (dist/ missing)" >&2; exit 2; }
  local src
  src="$(node --input-type=module -e "const l = await import('$root/scripts/sdcpp-lib.mjs'); console.log(l.sdcppSource() ?? '')")"
  [ -n "$src" ] || { echo "gpu-check --pack: the vendored stable-diffusion.cpp source is absent (../shared/vendor or SDCPP_SOURCE)" >&2; exit 2; }
  rm -rf "$pack_dir" && mkdir -p "$pack_dir"
  echo "packing into $pack_dir"
  cp "$src" "$pack_dir/"
  echo "- $(basename "$src") (the vendored source)"
  xz -T0 -6 -c "$(readlink -f "$(command -v node)")" >"$pack_dir/node.xz"
  echo "- node.xz ($(node --version), this machine's node binary)"
  local list
  list="$(runtime_modules)" || { echo "gpu-check --pack: could not list the runtime packages" >&2; exit 5; }
  # shellcheck disable=SC2086 # one package folder a line, no spaces in npm names
  tar -cf - dist package.json $list | xz -T0 -6 >"$pack_dir/worker.tar.xz"
  echo "- worker.tar.xz (dist/ and $(printf '%s\n' "$list" | wc -l) runtime package folders)"
  if [ "$pack_vulkan" = 1 ]; then
    echo "- the Vulkan build (SDCPP_BACKEND=vulkan npm run sdcpp:build; made here first if missing: minutes)"
    local bin dir
    bin="$(SDCPP_BACKEND=vulkan node scripts/sdcpp-build.mjs)" || { echo "gpu-check --pack: the Vulkan build failed" >&2; exit 5; }
    dir="$(dirname "$bin")"
    tar -C "$(dirname "$dir")" -cf - "$(basename "$dir")/bin" "$(basename "$dir")/built" | xz -T0 -6 >"$pack_dir/sdcpp-vulkan.tar.xz"
    echo "  sdcpp-vulkan.tar.xz: sd-server $(stat -c %s "$bin/sd-server") bytes, sd-cli $(stat -c %s "$bin/sd-cli") bytes unpacked"
    mkdir -p "$pack_dir/debs"
    if (cd "$pack_dir/debs" && apt-get download libvulkan1 >/dev/null 2>&1); then
      echo "  debs/$(ls "$pack_dir/debs") (the Vulkan loader, unpacked there only where ldconfig lacks libvulkan.so.1)"
    else
      echo "  (apt-get download libvulkan1 failed: the GPU machine must have its own Vulkan loader)"
    fi
  fi
  local tree packed
  tree="$(git ls-files -z --cached --others --exclude-standard | du -cb --files0-from=- 2>/dev/null | tail -n 1 | cut -f1)"
  packed="$(du -cb "$pack_dir" | tail -n 1 | cut -f1)"
  echo ""
  echo "$pack_dir: $packed bytes; the working tree: $tree bytes; together $((packed + tree)) of $CARRY_LIMIT"
  if [ $((packed + tree)) -gt "$CARRY_LIMIT" ]; then
    echo "TOO BIG to carry in one call: leave something out (--vulkan adds the most)" >&2
    exit 6
  fi
  echo "On the GPU machine (the device tool's run, with carry [\"$pack_dir\"], timeout_s 600):"
  echo "  OUT=\$OUT bash scripts/gpu-check.sh --image-only"
  exit 0
}

[ "$mode" = pack ] && pack

# --- The check ------------------------------------------------------------------------------------

out="${OUT:-.}/gpu-run.md"
logs="${OUT:-.tmp/gpu-check}"
models="${MODELS_DIR:-$HOME/.cache/studio-worker-gpu-check}"
timeout_s="${TIMEOUT:-900}"
width="${SD_WIDTH:-512}" height="${SD_HEIGHT:-512}" steps="${SD_STEPS:-20}"
cfg="$(mktemp -d)"
trap 'rm -rf "$cfg"' EXIT
mkdir -p "$models" "$logs"
: >"$logs/sdcpp-build.log"
log() { printf '%s\n' "$*" | tee -a "$out"; }
# Progress goes to the terminal only (it is not part of the record).
say() { printf '[%4ds] %s\n' "$SECONDS" "$*" >&2; }
timings=()

SD_MODEL_URL="${SD_MODEL_URL:-https://huggingface.co/second-state/stable-diffusion-v1-5-GGUF/resolve/main/stable-diffusion-v1-5-pruned-emaonly-Q4_0.gguf}"
LLM_URL="${LLM_URL:-https://huggingface.co/bartowski/SmolLM2-135M-Instruct-GGUF/resolve/main/SmolLM2-135M-Instruct-Q8_0.gguf}"
WHISPER_URL="${WHISPER_URL:-https://huggingface.co/ggerganov/whisper.cpp/resolve/main/ggml-tiny.en.bin}"
TTS_URL="${TTS_URL:-https://github.com/k2-fsa/sherpa-onnx/releases/download/tts-models/vits-piper-en_US-amy-low.tar.bz2}"

# Is there internet at all? One short probe, so an offline machine does not wait on every download.
offline="${OFFLINE:-}"
if [ -z "$offline" ]; then
  if command -v curl >/dev/null && curl -fsS -o /dev/null -r 0-0 --connect-timeout 5 --max-time 10 "$WHISPER_URL" 2>/dev/null; then
    offline=0
  else
    offline=1
  fi
fi

# fetch <url> <file>: downloads unless the file is there; prints the path, or nothing on failure.
fetch() {
  local url="$1" file="$2"
  if [ ! -s "$file" ] && [ "$offline" != 1 ]; then
    curl -fsSL --retry 2 --connect-timeout 15 -o "$file.part" "$url" 2>>"$cfg/fetch.err" && mv "$file.part" "$file"
  fi
  [ -s "$file" ] && printf '%s' "$file"
}

# Without xz (a slim image), Python's lzma decompresses: for this script and for tar -J (the build's).
if ! command -v xz >/dev/null && command -v python3 >/dev/null; then
  mkdir -p "$cfg/shim"
  cat >"$cfg/shim/xz" <<'SHIM'
#!/bin/sh
# Decompression only (xz -d, -dc FILE, as tar -J asks), through Python's lzma.
exec python3 -c 'import lzma, shutil, sys
files = [a for a in sys.argv[1:] if not a.startswith("-")]
shutil.copyfileobj(lzma.open(files[0] if files else sys.stdin.buffer), sys.stdout.buffer)' "$@"
SHIM
  chmod +x "$cfg/shim/xz"
  export PATH="$PATH:$cfg/shim"
fi

# What a packed .tmp/gpu/ brings, used only where this machine lacks it.
unpacked="$cfg/unpacked"
if [ -d "$pack_dir" ]; then
  if ! command -v node >/dev/null && [ -f "$pack_dir/node.xz" ]; then
    mkdir -p "$unpacked/bin" && xz -dc "$pack_dir/node.xz" >"$unpacked/bin/node" && chmod +x "$unpacked/bin/node"
    export PATH="$unpacked/bin:$PATH"
    say "using the carried node ($(node --version 2>&1))"
  fi
  if [ ! -f dist/cli/main.js ] && [ -f "$pack_dir/worker.tar.xz" ]; then
    mkdir -p "$unpacked/app" && tar -xJf "$pack_dir/worker.tar.xz" -C "$unpacked/app"
    say "using the carried worker (dist/ and its runtime node_modules)"
  fi
  if [ -z "${SDCPP_SOURCE:-}" ] && ! ls ../shared/vendor/stable-diffusion.cpp-*.tar.xz >/dev/null 2>&1; then
    for f in "$pack_dir"/stable-diffusion.cpp-*.tar.xz; do
      [ -f "$f" ] && { [[ "$f" == /* ]] || f="$root/$f"; } && export SDCPP_SOURCE="$f"
    done
  fi
fi
app=.
[ -f "$unpacked/app/dist/cli/main.js" ] && app="$unpacked/app"

log "# GPU check, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
log ""
log '```'
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,memory.total,memory.free,driver_version,temperature.gpu,utilization.gpu --format=csv 2>&1 | tee -a "$out"
  nvidia-smi 2>/dev/null | grep -o 'CUDA Version: [0-9.]*' | tee -a "$out"
else
  log "nvidia-smi: absent (no NVIDIA driver here)"
fi
log "node: $(command -v node >/dev/null && node --version || echo absent)"
log "npm: $(command -v npm >/dev/null && npm --version || echo absent)"
log "ldconfig CUDA/cuDNN/Vulkan: $(ldconfig -p 2>/dev/null | grep -Eo 'lib(cudart|cublas|cudnn|vulkan)\.so\.[0-9]+' | sort -u | tr '\n' ' ')"
log "cpus: $(nproc), memory: $(free -g 2>/dev/null | awk '/Mem:/ {print $2 " GiB"}')"
log "internet: $([ "$offline" = 1 ] && echo "none (downloads skipped)" || echo yes)"
carried=""
[ -x "$unpacked/bin/node" ] && carried+="node "
[ "$app" != . ] && carried+="the worker (dist, node_modules) "
[ -n "$carried" ] && log "carried from $pack_dir: $carried"
log '```'

if ! command -v node >/dev/null; then
  log ""
  log "Skipped the jobs: no Node.js here. Run \`bash scripts/gpu-check.sh --pack\` where the project is built and carry $pack_dir."
  exit 0
fi

# --- stable-diffusion.cpp from the vendored source -----------------------------------------------

lib() { node --input-type=module -e "const l = await import('$root/scripts/sdcpp-lib.mjs'); $1"; }

# CMake and Ninja may come as Python packages (a CUDA image's) with their folders off PATH.
for tool in cmake ninja; do
  if ! command -v "$tool" >/dev/null && command -v python3 >/dev/null; then
    d="$(python3 -c "import $tool, os; print(getattr($tool, 'CMAKE_BIN_DIR', None) or getattr($tool, 'BIN_DIR', ''))" 2>/dev/null)"
    [ -n "$d" ] && [ -x "$d/$tool" ] && export PATH="$PATH:$d"
  fi
done

# build_sdcpp <backend>: builds or reuses; sets sd_bin. The full log goes to $logs/sdcpp-build.log,
# the terminal gets every 10 % of it.
sd_bin=""
build_sdcpp() {
  local backend="$1" limit rc start
  limit="$(min "${BUILD_TIMEOUT:-450}" "$(left 100)")"
  if [ "$limit" -lt 30 ]; then
    log "- build ($backend): skipped, ${limit} s left before the deadline"
    return 1
  fi
  # sd.cpp uses flash attention only when asked (--diffusion-fa, which the worker does not pass), so
  # its CUDA kernels are left out unless SDCPP_CMAKE_ARGS says otherwise: minutes less of nvcc.
  local extra="${SDCPP_CMAKE_ARGS-}"
  [ "$backend" = cuda ] && [ -z "${SDCPP_CMAKE_ARGS+set}" ] && extra="-DGGML_CUDA_FA=OFF"
  say "building sd.cpp for $backend (at most $limit s)"
  start=$(now)
  SDCPP_BACKEND="$backend" SDCPP_CUDA_ARCH="${SDCPP_CUDA_ARCH:-90}" SDCPP_CMAKE_ARGS="$extra" \
    timeout "$limit" node scripts/sdcpp-build.mjs \
    >"$cfg/bin.out" 2> >(tee -a "$logs/sdcpp-build.log" | while IFS= read -r line; do
      if [[ "$line" =~ ^\ \ \[\ *([0-9]+)%\] ]]; then p=${BASH_REMATCH[1]}
      elif [[ "$line" =~ ^\ \ \[([0-9]+)/([0-9]+)\] ]]; then p=$((100 * BASH_REMATCH[1] / BASH_REMATCH[2]))
      else say "  $line"; continue; fi
      if [ "$p" -ge "${shown:--10}" ]; then say "  $line"; shown=$((p + 10)); fi
    done)
  rc=$?
  sleep 0.2 # the progress filter's last lines
  if [ "$rc" = 0 ] && [ -x "$(tail -n 1 "$cfg/bin.out")/sd-server" ]; then
    sd_bin="$(tail -n 1 "$cfg/bin.out")"
    log "- build ($backend): ok in $(secs "$start" "$(now)") s — $(cat "$(dirname "$sd_bin")/built")"
    return 0
  fi
  local why
  why="$(grep -E 'sdcpp:build|Error|error:|not found|needs' "$logs/sdcpp-build.log" | tail -n 4 | tr '\n' ' ' | cut -c1-700)"
  [ "$rc" = 124 ] && why="stopped after $limit s (BUILD_TIMEOUT/DEADLINE) ${why}"
  log "- build ($backend): FAILED (exit $rc) — $why"
  return 1
}

# The backends to try, best first, each with the reason; SDCPP_BACKEND names one and only one.
candidates=()
reasons=()
nvcc="$(lib 'console.log(l.findNvcc() ?? "")' 2>/dev/null)"
vk_dir="$(SDCPP_BACKEND=vulkan lib 'console.log((await l.sdcppCacheDir()).dir)' 2>/dev/null)"
if [ -n "$vk_dir" ] && [ ! -f "$vk_dir/built" ] && [ -f "$pack_dir/sdcpp-vulkan.tar.xz" ]; then
  mkdir -p "$(dirname "$vk_dir")" && tar -xJf "$pack_dir/sdcpp-vulkan.tar.xz" -C "$(dirname "$vk_dir")"
  [ -f "$vk_dir/built" ] && say "unpacked the carried Vulkan build into $vk_dir"
fi
vk_loader=""
ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1' && vk_loader="ldconfig has libvulkan.so.1"
if [ -z "$vk_loader" ] && ls "$pack_dir"/debs/libvulkan1_*.deb >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  vk_loader="the carried libvulkan1 (unpacked into / when chosen)"
fi
# NVIDIA's Vulkan driver (its ICD file), or the one VK_DRIVER_FILES names. Mesa's ICDs do not count:
# lavapipe runs on the CPU (ggml skips it) and the others find no NVIDIA GPU.
vk_icd=""
for f in ${VK_DRIVER_FILES:-} /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd*.json \
  /etc/vulkan/icd.d/nvidia_icd*.json /usr/share/vulkan/icd.d/nvidia_icd*.json; do
  f="${f%%:*}"
  [ -f "$f" ] && vk_icd="$f" && break
done
if [ -n "${SDCPP_BACKEND:-}" ]; then
  candidates=("$SDCPP_BACKEND") reasons=("SDCPP_BACKEND=$SDCPP_BACKEND asked for it")
else
  if [ -n "$nvcc" ]; then
    how="without the flash-attention kernels (unused)"
    [ -n "${SDCPP_CMAKE_ARGS+set}" ] && how="with SDCPP_CMAKE_ARGS=${SDCPP_CMAKE_ARGS}"
    candidates+=(cuda) reasons+=("nvcc is here ($nvcc, $("$nvcc" --version 2>/dev/null | grep -o 'release [0-9.]*')); built for sm_${SDCPP_CUDA_ARCH:-90}, $how")
  fi
  if [ -n "$vk_dir" ] && [ -f "$vk_dir/built" ] && [ -n "$vk_loader" ] && [ -n "$vk_icd" ]; then
    candidates+=(vulkan) reasons+=("a Vulkan build is here ($vk_dir), a loader ($vk_loader) and a driver ($vk_icd)")
  fi
  candidates+=(cpu) reasons+=("the last resort, when no GPU build can be had (CPU timings, not GPU ones)")
fi
why_not=""
[ -z "$nvcc" ] && why_not+="no nvcc (not on PATH, CUDACXX or /usr/local/cuda*/bin); "
{ [ -z "$vk_dir" ] || [ ! -f "$vk_dir/built" ]; } && why_not+="no Vulkan build (carry one: --pack --vulkan); "
[ -z "$vk_loader" ] && why_not+="no Vulkan loader; "
[ -z "$vk_icd" ] && why_not+="no NVIDIA Vulkan driver (nvidia_icd.json; or set VK_DRIVER_FILES); "

log ""
log "## stable-diffusion.cpp ($([ -n "${SDCPP_SOURCE:-}" ] && basename "$SDCPP_SOURCE" || echo "../shared/vendor"))"
log ""
backend=""
if [ -n "${SD_CLI:-}" ]; then
  log "- sd-cli: SD_CLI=$SD_CLI (no build)"
elif [ "$mode" = full ] && [ "$offline" != 1 ] && [ -z "${SDCPP_BACKEND:-}" ]; then
  log "- no build: the worker installs its pinned release below (--image-only, OFFLINE=1 or SDCPP_BACKEND build here)"
else
  [ -n "$why_not" ] && [ -z "${SDCPP_BACKEND:-}" ] && log "- not available: ${why_not%; }"
  for i in "${!candidates[@]}"; do
    b="${candidates[$i]}"
    log "- trying $b: ${reasons[$i]}"
    if [ "$b" = vulkan ] && ! ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1'; then
      for f in "$pack_dir"/debs/*.deb; do [ -f "$f" ] && dpkg -x "$f" /; done
      ldconfig
    fi
    if [ "$b" = vulkan ] && [ -z "${VK_DRIVER_FILES:-}" ] && [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
      export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
      export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
    fi
    if build_sdcpp "$b"; then
      backend="$b"
      SD_CLI="$sd_bin/sd-cli"
      break
    fi
  done
fi

# The model: a real one when at hand, else the random-weight SD 1.x (generated, never downloaded).
sd_model="${SD_MODEL:-$(fetch "$SD_MODEL_URL" "$models/$(basename "$SD_MODEL_URL")")}"
model_kind="real"
if [ -z "$sd_model" ] && [ -n "$backend" ]; then
  limit="$(left 60)"
  if [ "$limit" -lt 20 ]; then
    log "- random-weight model: skipped, ${limit} s left"
  else
    say "writing the random-weight SD 1.x model (2.1 GB; at most $limit s)"
    start=$(now)
    if sd_model="$(SDCPP_BACKEND="$backend" timeout "$limit" node scripts/sdcpp-model.mjs 2>>"$logs/sdcpp-build.log")"; then
      model_kind="random weights"
      log "- random-weight SD 1.x model: ready in $(secs "$start" "$(now)") s ($(stat -c %s "$sd_model") bytes; its images are noise, its compute is real)"
    else
      sd_model=""
      log "- random-weight SD 1.x model: FAILED — $(tail -n 2 "$logs/sdcpp-build.log" | tr '\n' ' ' | cut -c1-400)"
    fi
  fi
fi
label="${model_kind}, ${width}×${height}, ${steps} steps"

# sd-server on its own: load, a cold and a warm /sdapi/v1/txt2img (what the worker adds is below).
if [ -n "${SD_CLI:-}" ] && [ -x "$(dirname "$SD_CLI")/sd-server" ] && [ -n "$sd_model" ]; then
  limit="$(left 45)"
  if [ "$limit" -lt 15 ]; then
    log "- sd-server directly: skipped, ${limit} s left"
  else
    say "sd-server directly (at most $limit s)"
    cat >"$cfg/direct.mjs" <<'EOF'
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { createServer } from 'node:net';
const [bin, model, width, height, steps, logPath] = process.argv.slice(2);
const port = await new Promise((ok) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const p = s.address().port;
    s.close(() => ok(p));
  });
});
const logFile = createWriteStream(logPath);
const t0 = performance.now();
const child = spawn(bin, ['-m', model, '--listen-ip', '127.0.0.1', '--listen-port', String(port)], {
  stdio: ['ignore', 'pipe', 'pipe'],
});
child.stdout.pipe(logFile, { end: false });
child.stderr.pipe(logFile, { end: false });
let exit;
child.on('close', (code, signal) => (exit = `exit ${code ?? signal}`));
const base = `http://127.0.0.1:${port}`;
while (!exit) {
  try {
    const r = await fetch(`${base}/`, { signal: AbortSignal.timeout(2000) });
    await r.body?.cancel();
    if (r.status < 500) break;
  } catch {}
  await new Promise((r) => setTimeout(r, 100));
}
if (exit) {
  console.log(`FAILED: sd-server did not start (${exit})`);
  process.exit(1);
}
const load = (performance.now() - t0) / 1000;
const body = JSON.stringify({ prompt: 'a lighthouse at dusk, oil painting', negative_prompt: '',
  width: Number(width), height: Number(height), steps: Number(steps), cfg_scale: 7, seed: 42, batch_size: 1 });
const job = async () => {
  const t = performance.now();
  const r = await fetch(`${base}/sdapi/v1/txt2img`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  const text = await r.text();
  const s = (performance.now() - t) / 1000;
  if (!r.ok) throw new Error(`HTTP ${r.status}: ${text.slice(0, 300)}`);
  const png = Buffer.from(JSON.parse(text).images[0].replace(/^data:[^,]*,/, ''), 'base64');
  const isPng = png.subarray(1, 4).toString() === 'PNG';
  return { s, image: isPng ? `PNG ${png.readUInt32BE(16)}×${png.readUInt32BE(20)}` : `${png.length} bytes, not PNG` };
};
try {
  const cold = await job();
  const warm = await job();
  const smi = spawnSync('nvidia-smi', ['--query-gpu=memory.used', '--format=csv,noheader'], { encoding: 'utf8' });
  console.log(JSON.stringify({ load: load.toFixed(1), cold: cold.s.toFixed(1), warm: warm.s.toFixed(1),
    total: (load + cold.s).toFixed(1), image: cold.image, gpuMemory: smi.status === 0 ? smi.stdout.trim() : 'n/a' }));
} catch (e) {
  console.log(`FAILED: ${e.message}`);
  process.exitCode = 1;
} finally {
  child.kill('SIGTERM');
}
EOF
    res="$(timeout "$limit" node "$cfg/direct.mjs" "$(dirname "$SD_CLI")/sd-server" "$sd_model" "$width" "$height" "$steps" "$logs/sd-server.log")"
    if [[ "$res" == \{* ]]; then
      j() { node -e 'console.log(JSON.parse(process.argv[1])[process.argv[2]])' "$res" "$1"; }
      log "- sd-server directly ($label): loaded in $(j load) s; txt2img cold $(j cold) s, warm $(j warm) s; $(j image); GPU memory in use: $(j gpuMemory)"
      timings+=("| sd-server directly | ${backend:-SD_CLI} | $label | $(j load) s | $(j cold) s ($(j total) s from start) | $(j warm) s |")
    else
      log "- sd-server directly ($label): ${res:-FAILED (stopped after $limit s)} — $(tail -n 2 "$logs/sd-server.log" | tr '\n' ' ' | cut -c1-300)"
    fi
    # What sd.cpp says it ran on (its own words); a GPU build that names no device ran on the CPU.
    grep -aiE 'ggml_cuda_init|ggml_vulkan|found [0-9]+ .* devices|Device [0-9]+:|total params memory size' "$logs/sd-server.log" 2>/dev/null |
      awk '!seen[$0]++' | head -n 6 | cut -c1-300 | sed 's/^/  - sd.cpp: /' | tee -a "$out"
    if [ -n "$backend" ] && [ "$backend" != cpu ] && ! grep -aq 'total params memory size.*(VRAM [1-9]' "$logs/sd-server.log" 2>/dev/null; then
      log "  - WARNING: sd.cpp put no weights in VRAM (its 'total params memory size' line): these are CPU timings (see sd-server.log)"
    fi
  fi
fi

# --- Jobs through the worker --------------------------------------------------------------------

if [ ! -f "$app/dist/cli/main.js" ]; then
  log ""
  log "Skipped the worker's jobs: run \`npm install && npm run build\` on this machine first, or carry them (\`--pack\`)."
  exit 0
fi

# Each job gets at most TIMEOUT, and never past the deadline.
sw() { LOG_LEVEL=warn timeout "$(min "$timeout_s" "$(left 15)")" node "$app/dist/cli/main.js" --config-dir "$cfg" "$@"; }
printf 'gpu_offload = true\nmodels_root = "%s/models"\n' "$cfg" >"$cfg/config.toml"

# run_job <label> <generate arguments...>: one line per run, with the worker's own timing.
run_job() {
  local label="$1"; shift
  local start end
  if [ "$(left 30)" -lt 10 ]; then
    log "- $label: skipped, the deadline is near"
    return 1
  fi
  say "$label"
  start=$(now)
  if sw generate "$@" >"$cfg/job.out" 2>"$cfg/job.err"; then
    end=$(now)
    log "- $label: ok, $(secs "$start" "$end") s wall"
    sed 's/^/  - /' "$cfg/job.out" | tee -a "$out"
  else
    log "- $label: FAILED — $(tail -n 3 "$cfg/job.err" | tr '\n' ' ')"
    return 1
  fi
}
# The worker's "in N ms" of run N of the last job, in seconds.
run_secs() { grep -o "run $1/[0-9]*).* in [0-9]* ms" "$cfg/job.out" | grep -o '[0-9]* ms' | awk '{printf "%.1f", $1 / 1000}'; }

log ""
log "## Jobs"

if [ "$mode" = full ]; then
  # Text to speech first: its WAV is the speech-to-text job's input.
  tts_dir="${TTS_DIR:-}"
  if [ -z "$tts_dir" ] && archive=$(fetch "$TTS_URL" "$models/tts.tar.bz2"); then
    tar -xjf "$archive" -C "$models" 2>/dev/null
    tts_dir="$(find "$models" -maxdepth 1 -type d -name 'vits-piper-*' | head -n 1)"
  fi
  speech=""
  if [ -n "$tts_dir" ] && [ -f "$tts_dir/tokens.txt" ]; then
    onnx="$(find "$tts_dir" -maxdepth 1 -name '*.onnx' | head -n 1)"
    run_job "audio_tts on sherpa-onnx ($(basename "$onnx"))" --kind audio_tts --engine onnx \
      --file "model=$onnx" --file "model=$tts_dir/tokens.txt" \
      --text "The quick brown fox jumps over the lazy dog." --ext wav -o "$cfg/speech.wav"
    [ -s "$cfg/speech.wav" ] && speech="$cfg/speech.wav"
  else
    log "- audio_tts: skipped, no sherpa-onnx voice (set TTS_DIR, or allow downloads from $TTS_URL)"
  fi

  whisper="${WHISPER_MODEL:-$(fetch "$WHISPER_URL" "$models/ggml-tiny.en.bin")}"
  if [ -n "$whisper" ] && [ -n "$speech" ]; then
    run_job "audio_stt on whisper.cpp ($(basename "$whisper")), cold then warm" --kind audio_stt --engine onnx \
      --file "model=$whisper" --input-url "$speech" --repeat 2 -o "$cfg/stt.json"
    log "  - transcript: $(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")).text)' "$cfg/stt.json" 2>/dev/null)"
  else
    log "- audio_stt: skipped (${whisper:+no speech from the TTS job}${whisper:-no whisper model: set WHISPER_MODEL or allow downloads})"
  fi

  # Streaming speech to text through the stream listener, on a model already here: none is downloaded.
  stream_dir="${STREAM_MODEL_DIR:-}"
  if [ -z "$stream_dir" ] || [ ! -d "$stream_dir" ]; then
    log "- streaming speech: skipped, no streaming model (set STREAM_MODEL_DIR to an unpacked sherpa-onnx streaming transducer; none is downloaded)"
  elif [ "$(left 30)" -lt 10 ]; then
    log "- streaming speech: skipped, the deadline is near"
  else
    limit="$(min "$timeout_s" "$(left 15)")"
    stream_wav="${STREAM_WAV:-${speech:--}}"
    say "streaming speech on sherpa-onnx ($(basename "$stream_dir"), at most $limit s)"
    res="$(LOG_LEVEL=warn timeout "$limit" node scripts/stream-check.mjs "$app" "$stream_dir" "$stream_wav" "$cfg/stream" 2>"$cfg/stream.err")"
    if [[ "$res" == \{* ]]; then
      j() { node -e 'const v = JSON.parse(process.argv[1])[process.argv[2]]; console.log(v ?? "n/a")' "$res" "$1"; }
      if [ "$stream_wav" = - ]; then
        log "- streaming speech ($(basename "$stream_dir")): loaded in $(j load) s; nothing streamed (no speech: set STREAM_WAV or let the TTS job make one)"
      else
        log "- streaming speech ($(basename "$stream_dir"), CPU): loaded in $(j load) s; $(j audio) s of audio streamed in $(j stream) s, first partial after $(j firstPartialMs) ms, $(j partials) partials"
        log "  - final: $(j final)"
      fi
    else
      log "- streaming speech ($(basename "$stream_dir")): ${res:-FAILED (stopped after $limit s)} — $(tail -n 3 "$cfg/stream.err" | tr '\n' ' ' | cut -c1-300)"
    fi
  fi

  llm="${LLM_GGUF:-$(fetch "$LLM_URL" "$models/$(basename "$LLM_URL")")}"
  [ -z "$llm" ] && [ -f ../shared/models/stories260K.gguf ] && llm=../shared/models/stories260K.gguf
  if [ -n "$llm" ]; then
    run_job "llm, GPU offload, $(basename "$llm"), cold then warm" --kind llm --engine llama-cpp --file "model=$llm" \
      --message "user:Write one sentence about lighthouses." --max-tokens 64 --repeat 2 -o "$cfg/llm.json"
  else
    log "- llm: skipped, no GGUF (set LLM_GGUF or allow downloads)"
  fi
fi

if [ -n "${SD_CLI:-}" ]; then
  printf 'sd_cli_path = "%s"\n' "$SD_CLI" >>"$cfg/config.toml"
  log "- sd-cpp: using $SD_CLI${backend:+ (built here for $backend)}"
elif [ "$offline" = 1 ]; then
  log "- engines install sd-cpp: skipped, no internet and no build of its own (see above)"
else
  start=$(now)
  if sw engines install sd-cpp >"$cfg/install.out" 2>"$cfg/install.err"; then
    log "- engines install sd-cpp: ok in $(secs "$start" "$(now)") s — $(tail -n 2 "$cfg/install.out" | tr '\n' ' ')"
  else
    log "- engines install sd-cpp: FAILED — $(tail -n 2 "$cfg/install.err" | tr '\n' ' ')"
  fi
fi
if [ -n "$sd_model" ]; then
  image=(--kind image --engine sd-cpp --file "model=$sd_model" --prompt "a lighthouse at dusk, oil painting"
    --width "$width" --height "$height" --steps "$steps" --seed 42 --repeat 2)
  if run_job "image on sd-server ($(basename "$sd_model"), $label), cold then warm" "${image[@]}" -o "$cfg/image-server.png"; then
    timings+=("| worker → sd-server (\`generate --repeat 2\`) | ${backend:-installed} | $label | in the cold job | $(run_secs 1) s | $(run_secs 2) s |")
  fi
  printf 'image_idle_unload_secs = 0\n' >>"$cfg/config.toml"
  if run_job "image on sd-cli per job ($(basename "$sd_model"), $label), twice" "${image[@]}" -o "$cfg/image-cli.png"; then
    timings+=("| worker → sd-cli per job | ${backend:-installed} | $label | in every job | $(run_secs 1) s | $(run_secs 2) s |")
  fi
else
  log "- image: skipped, no stable-diffusion model (set SD_MODEL, allow downloads from $SD_MODEL_URL, or let the build above write the random one)"
fi

if [ "${#timings[@]}" -gt 0 ]; then
  log ""
  log "## Image timings"
  log ""
  log "| path | backend | model, size, steps | load | first image (cold) | second image (warm) |"
  log "| --- | --- | --- | --- | --- | --- |"
  for row in "${timings[@]}"; do log "$row"; done
fi

log ""
log "## Engines"
log '```'
limit="$(min 90 "$(left 5)")"
if [ "$limit" -ge 10 ]; then
  LOG_LEVEL=warn timeout "$limit" node "$app/dist/cli/main.js" --config-dir "$cfg" engines >"$cfg/engines.out" 2>&1
  rc=$?
  tee -a "$out" <"$cfg/engines.out"
  [ "$rc" != 0 ] && log "(engines: exit $rc$([ "$rc" = 124 ] && echo ", no answer within $limit s"))"
else
  log "(engines: skipped, the deadline is near)"
fi
log '```'
[ -s "$cfg/fetch.err" ] && log "" && log "Downloads that failed: $(sort -u "$cfg/fetch.err" | head -n 3 | tr '\n' ' ')"
say "done in $SECONDS s; the record is $out"
exit 0
