/** How the admin pages print numbers and times (UTC, so that every administrator reads the same hours). */
export const format = {
  count: (n: number) => n.toLocaleString('en-US'),
  percent: (rate: number) => `${(rate * 100).toFixed(rate > 0 && rate < 0.001 ? 2 : 1)} %`,
  ms: (ms: number | null) => {
    if (ms === null) return '–';
    if (ms < 10) return `${ms.toFixed(1)} ms`;
    if (ms < 10_000) return `${Math.round(ms)} ms`;
    return `${(ms / 1000).toFixed(1)} s`;
  },
  bytes: (n: number) => (n < 1024 ? `${n} B` : n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KB` : `${(n / 1024 / 1024).toFixed(1)} MB`),
  /** 2026-11-24 14:05:09 UTC, from epoch ms or an ISO string. */
  time: (value: number | string | null) => {
    if (value === null) return '–';
    const date = new Date(value);
    return Number.isNaN(date.getTime()) ? String(value) : `${date.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
  },
  /** The chart's bucket labels: the hour for hourly buckets, the day for daily ones. */
  bucket: (start: number, bucketMs: number) => {
    const iso = new Date(start).toISOString();
    return bucketMs < 24 * 60 * 60 * 1000 ? `${iso.slice(11, 16)}` : iso.slice(0, 10);
  },
};

export type Format = typeof format;
