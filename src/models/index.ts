/**
 * Model provisioning: the cache every engine gets its model files from (download with resume,
 * verification, sharing, disk check, LRU prune). See docs/models.md.
 */
export { ModelCache, type ModelCacheOptions, type PruneResult } from './cache.js';
export type { CachedFile } from './prune.js';
export { filenameProblem, inputFilename } from './names.js';
export { APPROX_TOLERANCE } from './download.js';
export { statfsFreeBytes } from './disk.js';
export { GB, formatBytes, formatGb } from './format.js';
export { INDEX_FILENAME } from './cache-index.js';
