/**
 * The local dashboard (`studio-worker ui`): a loopback-only, token-guarded web page over the
 * worker's events and status, plus desktop notifications. See docs/dashboard.md.
 */
export { startDashboard, type Dashboard, type DashboardOptions } from './server.js';
export { loadOrCreateDashboardToken, TOKEN_FILE } from './token.js';
export { startNotifications, type DesktopNotification, type NotificationSender } from './notifications.js';
export type { UpdateCheckResponse } from './api-types.js';
export { attachDaemonControlWithoutDashboard } from './daemon-control.js';
