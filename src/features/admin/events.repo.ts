import type { Db } from '../../db/database.js';
import type { SecurityEvent, SecurityEventKind } from '../../http/security-events.js';

/** One security event as the admin page lists it, with the current names of the users involved. */
export interface EventRow extends SecurityEvent {
  id: number;
  /** The signed-in user's current name; null when signed out or deleted since (userId says which). */
  actorName: string | null;
  /** The route of the request the event came from (joined from the request log), when it is still there. */
  route: string | null;
}

export interface EventFilter {
  since?: number;
  kinds?: SecurityEventKind[];
  /** Events by or about this user id, or naming this username (a failed sign-in's attempted name). */
  user?: { id: number | null; name: string | null };
  clientIp?: string;
  requestId?: string;
}

/** The security_events table (migrations/009), newest first; written by the request log (src/http/security-events.ts). */
export function createEventsRepo(db: Db) {
  return {
    list(filter: EventFilter, limit: number, offset: number): EventRow[] {
      const where: string[] = [];
      const params: (string | number | null)[] = [];
      if (filter.since !== undefined) {
        where.push('e.at >= ?');
        params.push(filter.since);
      }
      if (filter.kinds?.length) {
        where.push(`e.kind IN (${filter.kinds.map(() => '?').join(', ')})`);
        params.push(...filter.kinds);
      }
      if (filter.user) {
        where.push('(e.user_id = ? OR e.target_user_id = ? OR e.username = ? COLLATE NOCASE OR e.target_username = ? COLLATE NOCASE)');
        params.push(filter.user.id, filter.user.id, filter.user.name, filter.user.name);
      }
      if (filter.clientIp !== undefined) {
        where.push('e.client_ip = ?');
        params.push(filter.clientIp);
      }
      if (filter.requestId !== undefined) {
        where.push('e.request_id = ?');
        params.push(filter.requestId);
      }
      const sql = `SELECT e.id, e.at, e.kind, e.user_id AS userId, a.username AS actorName, e.username, e.target_user_id AS targetUserId,
                          e.target_username AS targetUsername, e.action, e.detail, e.client_ip AS clientIp, e.request_id AS requestId,
                          (SELECT l.route FROM request_log l WHERE l.request_id = e.request_id LIMIT 1) AS route
                   FROM security_events e LEFT JOIN users a ON a.id = e.user_id
                   ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
                   ORDER BY e.at DESC, e.id DESC LIMIT ? OFFSET ?`;
      return db.prepare<(string | number | null)[], EventRow>(sql).all(...params, limit, offset);
    },
  };
}
