import type { RequestHandler } from 'express';
import { TokenAuthError, type TokenService } from '../features/accounts/tokens.js';
import { AppError } from './errors.js';

const REALM = 'inkwell';

/** 401 for a missing or unreadable Authorization header; the token itself is judged by the token service. */
class BearerHeaderError extends AppError {
  constructor(code: 'authentication_required' | 'invalid_authorization_header', message: string) {
    super(401, code, message);
  }
}

/**
 * The token part of `Authorization: Bearer <token>`. A JWT in compact form is three base64url segments;
 * anything else is refused here with a message that says what the header should look like.
 */
export function bearerToken(header: string | undefined): string {
  if (!header) {
    throw new BearerHeaderError('authentication_required', 'Authentication required: send Authorization: Bearer <token> (POST /api/v1/auth/token).');
  }
  const match = /^Bearer +([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+) *$/i.exec(header);
  if (!match) {
    throw new BearerHeaderError('invalid_authorization_header', 'The Authorization header is malformed: it must be "Bearer <token>", with the token from POST /api/v1/auth/token.');
  }
  return match[1]!;
}

/** RFC 6750 asks every 401 from a protected resource to say which scheme, and why, in WWW-Authenticate. */
function challenge(err: unknown): string {
  if (err instanceof BearerHeaderError) {
    return err.code === 'authentication_required' ? `Bearer realm="${REALM}"` : `Bearer realm="${REALM}", error="invalid_request"`;
  }
  const description = err instanceof TokenAuthError ? `, error_description="${err.message.replaceAll('"', "'")}"` : '';
  return `Bearer realm="${REALM}", error="invalid_token"${description}`;
}

/**
 * `requireApiUser`: authenticates an API request by its Bearer token only (never a cookie) and sets req.user,
 * which the request log records. Every refusal is a 401 JSON error with its own code and message.
 */
export function createRequireApiUser(tokens: Pick<TokenService, 'authenticate'>): RequestHandler {
  return async (req, res, next) => {
    try {
      req.user = await tokens.authenticate(bearerToken(req.headers.authorization));
    } catch (err) {
      if (err instanceof BearerHeaderError || err instanceof TokenAuthError) res.setHeader('WWW-Authenticate', challenge(err));
      throw err;
    }
    next();
  };
}
