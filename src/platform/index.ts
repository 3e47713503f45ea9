export { probeHost } from './host.js';
export type { HostInfo } from './host.js';
