/**
 * The LAN listener's numbers: the original's (port, path, handshake timeout, close grace) and the
 * limits it lacked, which a listener on the network needs (frame size, sessions, idle time).
 */

/** The listener's port, next to the local API's 4787. */
export const DEFAULT_STREAM_PORT = 4798;
/** The one path served. */
export const STREAM_PATH = '/transcribe';
/** A connection that has not finished its upgrade by then is dropped. */
export const HANDSHAKE_TIMEOUT_MS = 10_000;
/** After the server's close frame, how long it waits for the client's before it cuts the socket. */
export const CLOSE_GRACE_MS = 1_000;

/** Largest message accepted (1 MiB is 32 s of audio in one frame); larger closes the socket with 1009. */
export const MAX_FRAME_BYTES = 1024 * 1024;
/** Sessions open at once over all models; one more is told so and closed with 1013. */
export const MAX_STREAM_SESSIONS = 8;
/** A session that receives no frame for this long is told so and closed with 1008. */
export const IDLE_TIMEOUT_MS = 30_000;

/** 1008 policy violation: the client broke the idle limit. */
export const IDLE_CLOSE_CODE = 1008;
/** 1013 try again later: every session slot is taken. */
export const TOO_MANY_SESSIONS_CLOSE_CODE = 1013;
/** 1001 going away: the listener is shutting down. */
export const SHUTDOWN_CLOSE_CODE = 1001;

/** The error a session past the limit gets. */
export function tooManySessionsMessage(max: number): string {
  return `too many streams open (at most ${max}); try again later`;
}

/** The error a session on a model that already streams gets (the original's wording). */
export function busyMessage(model: string): string {
  return `model ${model} is busy serving another request`;
}

/** The error a quiet session gets before it is closed. */
export function idleMessage(idleTimeoutMs: number): string {
  return `no audio for ${idleTimeoutMs / 1000} s`;
}

/** The error every session gets when the listener closes. */
export const SHUTDOWN_MESSAGE = 'the stream listener is shutting down';
/** The error `endModel` sends by default: the model is going away under the session. */
export const UNLOADED_MESSAGE = 'model unloaded';
