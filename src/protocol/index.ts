/**
 * The studio's worker contract as code: every wire type as a zod schema with its inferred type.
 * Worker and dev studio both parse with these; `npm run schema` writes them out as JSON Schema.
 */
export * from './enums.js';
export * from './task.js';
export * from './model-source.js';
export * from './capabilities.js';
export * from './registration.js';
export * from './log-entry.js';
export * from './release-feed.js';
export * from './frames.js';
export * from './urls.js';
export * from './prompt.js';
export { jsonSchemas } from './json-schema.js';
