import type { Db } from '../../db/database.js';
import type { RequestLogEntry } from '../../http/request-log.js';

export interface RouteKey {
  method: string;
  route: string;
}

export interface Counts {
  requests: number;
  clientErrors: number;
  serverErrors: number;
}

/** One logged request as the request list shows it. */
export interface RequestRow extends RequestLogEntry {
  id: number;
  /** Null when signed out, or when the account has been deleted since (userId is kept). */
  username: string | null;
}

export interface RequestFilter {
  since?: number;
  userId?: number | null;
  route?: string;
  requestId?: string;
  clientIp?: string;
  /** Inclusive status range: [400, 499] for "4xx", [404, 404] for one code. */
  status?: [number, number];
}

export type StatsRepo = ReturnType<typeof createStatsRepo>;

/**
 * The request log's SQL. The statistics never GROUP BY over a window (that sorts every row: seconds at a
 * million rows); they walk the few known (route, method, status) keys, statuses and users, and count each
 * one's index range [since, until) with count(*), which reads no row (migrations/003).
 */
export function createStatsRepo(db: Db) {
  const keys = db.prepare<[], RouteKey & { status: number }>('SELECT route, method, status FROM request_log_keys ORDER BY route, method, status');
  const keyCount = db
    .prepare<[string, string, number, number, number], number>(
      'SELECT count(*) FROM request_log WHERE route = ? AND method = ? AND status = ? AND at >= ? AND at < ?',
    )
    .pluck();
  // A pseudo-random sample of about 1 row in `step`: the id is hashed (Knuth's multiplicative hash, 2^32 range)
  // so that a request pattern repeating every few ids cannot line up with the sample; step 1 takes every row.
  const keyDurations = db
    .prepare<[string, string, number, number, number, number], number>(
      `SELECT duration_ms FROM request_log WHERE route = ? AND method = ? AND status = ? AND at >= ? AND at < ?
         AND (id * 2654435761) % 4294967296 < 4294967296 / ?`,
    )
    .pluck();
  const statusCount = db.prepare<[number, number, number], number>('SELECT count(*) FROM request_log WHERE status = ? AND at >= ? AND at < ?').pluck();
  const userStatus = db.prepare<[number, number, number, number], { requests: number; lastSeenAt: number | null }>(
    'SELECT count(*) AS requests, max(at) AS lastSeenAt FROM request_log WHERE user_id = ? AND status = ? AND at >= ? AND at < ?',
  );
  const anonymousStatus = db.prepare<[number, number, number], { requests: number; lastSeenAt: number | null }>(
    'SELECT count(*) AS requests, max(at) AS lastSeenAt FROM request_log WHERE user_id IS NULL AND status = ? AND at >= ? AND at < ?',
  );
  // Every user id in the log, deleted accounts' included, without reading the log: one index seek per id
  // (the next id above the last one) instead of a DISTINCT over every row.
  const users = db.prepare<[], { id: number; username: string | null }>(
    `WITH RECURSIVE logged(id) AS (
       SELECT min(user_id) FROM request_log WHERE user_id IS NOT NULL
       UNION ALL
       SELECT (SELECT min(user_id) FROM request_log WHERE user_id > logged.id) FROM logged WHERE logged.id IS NOT NULL
     )
     SELECT logged.id, u.username FROM logged LEFT JOIN users u ON u.id = logged.id WHERE logged.id IS NOT NULL`,
  );
  const userByName = db.prepare<[string], { id: number }>('SELECT id FROM users WHERE username = ? COLLATE NOCASE');

  return {
    /** Every (route, method, status) ever logged. */
    keys: () => keys.all(),
    keyCount: (key: RouteKey, status: number, since: number, until: number) => keyCount.get(key.route, key.method, status, since, until)!,
    keyDurations: (key: RouteKey, status: number, since: number, until: number, step: number) =>
      keyDurations.all(key.route, key.method, status, since, until, step),
    statusCount: (status: number, since: number, until: number) => statusCount.get(status, since, until)!,
    /** Every user id the log holds, with the username (null once the account is deleted). */
    users: () => users.all(),
    /** A user's requests with one status in the window and the last one's time; userId null asks for signed-out requests. */
    userStatus: (userId: number | null, status: number, since: number, until: number) =>
      userId === null ? anonymousStatus.get(status, since, until)! : userStatus.get(userId, status, since, until)!,
    userIdByName: (username: string) => userByName.get(username)?.id ?? null,

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
      if (filter.requestId !== undefined) {
        where.push('l.request_id = ?');
        params.push(filter.requestId);
      }
      if (filter.clientIp !== undefined) {
        where.push('l.client_ip = ?');
        params.push(filter.clientIp);
      }
      const sql = `SELECT l.id, l.at, l.user_id AS userId, u.username, l.method, l.route, l.status,
                          l.duration_ms AS durationMs, l.bytes, l.request_id AS requestId, l.client_ip AS clientIp
                   FROM request_log l LEFT JOIN users u ON u.id = l.user_id
                   ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
                   ORDER BY l.at DESC, l.id DESC LIMIT ? OFFSET ?`;
      return db.prepare<(string | number)[], RequestRow>(sql).all(...params, limit, offset);
    },
  };
}
