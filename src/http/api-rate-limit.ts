import type { Request, RequestHandler } from 'express';
import { ipKeyGenerator, rateLimit, type RateLimitInfo } from 'express-rate-limit';
import type { Logger } from '../logger.js';
import { TooManyRequestsError } from './errors.js';
import { noteSecurityEvent } from './security-events.js';

const WINDOW_MS = 60_000;

/**
 * The general API rate limit: `perMinute` requests a minute per token subject, or per client IP when the
 * request carries no valid token. The key uses only a *verified* token subject (`subjectOf`): an unverified
 * `sub` would let a client pick its own bucket, escaping the limit or using up someone else's.
 * Over the limit: 429 JSON with Retry-After, through the one error handler.
 */
export function createApiRateLimit({
  perMinute,
  subjectOf,
  logger,
}: {
  perMinute: number;
  subjectOf: (req: Request) => Promise<number | null>;
  logger?: Logger;
}): RequestHandler {
  return rateLimit({
    windowMs: WINDOW_MS,
    limit: perMinute,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    keyGenerator: async (req) => {
      const subject = await subjectOf(req);
      return subject === null ? `ip:${ipKeyGenerator(req.ip ?? 'unknown')}` : `user:${subject}`;
    },
    handler: (req, _res, next) => {
      const resetTime = (req as Request & { rateLimit?: RateLimitInfo }).rateLimit?.resetTime?.getTime() ?? Date.now() + WINDOW_MS;
      const retryAfterSeconds = Math.max(1, Math.ceil((resetTime - Date.now()) / 1000));
      noteSecurityEvent(req, { kind: 'rate_limited', detail: `API: more than ${perMinute} requests a minute; ${retryAfterSeconds} s left` });
      next(new TooManyRequestsError(retryAfterSeconds, `Too many API requests. Try again in ${retryAfterSeconds} second${retryAfterSeconds === 1 ? '' : 's'}.`));
    },
    // The library's own configuration warnings go to our structured log instead of the console.
    ...(logger
      ? { logger: { warn: (err: unknown, message?: string) => logger.warn({ err }, message ?? 'rate limit'), error: (err: unknown, message?: string) => logger.error({ err }, message ?? 'rate limit') } }
      : {}),
  });
}
