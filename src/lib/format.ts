export const NBSP = '\u00a0';

/**
 * "812 B", "14.2 KB", "3.1 MB", "1.0 GB" (binary units, as quotas are set), with a no-break space so that a value
 * never breaks across lines.
 */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n}${NBSP}B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)}${NBSP}${units[unit]}`;
}

export const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
