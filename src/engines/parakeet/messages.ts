/** Why a parakeet job is refused: its models serve the LAN stream listener, never a job. */
export const STREAM_ONLY_MESSAGE =
  'engine "parakeet" serves streaming speech-to-text on the LAN stream listener only ' +
  '(POST /stream-tokens on the local API, see docs/local-api.md), never a studio or local API job';

/** What the operator reads when sherpa-onnx-node is not installed (it is an optional dependency). */
export const SHERPA_MISSING_MESSAGE =
  'sherpa-onnx-node is not installed: reinstall with `npm i -g studio-worker --include=optional` ' +
  '(or run `npm i -g sherpa-onnx-node` next to studio-worker) to serve streaming speech models';
