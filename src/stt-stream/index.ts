/**
 * Streaming speech-to-text (the original's stt_stream): a LAN WebSocket listener at
 * `ws://<host>:4798/transcribe?token=<stream token>`. The client sends binary 16 kHz mono s16le PCM
 * and then `end` (or `cancel`); it gets `{"partial":true,"text"}` as the transcript grows, one
 * `{"final":true,"text"}` (after `end`, or 1.5 s of silence after speech), or `{"error"}`.
 * Tokens are minted on the loopback local API and live 10 minutes.
 */
export { normalise, WORD_MARKER } from './normalise.js';
export { Vad, SAMPLE_RATE, VAD_WINDOW_MS, VAD_WINDOW_SAMPLES, VAD_THRESHOLD, VAD_SILENCE_MS } from './vad.js';
export {
  StreamTokens,
  DEFAULT_STREAM_TOKEN_TTL_SECS,
  MIN_STREAM_TOKEN_TTL_SECS,
  MAX_STREAM_TOKEN_TTL_SECS,
  TOKEN_REJECTIONS,
  type StreamGrant,
  type StreamTokensOptions,
  type TokenCheck,
  type TokenRejection,
} from './tokens.js';
export type { Transcriber } from './transcriber.js';
export {
  toWire,
  wireText,
  parseClientText,
  rustDebugQuote,
  unknownFrameMessage,
  type ClientCommand,
  type ServerFrame,
} from './frames.js';
export {
  StreamSession,
  FLUSH_SILENCE_MS,
  FLUSH_SILENCE_SAMPLES,
  type Next,
  type Reply,
  type SessionOutcome,
} from './session.js';
export {
  DEFAULT_STREAM_PORT,
  STREAM_PATH,
  HANDSHAKE_TIMEOUT_MS,
  CLOSE_GRACE_MS,
  MAX_FRAME_BYTES,
  MAX_STREAM_SESSIONS,
  IDLE_TIMEOUT_MS,
  IDLE_CLOSE_CODE,
  TOO_MANY_SESSIONS_CLOSE_CODE,
  SHUTDOWN_CLOSE_CODE,
  SHUTDOWN_MESSAGE,
  UNLOADED_MESSAGE,
  busyMessage,
  idleMessage,
  tooManySessionsMessage,
} from './limits.js';
export { admit, queryParam, type Admission } from './handshake.js';
export type {
  OpenTranscriber,
  StreamSessionEnd,
  StreamSessionEvent,
  StreamSessionStart,
} from './connection.js';
export { startStreamListener, type StreamListener, type StreamListenerOptions } from './server.js';
