import type { Db } from '../../db/database.js';

export interface RouteKey {
  method: string;
  route: string;
}

export interface Counts {
  requests: number;
  clientErrors: number;
  serverErrors: number;
}

export interface UserActivityRow {
  requests: number;
  errors: number;
  lastSeenAt: number | null;
}

export interface RequestRow {
  id: number;
  at: number;
  userId: number | null;
  username: string | null;
  method: string;
  route: string;
  status: number;
  durationMs: number;
  bytes: number;
  requestId: string;
}

export interface RequestFilter {
  since?: number;
  userId?: number | null;
  route?: string;
  /** Inclusive status range: [400, 499] for "4xx", [404, 404] for one code. */
  status?: [number, number];
}

export type StatsRepo = ReturnType<typeof createStatsRepo>;

/**
 * The request log's SQL. Every query reads one window [since, until) through a covering index
 * (migrations/004): the statistics walk the few routes and users and ask for each one's rows in the window,
 * instead of one GROUP BY over the whole window, which sorts every row (seconds at a million rows).
 */
export function createStatsRepo(db: Db) {
  const routes = db.prepare<[], RouteKey>('SELECT method, route FROM request_log_routes ORDER BY route, method');
  const routeCounts = db.prepare<[string, string, number, number], Counts>(
    `SELECT count(*) AS requests,
            coalesce(sum(status BETWEEN 400 AND 499), 0) AS clientErrors,
            coalesce(sum(status >= 500), 0) AS serverErrors
     FROM request_log WHERE method = ? AND route = ? AND at >= ? AND at < ?`,
  );
  // A pseudo-random sample of about 1 row in `step`: the id is hashed (Knuth's multiplicative hash, 2^32 range)
  // so that a request pattern repeating every few ids cannot line up with the sample; step 1 takes every row.
  const routeDurations = db
    .prepare<[string, string, number, number, number], number>(
      `SELECT duration_ms FROM request_log WHERE method = ? AND route = ? AND at >= ? AND at < ?
         AND (id * 2654435761) % 4294967296 < 4294967296 / ?`,
    )
    .pluck();
  const windowCounts = db.prepare<[number, number], Counts>(
    `SELECT count(*) AS requests,
            coalesce(sum(status BETWEEN 400 AND 499), 0) AS clientErrors,
            coalesce(sum(status >= 500), 0) AS serverErrors
     FROM request_log WHERE at >= ? AND at < ?`,
  );
  const userActivity = db.prepare<[number, number, number], UserActivityRow>(
    `SELECT count(*) AS requests, coalesce(sum(status >= 400), 0) AS errors, max(at) AS lastSeenAt
     FROM request_log WHERE user_id = ? AND at >= ? AND at < ?`,
  );
  const anonymousActivity = db.prepare<[number, number], UserActivityRow>(
    `SELECT count(*) AS requests, coalesce(sum(status >= 400), 0) AS errors, max(at) AS lastSeenAt
     FROM request_log WHERE user_id IS NULL AND at >= ? AND at < ?`,
  );
  const users = db.prepare<[], { id: number; username: string }>('SELECT id, username FROM users ORDER BY id');
  const userByName = db.prepare<[string], { id: number }>('SELECT id FROM users WHERE username = ? COLLATE NOCASE');

  return {
    routes: () => routes.all(),
    routeCounts: (key: RouteKey, since: number, until: number) => routeCounts.get(key.method, key.route, since, until)!,
    routeDurations: (key: RouteKey, since: number, until: number, step: number) => routeDurations.all(key.method, key.route, since, until, step),
    /** Requests, 4xx and 5xx in [since, until): one call per chart bucket. */
    windowCounts: (since: number, until: number) => windowCounts.get(since, until)!,
    users: () => users.all(),
    userIdByName: (username: string) => userByName.get(username)?.id ?? null,
    /** A user's activity in the window; null asks for signed-out requests. */
    userActivity: (userId: number | null, since: number, until: number) =>
      userId === null ? anonymousActivity.get(since, until)! : userActivity.get(userId, since, until)!,

    /** Log rows, newest first, matching the filter; `limit` rows from `offset`. */
    requests(filter: RequestFilter, limit: number, offset: number): RequestRow[] {
      const where: string[] = [];
      const params: (string | number)[] = [];
      if (filter.since !== undefined) {
        where.push('l.at >= ?');
        params.push(filter.since);
      }
      if (filter.userId === null) where.push('l.user_id IS NULL');
      else if (filter.userId !== undefined) {
        where.push('l.user_id = ?');
        params.push(filter.userId);
      }
      if (filter.route !== undefined) {
        where.push('l.route = ?');
        params.push(filter.route);
      }
      if (filter.status) {
        where.push('l.status BETWEEN ? AND ?');
        params.push(filter.status[0], filter.status[1]);
      }
      const sql = `SELECT l.id, l.at, l.user_id AS userId, u.username, l.method, l.route, l.status,
                          l.duration_ms AS durationMs, l.bytes, l.request_id AS requestId
                   FROM request_log l LEFT JOIN users u ON u.id = l.user_id
                   ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
                   ORDER BY l.at DESC, l.id DESC LIMIT ? OFFSET ?`;
      return db.prepare<(string | number)[], RequestRow>(sql).all(...params, limit, offset);
    },
  };
}
