export { buildGenerateClaim, parseFileFlag } from './build-job.js';
export type { GenerateFlags } from './build-job.js';
export { runLocalJob } from './run-local.js';
export type { LocalJobOutcome } from './run-local.js';
export { LocalFirstModels } from './local-models.js';
export { resultExt } from './output-ext.js';
