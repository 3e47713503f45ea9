#!/usr/bin/env bash
# Real-GPU check of this worker, for a machine with an NVIDIA GPU (never run by CI or `npm test`).
#
# It records the machine (GPU, driver, CUDA, Node), fetches small public models into MODELS_DIR
# (skipping any already there, or any whose variable points at a file), then runs real jobs
# through `studio-worker generate` with timings:
#   - image on stable-diffusion.cpp: the worker installs its pinned release itself (engines install
#     sd-cpp), then one cold and one warm job through sd-server (`--repeat 2`: one process, so the
#     second job reuses the loaded model), and the same on sd-cli alone (image_idle_unload_secs = 0);
#   - llm with GPU offload (a small instruct GGUF; stories260K from ../shared/models when offline);
#   - speech to text on whisper.cpp (ggml tiny.en) of speech made by the TTS job;
#   - text to speech on sherpa-onnx (a Piper voice).
# Then `engines` (what each engine runs on here). Results go to ${OUT:-.}/gpu-run.md; append that to
# docs/gpu-runs.md. Needs `npm install && npm run build` on that machine (node_modules cannot be
# copied over). A machine without internet access runs what its local files allow and says why
# the rest was skipped.
#
# Overrides: MODELS_DIR, SD_MODEL (a file, or SD_MODEL_URL), LLM_GGUF (or LLM_URL), WHISPER_MODEL
# (or WHISPER_URL), TTS_DIR (an unpacked sherpa-onnx voice, or TTS_URL), SD_CLI (use this sd-cli
# instead of installing), TIMEOUT (per job, default 900 s).
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-.}/gpu-run.md"
models="${MODELS_DIR:-$HOME/.cache/studio-worker-gpu-check}"
timeout_s="${TIMEOUT:-900}"
cfg="$(mktemp -d)"
trap 'rm -rf "$cfg"' EXIT
mkdir -p "$models"
log() { printf '%s\n' "$*" | tee -a "$out"; }

SD_MODEL_URL="${SD_MODEL_URL:-https://huggingface.co/second-state/stable-diffusion-v1-5-GGUF/resolve/main/stable-diffusion-v1-5-pruned-emaonly-Q4_0.gguf}"
LLM_URL="${LLM_URL:-https://huggingface.co/bartowski/SmolLM2-135M-Instruct-GGUF/resolve/main/SmolLM2-135M-Instruct-Q8_0.gguf}"
WHISPER_URL="${WHISPER_URL:-https://huggingface.co/ggerganov/whisper.cpp/resolve/main/ggml-tiny.en.bin}"
TTS_URL="${TTS_URL:-https://github.com/k2-fsa/sherpa-onnx/releases/download/tts-models/vits-piper-en_US-amy-low.tar.bz2}"

# fetch <url> <file>: downloads unless the file is there; prints the path, or nothing on failure.
fetch() {
  local url="$1" file="$2"
  if [ ! -s "$file" ]; then
    curl -fsSL --retry 2 --connect-timeout 15 -o "$file.part" "$url" 2>>"$cfg/fetch.err" && mv "$file.part" "$file"
  fi
  [ -s "$file" ] && printf '%s' "$file"
}

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
log '```'

if [ ! -f dist/cli/main.js ]; then
  log ""
  log "Skipped the jobs: run \`npm install && npm run build\` on this machine first (dist/ missing)."
  exit 0
fi

sw() { LOG_LEVEL=warn timeout "$timeout_s" node dist/cli/main.js --config-dir "$cfg" "$@"; }
printf 'gpu_offload = true\nmodels_root = "%s/models"\n' "$cfg" > "$cfg/config.toml"

# run_job <label> <generate arguments...>: one line per run, with the worker's own timing.
run_job() {
  local label="$1"; shift
  local start end
  start=$(date +%s.%N)
  if sw generate "$@" >"$cfg/job.out" 2>"$cfg/job.err"; then
    end=$(date +%s.%N)
    log "- $label: ok, $(awk "BEGIN {printf \"%.1f\", $end - $start}") s wall"
    sed 's/^/  - /' "$cfg/job.out" | tee -a "$out" >/dev/null
  else
    log "- $label: FAILED — $(tail -n 3 "$cfg/job.err" | tr '\n' ' ')"
  fi
}

log ""
log "## Jobs"

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

llm="${LLM_GGUF:-$(fetch "$LLM_URL" "$models/$(basename "$LLM_URL")")}"
[ -z "$llm" ] && [ -f ../shared/models/stories260K.gguf ] && llm=../shared/models/stories260K.gguf
if [ -n "$llm" ]; then
  run_job "llm, GPU offload, $(basename "$llm"), cold then warm" --kind llm --engine llama-cpp --file "model=$llm" \
    --message "user:Write one sentence about lighthouses." --max-tokens 64 --repeat 2 -o "$cfg/llm.json"
else
  log "- llm: skipped, no GGUF (set LLM_GGUF or allow downloads)"
fi

sd_model="${SD_MODEL:-$(fetch "$SD_MODEL_URL" "$models/$(basename "$SD_MODEL_URL")")}"
if [ -n "${SD_CLI:-}" ]; then
  printf 'sd_cli_path = "%s"\n' "$SD_CLI" >> "$cfg/config.toml"
  log "- sd-cpp: using SD_CLI=$SD_CLI"
else
  start=$(date +%s.%N)
  if sw engines install sd-cpp >"$cfg/install.out" 2>"$cfg/install.err"; then
    end=$(date +%s.%N)
    log "- engines install sd-cpp: ok in $(awk "BEGIN {printf \"%.1f\", $end - $start}") s — $(tail -n 2 "$cfg/install.out" | tr '\n' ' ')"
  else
    log "- engines install sd-cpp: FAILED — $(tail -n 2 "$cfg/install.err" | tr '\n' ' ')"
  fi
fi
if [ -n "$sd_model" ]; then
  image=(--kind image --engine sd-cpp --file "model=$sd_model" --prompt "a lighthouse at dusk, oil painting"
    --width 512 --height 512 --steps 20 --seed 42 --repeat 2)
  run_job "image on sd-server ($(basename "$sd_model")), cold then warm" "${image[@]}" -o "$cfg/image-server.png"
  printf 'image_idle_unload_secs = 0\n' >> "$cfg/config.toml"
  run_job "image on sd-cli per job ($(basename "$sd_model")), twice" "${image[@]}" -o "$cfg/image-cli.png"
else
  log "- image: skipped, no stable-diffusion model (set SD_MODEL or allow downloads from $SD_MODEL_URL)"
fi

log ""
log "## Engines"
log '```'
sw engines 2>&1 | tee -a "$out" >/dev/null
log '```'
[ -s "$cfg/fetch.err" ] && log "" && log "Downloads that failed: $(sort -u "$cfg/fetch.err" | head -n 3 | tr '\n' ' ')"
exit 0
