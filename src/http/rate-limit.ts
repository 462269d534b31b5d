import type { Request, RequestHandler } from 'express';
import { ipKeyGenerator, rateLimit, type Options, type RateLimitInfo } from 'express-rate-limit';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
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

/** Whole seconds until the limiter lets this client in again (its window's length when the limiter did not say). */
function secondsUntilReset(req: Request, windowMs: number): number {
  const resetTime = (req as Request & { rateLimit?: RateLimitInfo }).rateLimit?.resetTime?.getTime() ?? Date.now() + windowMs;
  return Math.max(1, Math.ceil((resetTime - Date.now()) / 1000));
}

/** Throws instead of answering, so that the one error handler renders the 429 page or JSON (with Retry-After). */
const lockedOut = (scope: string): Options['handler'] => (req, _res, next) => {
  const seconds = secondsUntilReset(req, LOGIN_WINDOW_MS);
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

const PER_MINUTE_WINDOW_MS = 60_000;

/** Path segments this long are tokens or codes (a password-reset link's token), not names: left out of the record. */
const SECRET_SEGMENT_LENGTH = 20;

/**
 * What a refused request asked for, for its security event: method and path, without the query and without long
 * segments. The limit answers before routing, so the request log has no route pattern for it.
 */
export const requestTarget = ({ method, originalUrl }: Pick<Request, 'method' | 'originalUrl'>): string =>
  `${method} ${originalUrl.split('?')[0]!.split('/').map((segment) => (segment.length >= SECRET_SEGMENT_LENGTH ? '…' : segment)).join('/')}`;

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
    windowMs: PER_MINUTE_WINDOW_MS,
    limit: perMinute,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    ...(skip ? { skip } : {}),
    keyGenerator: async (req) => {
      const subject = await subjectOf(req);
      return subject === null ? `ip:${ipKeyGenerator(req.ip ?? 'unknown')}` : `user:${subject}`;
    },
    handler: (req, _res, next) => {
      const retryAfterSeconds = secondsUntilReset(req, PER_MINUTE_WINDOW_MS);
      noteSecurityEvent(req, { kind: 'rate_limited', detail: `${what}: more than ${perMinute} a minute; ${retryAfterSeconds} s left (${requestTarget(req)})` });
      next(new TooManyRequestsError(retryAfterSeconds, `Too many ${what}. Try again in ${formatWait(retryAfterSeconds)}.`));
    },
    // The library's own configuration warnings go to our structured log instead of the console.
    ...(logger
      ? { logger: { warn: (err: unknown, message?: string) => logger.warn({ err }, message ?? 'rate limit'), error: (err: unknown, message?: string) => logger.error({ err }, message ?? 'rate limit') } }
      : {}),
  });
}

/**
 * Guessing a signed-in user's own password (a stolen session asking to change it or to delete the account): only
 * the wrong passwords count, per user, with the sign-in limit and window. The route marks a wrong one by setting
 * `res.locals.wrongPassword`.
 */
export function createPasswordCheckRateLimit(config: Config): RequestHandler {
  return rateLimit({
    windowMs: LOGIN_WINDOW_MS,
    limit: config.rateLimits.loginPerWindow,
    skipSuccessfulRequests: true,
    requestWasSuccessful: (_req, res) => res.locals.wrongPassword !== true,
    standardHeaders: false,
    legacyHeaders: false,
    keyGenerator: (req) => `user:${req.user?.id ?? 0}`,
    handler: (req, _res, next) => {
      const seconds = secondsUntilReset(req, LOGIN_WINDOW_MS);
      noteSecurityEvent(req, { kind: 'login_locked', username: req.user?.username ?? null, detail: `too many wrong passwords of a signed-in user; ${seconds} s left (${requestTarget(req)})` });
      next(new TooManyRequestsError(seconds, `Too many wrong passwords. Try again in ${formatWait(seconds)}.`));
    },
  });
}
