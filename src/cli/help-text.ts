// The long help texts, kept out of the command table so it reads as a table.

export const EXIT_CODES = `
Exit codes:
  0  success (or a clean stop after SIGINT/SIGTERM)
  1  internal error (a bug: please report it)
  2  usage or input error (bad flag, corrupt config: the message names the file, line and key)
  3  the studio refused this worker (registration rejected, 401 / close 4001, 4003, 4004)
  4  the studio session was lost and ws_reconnect_attempts (N > 0) attempts in a row failed
  5  a check failed (the demo saw a job fail or a result that does not decode)
  6  this machine refused: disk full, permission denied, a folder that does not exist
  7  another worker already runs on this config folder (run or ui; --wait-for-lock waits for it)
  130  stopped at once by a second Ctrl+C (or SIGTERM)

Environment:
  STUDIO_WORKER_CONFIG_DIR  config folder (same as --config-dir)
  LOG_LEVEL                 trace | debug | info | warn | error (same as --log-level)
  SENTRY_DSN                report errors and crashes to Sentry (off when unset; no secrets or prompts sent)
`;

export const GENERATE_EXAMPLES = `
Examples:
  # an image on the synthetic engine (no model needed)
  studio-worker generate --kind image --engine synthetic --prompt "a red fox" --width 256 --height 256 -o fox.webp
  # chat with a GGUF model through llama.cpp (downloaded into models_root first)
  studio-worker generate --kind llm --engine llama-cpp --file model=https://host/stories260K.gguf \\
    --message "user:Tell me a story" --max-tokens 64
  # the same with a GGUF already on disk (used in place; a file: URL works too)
  studio-worker generate --kind llm --engine llama-cpp --file model=./stories260K.gguf --message "Tell me a story"
  # an image on stable-diffusion.cpp
  studio-worker generate --kind image --engine sd-cpp --file diffusion-model=https://host/flux.gguf \\
    --file vae=https://host/ae.safetensors --file text-encoder=https://host/t5xxl.gguf --prompt "a lighthouse"
  # twice in one process: the second run reuses the loaded model (warm sd-server), so it shows the warm time
  studio-worker generate --kind image --engine sd-cpp --file model=./sd-v1-5-q4_0.gguf --prompt "a fox" --repeat 2
  # the same job, enqueued on a running dev studio instead of run here
  studio-worker generate --kind image --engine synthetic --prompt "a red fox" --enqueue http://127.0.0.1:8787/
  # any task as JSON (the contract's task object)
  studio-worker generate --engine synthetic --kind llm --task '{"kind":"llm","messages":[{"role":"user","content":"hi"}]}'
`;
