export * from './errors.js';
export * from './timers.js';
