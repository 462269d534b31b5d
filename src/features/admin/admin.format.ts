const NBSP = '\u00a0';
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/**
 * How the admin pages print numbers and times: UTC, so that every administrator reads the same hours, and
 * with no-break spaces inside a value, so that a narrow table scrolls sideways instead of breaking "12 ms".
 */
export const format = {
  count: (n: number) => n.toLocaleString('en-US'),
  percent: (rate: number) => `${(rate * 100).toFixed(rate > 0 && rate < 0.001 ? 2 : 1)}${NBSP}%`,
  ms: (ms: number | null) => {
    if (ms === null) return '–';
    if (ms < 10) return `${ms.toFixed(1)}${NBSP}ms`;
    if (ms < 10_000) return `${Math.round(ms)}${NBSP}ms`;
    return `${(ms / 1000).toFixed(1)}${NBSP}s`;
  },
  bytes: (n: number) =>
    n < 1024 ? `${n}${NBSP}B` : n < 1024 * 1024 ? `${(n / 1024).toFixed(1)}${NBSP}KB` : `${(n / 1024 / 1024).toFixed(1)}${NBSP}MB`,
  /** "24 Nov 2026 14:05:09" (UTC) from epoch ms or an ISO string; the date and the time each stay on one line. */
  time: (value: number | string | null) => {
    if (value === null) return '–';
    const date = new Date(value);
    if (Number.isNaN(date.getTime())) return String(value);
    const day = [date.getUTCDate(), MONTHS[date.getUTCMonth()], date.getUTCFullYear()].join(NBSP);
    return `${day} ${date.toISOString().slice(11, 19)}`;
  },
  /** The chart's bucket labels: the hour for hourly buckets, the day for daily ones. */
  bucket: (start: number, bucketMs: number) => {
    const date = new Date(start);
    return bucketMs < 24 * 60 * 60 * 1000 ? date.toISOString().slice(11, 16) : `${date.getUTCDate()}${NBSP}${MONTHS[date.getUTCMonth()]}`;
  },
};

export type Format = typeof format;
