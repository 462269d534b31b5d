import type { Request, RequestHandler, Response } from 'express';
import type { Db } from '../db/database.js';
import type { Logger } from '../logger.js';
import { clientAddress, createSecurityEventWriter, type SecurityEvent } from './security-events.js';

export interface RequestLog {
  middleware: RequestHandler;
  /** Writes what is buffered; called at shutdown. */
  flush(): void;
  close(): void;
}

export interface RequestLogDeps {
  db: Db;
  logger: Logger;
  retentionDays: number;
  /** Rows kept in memory before they are written at once (default 200). */
  batchSize?: number;
  /** Longest time a row waits in memory before it is written (default 1 s). */
  flushIntervalMs?: number;
  /** For tests: the clock. */
  now?: () => number;
}

export interface RequestLogEntry {
  at: number;
  userId: number | null;
  method: string;
  route: string;
  status: number;
  durationMs: number;
  bytes: number;
  requestId: string;
  /** The client's address (TRUST_PROXY decides whether X-Forwarded-For counts). */
  clientIp?: string | null;
}

/** The label for a request that no route matched (404s, CSRF failures, middleware answers). */
export const UNMATCHED_ROUTE = '(unmatched)';
/**
 * nginx's "client closed request": recorded when the client went away before any status was sent, so that
 * aborted requests are visible without pretending a real status was answered.
 */
export const CLIENT_CLOSED_STATUS = 499;

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Records every request that reaches it in request_log: who (the user id is kept after the account is
 * deleted), from which address, which route pattern, the status and bytes actually sent, and how long it
 * took; and the security events noted on it (security-events.ts). Rows are buffered and written in one
 * transaction every second or every 200 rows, so that logging never adds a database write to a response.
 */
export function createRequestLog({ db, logger, retentionDays, batchSize = 200, flushIntervalMs = 1000, now = Date.now }: RequestLogDeps): RequestLog {
  const insertAll = createRequestLogWriter(db);
  const deleteOlderThan = db.prepare<[number]>('DELETE FROM request_log WHERE at < ?');
  const deleteEventsOlderThan = db.prepare<[number]>('DELETE FROM security_events WHERE at < ?');

  let buffer: RequestLogEntry[] = [];
  let events: SecurityEvent[] = [];

  function flush(): void {
    if (buffer.length === 0) return;
    const entries = buffer;
    const noted = events;
    buffer = [];
    events = [];
    try {
      insertAll(entries, noted);
    } catch (err) {
      // Losing some log rows is better than failing requests or crashing from a timer.
      logger.error({ err, rows: entries.length, events: noted.length }, 'request log write failed');
    }
  }

  function prune(): void {
    try {
      const cutoff = now() - retentionDays * DAY_MS;
      const { changes } = deleteOlderThan.run(cutoff);
      const { changes: eventChanges } = deleteEventsOlderThan.run(cutoff);
      if (changes || eventChanges) logger.info({ deleted: changes, deletedEvents: eventChanges, retentionDays }, 'request log pruned');
    } catch (err) {
      logger.error({ err }, 'request log pruning failed');
    }
  }

  prune();
  // unref: neither timer keeps the process (or a test run) alive.
  const flushTimer = setInterval(flush, flushIntervalMs).unref();
  const pruneTimer = setInterval(prune, DAY_MS).unref();

  const middleware: RequestHandler = (req, res, next) => {
    const arrivedAt = now();
    const startedAt = req.startedAt ?? process.hrtime.bigint();
    const route = captureRoutePattern(req);
    const bytes = countBytes(res);
    let recorded = false;

    const record = () => {
      if (recorded) return;
      recorded = true;
      buffer.push({
        at: arrivedAt,
        // Read now, not at arrival: sessions and the API's bearer middleware set req.user later on.
        userId: req.user?.id ?? null,
        method: req.method,
        route: route() ?? UNMATCHED_ROUTE,
        status: res.headersSent ? res.statusCode : CLIENT_CLOSED_STATUS,
        durationMs: Number(process.hrtime.bigint() - startedAt) / 1e6,
        bytes: bodyIsSent(req, res) ? bytes() : 0,
        requestId: req.id ?? '',
        clientIp: clientAddress(req),
      });
      if (req.securityEvents?.length) events.push(...req.securityEvents);
      if (buffer.length >= batchSize) flush();
    };
    res.once('finish', record);
    // 'close' without 'finish': the client went away before the response was complete.
    res.once('close', record);
    next();
  };

  return {
    middleware,
    flush,
    close() {
      clearInterval(flushTimer);
      clearInterval(pruneTimer);
      flush();
    },
  };
}

/**
 * The pattern of the route that handled the request (`/admin/users/:id/role`). Express sets req.route when a
 * route matches, and resets req.baseUrl when the request leaves a router (an error thrown inside one), so the
 * mount path is taken at the moment the route is assigned rather than at the end.
 */
function captureRoutePattern(req: Request): () => string | null {
  let route: unknown = undefined;
  let pattern: string | null = null;
  Object.defineProperty(req, 'route', {
    configurable: true,
    enumerable: true,
    get: () => route,
    set(value: unknown) {
      route = value;
      const path = (value as { path?: unknown } | undefined)?.path;
      if (typeof path === 'string') pattern = joinPath(req.baseUrl, path);
      else if (Array.isArray(path)) pattern = joinPath(req.baseUrl, path.join('|'));
      else if (path instanceof RegExp) pattern = joinPath(req.baseUrl, String(path));
    },
  });
  return () => pattern;
}

function joinPath(base: string, path: string): string {
  if (!base) return path;
  return path === '/' ? base : base + path;
}

/** Counts the body bytes handed to res.write/res.end (Content-Length alone misses streamed and chunked bodies). */
function countBytes(res: Response): () => number {
  let total = 0;
  const add = (chunk: unknown, encoding: unknown) => {
    if (typeof chunk === 'string') total += Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
    else if (chunk instanceof Uint8Array) total += chunk.byteLength;
  };
  const write = res.write;
  const end = res.end;
  res.write = function (this: Response, chunk: unknown, ...rest: unknown[]) {
    add(chunk, rest[0]);
    return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
  } as Response['write'];
  res.end = function (this: Response, chunk?: unknown, ...rest: unknown[]) {
    if (typeof chunk !== 'function') add(chunk, rest[0]);
    return (end as (...args: unknown[]) => Response).call(this, chunk, ...rest);
  } as Response['end'];
  return () => total;
}

/** HEAD answers and 204/304 carry no body on the wire, whatever was passed to res.end. */
function bodyIsSent(req: Request, res: Response): boolean {
  return req.method !== 'HEAD' && res.statusCode !== 204 && res.statusCode !== 304;
}

/** Writes log entries and security events in one transaction; the request log's batches, and tests that seed a log. */
export function createRequestLogWriter(db: Db): (entries: RequestLogEntry[], events?: SecurityEvent[]) => void {
  // No foreign key on user_id (migrations/009): a user deleted between their request and the write (the
  // account deletion request itself) keeps their id on the row, shown as "deleted user #id".
  const insert = db.prepare<[number, number | null, string, string, number, number, number, string, string | null]>(
    `INSERT INTO request_log (at, user_id, method, route, status, duration_ms, bytes, request_id, client_ip)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const insertEvents = createSecurityEventWriter(db);
  // The (route, method, status) list the statistics walk (migrations/003); a no-op once the key is known.
  const insertKey = db.prepare<[string, string, number]>('INSERT OR IGNORE INTO request_log_keys (route, method, status) VALUES (?, ?, ?)');
  return db.transaction((entries: RequestLogEntry[], events: SecurityEvent[] = []) => {
    insertEvents(events);
    const keys = new Set<string>();
    for (const e of entries) {
      insert.run(e.at, e.userId, e.method, e.route, e.status, e.durationMs, e.bytes, e.requestId, e.clientIp ?? null);
      const key = `${e.status} ${e.method} ${e.route}`;
      if (!keys.has(key)) {
        keys.add(key);
        insertKey.run(e.route, e.method, e.status);
      }
    }
  });
}
