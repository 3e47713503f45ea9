export { Session } from './session.js';
export type { SessionOptions, SessionState } from './session.js';
export { SessionExhaustedError, SessionRefusedError } from './errors.js';
export { parseStudioFrame } from './parse.js';
