/**
 * A human size in decimal units (B, kB, MB, GB, TB), the one format every surface uses: the CLI,
 * log lines and the dashboard. Pure (no Node APIs), so the dashboard's browser bundle shares it.
 */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 'B';
  for (const u of units) {
    if (value < 1000) break;
    value /= 1000;
    unit = u;
  }
  return `${value.toFixed(value < 10 ? 2 : 1)} ${unit}`;
}
