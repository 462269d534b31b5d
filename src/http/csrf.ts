import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Request, RequestHandler } from 'express';
import { CsrfError } from './errors.js';
import { noteSecurityEvent } from './security-events.js';

declare module 'express-session' {
  interface SessionData {
    csrfToken?: string;
  }
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The session's synchronizer token, created the first time a page needs it. */
export function csrfTokenFor(req: Request): string {
  if (!req.session.csrfToken) req.session.csrfToken = randomBytes(32).toString('base64url');
  return req.session.csrfToken;
}

function sameToken(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/**
 * Rejects a state-changing request whose `_csrf` field (or X-CSRF-Token header, for scripts) does not match
 * the session's token. It reads req.body, so it must run after the body parsers, multipart included.
 */
export const verifyCsrf: RequestHandler = (req, _res, next) => {
  if (SAFE_METHODS.has(req.method)) return next();
  const expected = req.session?.csrfToken;
  const sent = (req.body as Record<string, unknown> | undefined)?._csrf ?? req.get('x-csrf-token');
  if (!expected || typeof sent !== 'string' || !sameToken(sent, expected)) {
    noteSecurityEvent(req, { kind: 'csrf_failed', detail: !expected ? 'no session token (expired session or cookies blocked)' : typeof sent !== 'string' ? 'no token sent' : 'wrong token' });
    throw new CsrfError();
  }
  next();
};
