import { formatBytes as formatSize } from '../../format/index.js';

/** The one size format of the CLI and the logs (decimal units); '–' when unknown. */
export function formatBytes(n: number | undefined): string {
  return n === undefined ? '–' : formatSize(n);
}

export function formatDuration(ms: number | undefined): string {
  if (ms === undefined) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** "5 s ago", "3 min ago"; for a time in the past measured on the same clock as `now`. */
export function formatAge(at: number | undefined, now: number): string {
  if (at === undefined) return 'never';
  const s = Math.max(0, Math.round((now - at) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

export function formatClock(at: number | string): string {
  return new Date(at).toLocaleTimeString([], {
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hourCycle: 'h23',
  });
}

export function formatGb(n: number | undefined): string {
  return n === undefined ? '–' : `${Number.isInteger(n) ? n : n.toFixed(1)} GB`;
}
