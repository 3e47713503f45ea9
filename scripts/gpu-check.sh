#!/usr/bin/env bash
# Real-GPU check of this worker, for a machine with an NVIDIA GPU (never run by CI or `npm test`).
#
# It records the machine (GPU, driver, CUDA, Node), then runs what can run there through
# `studio-worker generate` with timings:
#   - one llm job with GPU offload on a small GGUF (MODEL_GGUF, default ../shared/models/stories260K.gguf);
#   - one image job on sd-cli when SD_CLI and SD_MODEL point at a build and a model (cold, then warm).
# Results go to ${OUT:-.}/gpu-run.md (append it to docs/gpu-runs.md). Needs `npm install && npm run build`
# done on that machine (node_modules cannot be copied over), and models on disk: it downloads nothing.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-.}/gpu-run.md"
model="${MODEL_GGUF:-../shared/models/stories260K.gguf}"
cfg="$(mktemp -d)"
log() { printf '%s\n' "$*" | tee -a "$out"; }

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
log "ldconfig CUDA/cuDNN: $(ldconfig -p 2>/dev/null | grep -Eo 'lib(cudart|cublas|cudnn)\.so\.[0-9]+' | sort -u | tr '\n' ' ')"
log "cpus: $(nproc), memory: $(free -g 2>/dev/null | awk '/Mem:/ {print $2 " GiB"}')"
log '```'

if [ ! -f dist/cli/main.js ] || [ ! -d node_modules/node-llama-cpp ]; then
  log ""
  log "Skipped the jobs: run \`npm install && npm run build\` on this machine first (dist/ or node_modules/ missing)."
  exit 0
fi

printf 'gpu_offload = true\nmodels_root = "%s/models"\n' "$cfg" > "$cfg/config.toml"
run_job() { # label, then generate's arguments
  local label="$1"; shift
  local start end
  start=$(date +%s.%N)
  if LOG_LEVEL=warn node dist/cli/main.js --config-dir "$cfg" generate "$@" >"$cfg/job.out" 2>"$cfg/job.err"; then
    end=$(date +%s.%N)
    log "- $label: ok in $(awk "BEGIN {printf \"%.1f\", $end - $start}") s — $(tail -n 1 "$cfg/job.out")"
  else
    log "- $label: FAILED — $(tail -n 3 "$cfg/job.err" | tr '\n' ' ')"
  fi
}

log ""
log "## Jobs"
if [ -f "$model" ]; then
  run_job "llm, GPU offload, $(basename "$model")" --kind llm --engine llama-cpp --file "model=$model" \
    --message "user:Once upon a time" --max-tokens 64 -o "$cfg/llm.json"
else
  log "- llm: skipped, no GGUF at $model (set MODEL_GGUF)"
fi
if [ -n "${SD_CLI:-}" ] && [ -n "${SD_MODEL:-}" ]; then
  printf 'sd_cli_path = "%s"\n' "$SD_CLI" >> "$cfg/config.toml"
  for pass in cold warm; do
    run_job "image on sd-cli ($pass)" --kind image --engine sd-cpp --file "model=$SD_MODEL" \
      --prompt "a lighthouse at dusk" --width 512 --height 512 --steps 4 -o "$cfg/image-$pass.png"
  done
else
  log "- image on sd-cli: skipped (set SD_CLI and SD_MODEL to a build and a model on this machine)"
fi
rm -rf "$cfg"
