import { formatBytes, formatTime, MONTHS, NBSP } from '../../lib/format.js';

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
  bytes: formatBytes,
  time: formatTime,
  /** The chart's bucket labels: the hour for hourly buckets, the day for daily ones. */
  bucket: (start: number, bucketMs: number) => {
    const date = new Date(start);
    return bucketMs < 24 * 60 * 60 * 1000 ? date.toISOString().slice(11, 16) : `${date.getUTCDate()}${NBSP}${MONTHS[date.getUTCMonth()]}`;
  },
};

export type Format = typeof format;
