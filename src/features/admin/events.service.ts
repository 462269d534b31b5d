import type { Db } from '../../db/database.js';
import type { SecurityEventKind } from '../../http/security-events.js';
import { createEventsRepo, type EventFilter, type EventRow } from './events.repo.js';
import { REQUESTS_PAGE_SIZE, statsWindow, userIdFilter, type WindowName } from './stats.service.js';

/** The kinds an administrator filters by; lockouts and the API's rate limit go together. */
export const EVENT_GROUPS = {
  login_failed: { label: 'Failed sign-ins', kinds: ['login_failed'] },
  lockouts: { label: 'Lockouts and rate limits (429)', kinds: ['login_locked', 'rate_limited'] },
  csrf_failed: { label: 'CSRF failures', kinds: ['csrf_failed'] },
  upload_refused: { label: 'Refused uploads', kinds: ['upload_refused'] },
  admin_action: { label: 'Administrators\u2019 actions', kinds: ['admin_action'] },
} satisfies Record<string, { label: string; kinds: SecurityEventKind[] }>;
export type EventGroup = keyof typeof EVENT_GROUPS;

export const EVENT_LABELS: Record<SecurityEventKind, string> = {
  login_failed: 'Failed sign-in',
  login_locked: 'Sign-in lockout',
  rate_limited: 'Rate limit (API or pages)',
  csrf_failed: 'CSRF failure',
  upload_refused: 'Refused upload',
  admin_action: 'Admin action',
};

export type EventsService = ReturnType<typeof createEventsService>;

export function createEventsService({ db, now = Date.now }: { db: Db; now?: () => number }) {
  const repo = createEventsRepo(db);
  const userIdByName = db.prepare<[string], number>('SELECT id FROM users WHERE username = ? COLLATE NOCASE').pluck();

  return {
    /** One page (1-based) of events, newest first, matching the filter; `hasNext` without counting them all. */
    list(filter: { window?: WindowName; group?: EventGroup; user?: string; clientIp?: string; requestId?: string }, page: number) {
      const query: EventFilter = { clientIp: filter.clientIp, requestId: filter.requestId };
      if (filter.window) query.since = statsWindow(filter.window, now()).since;
      if (filter.group) query.kinds = EVENT_GROUPS[filter.group].kinds;
      if (filter.user) {
        const id = userIdFilter(filter.user);
        query.user = id !== null ? { id, name: null } : { id: userIdByName.get(filter.user.trim()) ?? null, name: filter.user.trim() };
      }
      const rows: EventRow[] = repo.list(query, REQUESTS_PAGE_SIZE + 1, (page - 1) * REQUESTS_PAGE_SIZE);
      return { rows: rows.slice(0, REQUESTS_PAGE_SIZE), page, hasNext: rows.length > REQUESTS_PAGE_SIZE, hasPrevious: page > 1 };
    },
  };
}
