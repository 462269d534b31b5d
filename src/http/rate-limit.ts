import type { Request, RequestHandler } from 'express';
import { rateLimit, type Options, type RateLimitInfo } from 'express-rate-limit';
import type { Config } from '../config.js';
import { formatWait, TooManyRequestsError } from './errors.js';
import { noteSecurityEvent } from './security-events.js';

/** Failed sign-ins are counted over this window (15 minutes, as OWASP's guidance on lockouts suggests). */
export const LOGIN_WINDOW_MS = 15 * 60 * 1000;

/**
 * Many people may share one address (an office, a school behind NAT), so an address gets this many times
 * the per-username allowance before it is stopped.
 */
export const LOGIN_IP_FACTOR = 5;

const usernameOf = (req: Request): string => {
  const value = (req.body as Record<string, unknown> | undefined)?.username;
  return typeof value === 'string' ? value.trim().toLowerCase() : '';
};

/** Throws instead of answering, so that the one error handler renders the 429 page or JSON (with Retry-After). */
const lockedOut = (scope: string): Options['handler'] => (req, _res, next) => {
  const resetTime = (req as Request & { rateLimit?: RateLimitInfo }).rateLimit?.resetTime;
  const seconds = resetTime ? Math.max(1, Math.ceil((resetTime.getTime() - Date.now()) / 1000)) : LOGIN_WINDOW_MS / 1000;
  noteSecurityEvent(req, { kind: 'login_locked', username: usernameOf(req) || null, detail: `too many failed sign-ins ${scope}; ${seconds} s left` });
  next(new TooManyRequestsError(seconds, `Too many failed sign-in attempts. Try again in ${formatWait(seconds)}.`));
};

/**
 * Brute-force protection for password sign-in (POST /login, POST /api/v1/auth/token): one limiter per
 * client address and one per username (case-insensitive, whatever address it comes from). Only failures
 * count: a response with status < 400 gives its attempt back. Each call makes fresh counters (in memory,
 * per process), so each app instance and each test starts clean.
 */
export function createLoginRateLimit(config: Config): RequestHandler[] {
  const limit = config.rateLimits.loginPerWindow;
  const common = {
    windowMs: LOGIN_WINDOW_MS,
    skipSuccessfulRequests: true,
    standardHeaders: false,
    legacyHeaders: false,
  } satisfies Partial<Options>;

  const perAddress = rateLimit({ ...common, limit: limit * LOGIN_IP_FACTOR, handler: lockedOut('from this address') });
  const perUsername = rateLimit({
    ...common,
    limit,
    handler: lockedOut('for this username'),
    skip: (req) => usernameOf(req) === '',
    keyGenerator: (req) => `user:${usernameOf(req)}`,
  });
  return [perAddress, perUsername];
}
