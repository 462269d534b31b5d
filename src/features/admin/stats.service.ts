import type { Db } from '../../db/database.js';
import { countAtOrBelow } from '../../lib/sorted.js';
import { createStatsRepo, type Counts, type RequestFilter, type RequestRow, type RouteKey } from './stats.repo.js';

export const WINDOWS = ['24h', '7d', '30d'] as const;
export type WindowName = (typeof WINDOWS)[number];

const HOUR_MS = 60 * 60 * 1000;
const DAY_MS = 24 * HOUR_MS;

/** Above this many requests for one route, its percentiles come from an evenly spread sample of this size. */
export const PERCENTILE_SAMPLE = 5_000;
export const REQUESTS_PAGE_SIZE = 50;

export interface StatsWindow {
  name: WindowName;
  /** Start of the first bucket (inclusive) and the end of the window (exclusive), epoch ms. */
  since: number;
  until: number;
  bucketMs: number;
  /** Start of each bucket, oldest first. */
  buckets: number[];
}

/**
 * A window is whole buckets so that the totals and the chart cover the same requests: 24 h is the current
 * hour and the 23 before it; 7 d and 30 d are the current UTC day and the 6 or 29 before it.
 */
export function statsWindow(name: WindowName, now: number): StatsWindow {
  const [bucketMs, count] = name === '24h' ? [HOUR_MS, 24] : [DAY_MS, name === '7d' ? 7 : 30];
  const current = Math.floor(now / bucketMs) * bucketMs;
  const since = current - (count - 1) * bucketMs;
  const buckets = Array.from({ length: count }, (_, i) => since + i * bucketMs);
  return { name, since, until: now + 1, bucketMs, buckets };
}

export interface Percentiles {
  p50: number | null;
  p95: number | null;
}

export interface RouteStats extends Counts, Percentiles {
  method: string;
  route: string;
  /** True when the percentiles come from a sample (more than PERCENTILE_SAMPLE requests). */
  sampled: boolean;
}

export interface Totals extends Counts, Percentiles {
  distinctUsers: number;
  clientErrorRate: number;
  serverErrorRate: number;
}

export interface BucketStats {
  start: number;
  ok: number;
  clientErrors: number;
  serverErrors: number;
}

export interface UserActivity {
  /** Null: signed-out requests. */
  userId: number | null;
  /** Null when signed out or when the account has been deleted since. */
  username: string | null;
  requests: number;
  errors: number;
  lastSeenAt: number | null;
}

export interface Stats {
  window: StatsWindow;
  totals: Totals;
  routes: RouteStats[];
  overTime: BucketStats[];
  users: UserActivity[];
}

/** The nearest rank (1-based) of percentile p among n values; the epsilon keeps 0.95 × 20 from rounding up to 20. */
const nearestRank = (p: number, n: number) => Math.max(1, Math.ceil(p * n - 1e-9));

/** Nearest-rank percentile of values sorted ascending. */
function percentile(sorted: Float64Array, p: number): number | null {
  return sorted.length ? sorted[nearestRank(p, sorted.length) - 1]! : null;
}

/**
 * Nearest-rank percentile over all routes, each route's sorted sample standing for its `requests`: the
 * smallest sampled value at or below which at least p of all requests fall, found by binary search over
 * the sorted union of the samples (no per-value objects: a million-row window has ~100k sampled values).
 */
function overallPercentile(groups: { sorted: Float64Array; requests: number }[], union: Float64Array, p: number): number | null {
  if (union.length === 0) return null;
  const total = groups.reduce((sum, g) => sum + g.requests, 0);
  const rank = nearestRank(p, total);
  const requestsAtOrBelow = (x: number) =>
    groups.reduce((sum, g) => sum + (g.sorted.length ? (countAtOrBelow(g.sorted, x) * g.requests) / g.sorted.length : 0), 0);
  let lo = 0;
  let hi = union.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    // The tolerance absorbs the rounding of sampled weights (requests / sample size).
    if (requestsAtOrBelow(union[mid]!) >= rank - 1e-6) hi = mid;
    else lo = mid + 1;
  }
  return union[lo]!;
}

const rate = (part: number, whole: number) => (whole === 0 ? 0 : part / whole);

function countsOf(perStatus: { status: number; count: number }[]): Counts {
  const counts: Counts = { requests: 0, clientErrors: 0, serverErrors: 0 };
  for (const { status, count } of perStatus) {
    counts.requests += count;
    if (status >= 500) counts.serverErrors += count;
    else if (status >= 400) counts.clientErrors += count;
  }
  return counts;
}

/** "#12" names a user by id: the way to filter by a deleted account. */
export function userIdFilter(value: string | undefined): number | null {
  const match = /^#(\d{1,15})$/.exec(value?.trim() ?? '');
  return match ? Number(match[1]) : null;
}

/** How a user appears on the admin pages: their name, "deleted user #12", or "signed out". */
export const userLabel = (userId: number | null, username: string | null) => (userId === null ? 'signed out' : (username ?? `deleted user #${userId}`));

export type StatsService = ReturnType<typeof createStatsService>;

export function createStatsService({ db, now = Date.now }: { db: Db; now?: () => number }) {
  const repo = createStatsRepo(db);

  return {
    stats(windowName: WindowName): Stats {
      const window = statsWindow(windowName, now());
      const { since, until } = window;

      const keys = repo.keys();
      const statuses = [...new Set(keys.map((k) => k.status))];

      // Per route: counts per status, then a latency sample drawn with the same step from each status's rows.
      const byRoute = new Map<string, { key: RouteKey; statuses: number[] }>();
      for (const { route, method, status } of keys) {
        const id = `${method} ${route}`;
        const entry = byRoute.get(id) ?? { key: { route, method }, statuses: [] };
        entry.statuses.push(status);
        byRoute.set(id, entry);
      }
      const samples: { sorted: Float64Array; requests: number }[] = [];
      const routes: RouteStats[] = [];
      for (const { key, statuses: routeStatuses } of byRoute.values()) {
        const perStatus = routeStatuses.map((status) => ({ status, count: repo.keyCount(key, status, since, until) }));
        const counts = countsOf(perStatus);
        if (counts.requests === 0) continue;
        const step = Math.max(1, Math.ceil(counts.requests / PERCENTILE_SAMPLE));
        const sorted = Float64Array.from(
          perStatus.filter((s) => s.count > 0).flatMap((s) => repo.keyDurations(key, s.status, since, until, step)),
        ).sort();
        samples.push({ sorted, requests: counts.requests });
        routes.push({ ...key, ...counts, p50: percentile(sorted, 0.5), p95: percentile(sorted, 0.95), sampled: step > 1 });
      }
      routes.sort((a, b) => b.requests - a.requests || a.route.localeCompare(b.route));
      const union = new Float64Array(samples.reduce((n, g) => n + g.sorted.length, 0));
      let offset = 0;
      for (const { sorted } of samples) {
        union.set(sorted, offset);
        offset += sorted.length;
      }
      union.sort();

      const overTime: BucketStats[] = window.buckets.map((start) => {
        const end = Math.min(start + window.bucketMs, until);
        const counts = countsOf(statuses.map((status) => ({ status, count: repo.statusCount(status, start, end) })));
        return { start, ok: counts.requests - counts.clientErrors - counts.serverErrors, clientErrors: counts.clientErrors, serverErrors: counts.serverErrors };
      });

      const users: UserActivity[] = [];
      for (const user of [...repo.users(), { id: null, username: null }]) {
        const activity: UserActivity = { userId: user.id, username: user.username, requests: 0, errors: 0, lastSeenAt: null };
        for (const status of statuses) {
          const { requests, lastSeenAt } = repo.userStatus(user.id, status, since, until);
          activity.requests += requests;
          if (status >= 400) activity.errors += requests;
          if (lastSeenAt !== null && (activity.lastSeenAt === null || lastSeenAt > activity.lastSeenAt)) activity.lastSeenAt = lastSeenAt;
        }
        if (activity.requests > 0) users.push(activity);
      }
      users.sort((a, b) => b.requests - a.requests);

      const requests = routes.reduce((sum, r) => sum + r.requests, 0);
      const clientErrors = routes.reduce((sum, r) => sum + r.clientErrors, 0);
      const serverErrors = routes.reduce((sum, r) => sum + r.serverErrors, 0);
      const totals: Totals = {
        requests,
        clientErrors,
        serverErrors,
        distinctUsers: users.filter((u) => u.userId !== null).length,
        clientErrorRate: rate(clientErrors, requests),
        serverErrorRate: rate(serverErrors, requests),
        p50: overallPercentile(samples, union, 0.5),
        p95: overallPercentile(samples, union, 0.95),
      };
      return { window, totals, routes, overTime, users };
    },

    /** One page (1-based) of log rows, newest first; `hasNext` without counting the whole log. */
    requests(
      filter: { window?: WindowName; username?: string; route?: string; status?: [number, number]; requestId?: string; clientIp?: string },
      page: number,
    ) {
      const query: RequestFilter = { route: filter.route, status: filter.status, requestId: filter.requestId, clientIp: filter.clientIp };
      if (filter.window) query.since = statsWindow(filter.window, now()).since;
      let unknownUser = false;
      const userId = userIdFilter(filter.username);
      if (filter.username === '-') query.userId = null;
      else if (userId !== null) query.userId = userId;
      else if (filter.username) {
        const id = repo.userIdByName(filter.username);
        if (id === null) unknownUser = true;
        else query.userId = id;
      }
      const rows: RequestRow[] = unknownUser ? [] : repo.requests(query, REQUESTS_PAGE_SIZE + 1, (page - 1) * REQUESTS_PAGE_SIZE);
      return { rows: rows.slice(0, REQUESTS_PAGE_SIZE), page, hasNext: rows.length > REQUESTS_PAGE_SIZE, hasPrevious: page > 1, unknownUser };
    },

    /** The route patterns ever logged, for the filter's suggestions. */
    routes: () => [...new Set(repo.keys().map((k) => k.route))],
  };
}
