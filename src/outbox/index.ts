/**
 * Finished results on disk until the studio takes them: binary results (uploaded, retried while the
 * job is held) and JSON results (kept until `completeAck`), both answered from disk on a re-offer.
 */
export { Outbox } from './outbox.js';
export type { OutboxEntry, OutboxMeta, OutboxProblem } from './outbox.js';
export { deliverWithRetry, DEFAULT_GIVE_UP_AFTER_MS } from './deliver.js';
export type { DeliverOptions, DeliveryOutcome } from './deliver.js';
export { JsonResults } from './json-results.js';
export type { StoredJsonResult } from './json-results.js';
export { StoredResults, DEFAULT_STORED_RESULT_LIMITS } from './stored-results.js';
export type { StoredResult, StoredResultsLimits } from './stored-results.js';
export { safeJobId } from './names.js';
