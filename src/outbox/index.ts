/** Binary results on disk before upload, deleted only after a 2xx, retried with backoff and on the next start. */
export { Outbox } from './outbox.js';
export type { OutboxEntry, OutboxMeta, OutboxProblem } from './outbox.js';
export { deliverWithRetry } from './deliver.js';
export type { DeliverOptions } from './deliver.js';
export { safeJobId } from './names.js';
