import type { Request } from 'express';
import type { Db } from '../db/database.js';
import { AppError, ValidationError } from './errors.js';

/**
 * Security events: what an administrator investigating an incident needs besides the request log. Code that
 * sees one notes it on the request (`noteSecurityEvent`); the request log writes it with the request's row, in
 * the same batch, so recording never adds a database write to a response.
 */
export const SECURITY_EVENT_KINDS = ['login_failed', 'login_locked', 'rate_limited', 'csrf_failed', 'upload_refused', 'admin_action'] as const;
export type SecurityEventKind = (typeof SECURITY_EVENT_KINDS)[number];

export interface SecurityEventInput {
  kind: SecurityEventKind;
  /** The username tried (failed sign-ins, lockouts), as typed. */
  username?: string | null;
  /** Whom an administrator's action was about, and their name at the time. */
  targetUserId?: number | null;
  targetUsername?: string | null;
  /** For admin actions: what was done (`user.delete`, `invite.create`, ...). */
  action?: string | null;
  detail?: string;
}

export interface SecurityEvent {
  at: number;
  kind: SecurityEventKind;
  /** Who was signed in; for admin actions, the administrator. */
  userId: number | null;
  username: string | null;
  targetUserId: number | null;
  targetUsername: string | null;
  action: string | null;
  detail: string;
  clientIp: string | null;
  /** Null for the command line. */
  requestId: string | null;
}

/** Long enough for any real value; a typed "username" or a file name cannot fill the table with megabytes. */
const clip = (value: string | null | undefined, max: number) => (value == null ? null : value.length > max ? `${value.slice(0, max - 1)}…` : value);

/**
 * The client's address: Express's req.ip, which follows X-Forwarded-For only as far as TRUST_PROXY trusts it.
 * IPv4 clients of a dual-stack socket are shown as plain IPv4 ("::ffff:10.0.0.5" -> "10.0.0.5").
 */
export function clientAddress(req: Request): string | null {
  const ip = req.ip ?? req.socket?.remoteAddress ?? null;
  return ip?.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}

/** A security event with the context of its request (time, signed-in user, address, request id). */
export function securityEventFor(req: Request, input: SecurityEventInput): SecurityEvent {
  return {
    at: Date.now(),
    kind: input.kind,
    userId: req.user?.id ?? null,
    username: clip(input.username?.trim(), 100),
    targetUserId: input.targetUserId ?? null,
    targetUsername: input.targetUsername ?? null,
    action: input.action ?? null,
    detail: clip(input.detail ?? '', 500) ?? '',
    clientIp: clientAddress(req),
    requestId: req.id ?? null,
  };
}

/** Notes an event on the request; the request log writes it with the request's row. */
export function noteSecurityEvent(req: Request, input: SecurityEventInput): void {
  (req.securityEvents ??= []).push(securityEventFor(req, input));
}

/**
 * Notes a refused upload with its reason: a multipart request answered 413 (size, count, quota, pixels),
 * 415 (type) or 422 (a refused or undecodable image). The one error handler calls it for what reaches it; a
 * route that turns an upload error into a page or a flash of its own calls it too.
 */
export function noteUploadRefusal(req: Request, err: AppError): void {
  if (!req.is('multipart/form-data') || ![413, 415, 422].includes(err.status)) return;
  const fields = err instanceof ValidationError ? Object.entries(err.fields) : [];
  const reason = fields.length ? fields.map(([name, why]) => `${name}: ${why}`).join('; ') : err.message;
  noteSecurityEvent(req, { kind: 'upload_refused', detail: `${err.code} (${err.status}): ${reason}` });
}

/** Writes events (call inside the caller's transaction, or alone: the command line). */
export function createSecurityEventWriter(db: Db): (events: SecurityEvent[]) => void {
  const insert = db.prepare(
    `INSERT INTO security_events (at, kind, user_id, username, target_user_id, target_username, action, detail, client_ip, request_id)
     VALUES (@at, @kind, @userId, @username, @targetUserId, @targetUsername, @action, @detail, @clientIp, @requestId)`,
  );
  return (events) => {
    for (const event of events) insert.run(event);
  };
}
