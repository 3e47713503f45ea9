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

export const TRANSCRIBE_HELP = `
Examples:
  # a WAV file, on a streaming model of the worker running here (run, ui or serve)
  studio-worker transcribe --stream speech.wav --model parakeet-eou-120m
  # the microphone, live (Linux); stop talking and the final comes after 1.5 s of silence
  arecord -f S16_LE -r 16000 -c 1 | studio-worker transcribe --stream - --model <id>
  # another machine's listener, with a token minted there (POST /stream-tokens on its local API)
  studio-worker transcribe --stream speech.wav --url "ws://192.168.1.20:4798/transcribe?token=$TOKEN"
  # other audio: convert it first
  ffmpeg -i in.mp3 -ar 16000 -ac 1 -c:a pcm_s16le out.wav
  # the final alone, for a script
  studio-worker transcribe --stream speech.wav --model <id> --json | jq -r 'select(.final) | .text'

\`--stream -\` reads raw 16 kHz mono s16le PCM on stdin (no WAV header), as arecord or
\`ffmpeg -f s16le -\` write it. The audio goes out in 100 ms frames, then \`end\`; partial
transcripts print as they grow (one rewritten line on a terminal, a line each otherwise), then the
final. A stream is one utterance: after speech, 1.5 s of silence ends it by itself. With --model
the token is minted through the local API named in local-api.json beside config.toml (so
--config-dir picks the worker).

Exit codes:
  0    the final transcript was printed
  2    input or target to fix: audio that is not 16 kHz mono s16le, no worker running here, an
       unknown or non-streaming model, a token (401) or path (404) the listener refused
  5    the stream failed: the listener's error (model not loaded, busy, transcription failed),
       a close before the final, or a stream listener that is down
  6    the WAV file cannot be read (missing, permission denied)
  130  Ctrl+C: \`cancel\` was sent and no final printed
`;
