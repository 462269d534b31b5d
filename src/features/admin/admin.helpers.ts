import type { Request } from 'express';
import { ValidationError } from '../../http/errors.js';
import { noteSecurityEvent } from '../../http/security-events.js';
import { format } from './admin.format.js';
import { userLabel } from './stats.service.js';

export const windowLabels = { '24h': '24 hours', '7d': '7 days', '30d': '30 days', all: 'All retained' } as const;

/** A link to the same page with some query parameters changed; empty values are left out to keep URLs short. */
export function linkWith(path: string, query: Record<string, string | number | undefined>, changes: Record<string, string | number | undefined>) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries({ ...query, ...changes })) {
    if (value !== undefined && value !== '') params.set(key, String(value));
  }
  const search = params.toString();
  return search ? `${path}?${search}` : path;
}

/** What every admin page may use. */
export const adminLocals = { format, windowLabels, linkWith, userLabel };

/**
 * Post/redirect/get for the admin forms: the change's message as a success flash; a refusal (the last admin,
 * oneself, a bad form value) as an error flash rather than an error page. Anything else (an unknown user: 404)
 * propagates.
 */
export async function flashOutcome(req: Request, change: () => string | Promise<string>): Promise<void> {
  try {
    req.flash('success', await change());
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    req.flash('error', err.message);
  }
}

/** Records an administrator's action (who did what to whom) in the security events. */
export function auditAdminAction(req: Request, action: string, target: { id: number; username: string } | null, detail = ''): void {
  noteSecurityEvent(req, { kind: 'admin_action', action, targetUserId: target?.id ?? null, targetUsername: target?.username ?? null, detail });
}

/** The address pages are reached at (behind a trusted proxy, the public one), for links an admin passes on. */
export const siteOrigin = (req: Request) => `${req.protocol}://${req.get('host') ?? 'localhost'}`;
