import { formatBytes, MONTHS, NBSP } from '../../lib/format.js';

/**
 * How the admin pages print numbers, and the chart's buckets (UTC hours and days, as the statistics count them;
 * single moments are shown in the viewer's time zone, views/partials/time.ejs). No-break spaces keep a value
 * such as "12 ms" on one line.
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
  /** The chart's bucket labels: the hour for hourly buckets, the day for daily ones. */
  bucket: (start: number, bucketMs: number) => {
    const date = new Date(start);
    return bucketMs < 24 * 60 * 60 * 1000 ? date.toISOString().slice(11, 16) : `${date.getUTCDate()}${NBSP}${MONTHS[date.getUTCMonth()]}`;
  },
};

export type Format = typeof format;
