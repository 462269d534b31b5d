import type { Request, RequestHandler } from 'express';
import { ipKeyGenerator, rateLimit, type RateLimitInfo } from 'express-rate-limit';
import type { Logger } from '../logger.js';
import { TooManyRequestsError } from './errors.js';
import { noteSecurityEvent } from './security-events.js';

const WINDOW_MS = 60_000;

const READS = new Set(['GET', 'HEAD', 'OPTIONS']);
/** A request that only reads (the web limit skips them: browsing stays free, however busy the account). */
export const isRead = (req: Request): boolean => READS.has(req.method);

/**
 * `perMinute` requests a minute per subject (a verified user id), or per client IP when there is none.
 * The key uses only a *verified* subject (`subjectOf`): an unverified token `sub` would let a client pick its
 * own bucket, escaping the limit or using up someone else's. `skip` leaves requests uncounted.
 * Over the limit: 429 with Retry-After, through the one error handler (JSON for the API and for page scripts
 * that ask for it, the error page otherwise). `what` names the requests in the message ("API requests").
 */
export function createPerMinuteRateLimit({
  perMinute,
  subjectOf,
  what,
  skip,
  logger,
}: {
  perMinute: number;
  subjectOf: (req: Request) => Promise<number | null> | number | null;
  what: string;
  skip?: (req: Request) => boolean;
  logger?: Logger;
}): RequestHandler {
  return rateLimit({
    windowMs: WINDOW_MS,
    limit: perMinute,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    ...(skip ? { skip } : {}),
    keyGenerator: async (req) => {
      const subject = await subjectOf(req);
      return subject === null ? `ip:${ipKeyGenerator(req.ip ?? 'unknown')}` : `user:${subject}`;
    },
    handler: (req, _res, next) => {
      const resetTime = (req as Request & { rateLimit?: RateLimitInfo }).rateLimit?.resetTime?.getTime() ?? Date.now() + WINDOW_MS;
      const retryAfterSeconds = Math.max(1, Math.ceil((resetTime - Date.now()) / 1000));
      noteSecurityEvent(req, { kind: 'rate_limited', detail: `${what}: more than ${perMinute} a minute; ${retryAfterSeconds} s left` });
      next(new TooManyRequestsError(retryAfterSeconds, `Too many ${what}. Try again in ${retryAfterSeconds} second${retryAfterSeconds === 1 ? '' : 's'}.`));
    },
    // The library's own configuration warnings go to our structured log instead of the console.
    ...(logger
      ? { logger: { warn: (err: unknown, message?: string) => logger.warn({ err }, message ?? 'rate limit'), error: (err: unknown, message?: string) => logger.error({ err }, message ?? 'rate limit') } }
      : {}),
  });
}
