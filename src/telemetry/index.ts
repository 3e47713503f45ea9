/**
 * Telemetry: Sentry error and crash reports, only when SENTRY_DSN is set (@sentry/node is imported
 * only then), with breadcrumbs from the logger and no secret or prompt text in any event.
 */
export { initTelemetry, type Telemetry, type TelemetryOptions, type TelemetryLog } from './telemetry.js';
export { TelemetryScrubber, REDACTED } from './scrub.js';
