import { createHmac } from 'node:crypto';
import { SignJWT, errors as joseErrors, jwtVerify } from 'jose';
import { AppError } from '../../http/errors.js';
import type { AccountsService, AccountUser } from './accounts.service.js';

/** Both the issuer and the audience of every API token: a token from another system is refused. */
export const TOKEN_ISSUER = 'inkwell';
export const TOKEN_AUDIENCE = 'inkwell';
export const TOKEN_LIFETIME_SECONDS = 60 * 60;

// A fixed label, so that the JWT key is derived from the app secret but is never the cookie-signing key itself:
// a leaked token key does not let anyone forge session cookies, and the other way round.
const KEY_LABEL = 'inkwell/api-token-signing-key/v1';

/** The HS256 key for API tokens: HMAC-SHA256 of a fixed label under the app's secret. */
export function deriveTokenKey(tokenSecret: string): Uint8Array {
  return new Uint8Array(createHmac('sha256', tokenSecret).update(KEY_LABEL).digest());
}

/** Signs a token for a user id. `now` and `lifetimeSeconds` are parameters so tests can make expired tokens. */
export async function signToken(key: Uint8Array, userId: number, { now = new Date(), lifetimeSeconds = TOKEN_LIFETIME_SECONDS } = {}): Promise<string> {
  const iat = Math.floor(now.getTime() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(String(userId))
    .setIssuer(TOKEN_ISSUER)
    .setAudience(TOKEN_AUDIENCE)
    .setIssuedAt(iat)
    .setExpirationTime(iat + lifetimeSeconds)
    .sign(key);
}

/** Why a credential or token was refused; each code has its own message for the API client. */
export type TokenFailure = 'invalid_credentials' | 'invalid_token' | 'token_expired' | 'token_revoked' | 'account_unavailable' | 'password_change_required';

const failureMessages: Record<TokenFailure, string> = {
  invalid_credentials: 'Incorrect username or password.',
  invalid_token: 'The token is invalid: it was not issued by this server or has been altered.',
  token_expired: 'The token has expired; request a new one with POST /api/v1/auth/token.',
  token_revoked: 'The password of this account was changed after the token was issued; request a new one with POST /api/v1/auth/token.',
  account_unavailable: 'The account this token was issued to no longer exists or is disabled.',
  password_change_required: 'This account has a temporary password from an administrator: sign in on the website and choose your own first.',
};

export class TokenAuthError extends AppError {
  constructor(readonly failure: TokenFailure) {
    super(401, failure, failureMessages[failure]);
  }
}

export interface IssuedToken {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
}

export type TokenService = ReturnType<typeof createTokenService>;

/** Verified tokens remembered at most (a few hundred bytes each). */
const VERIFIED_TOKENS_KEPT = 10_000;

export function createTokenService({ tokenSecret, accounts }: { tokenSecret: string; accounts: Pick<AccountsService, 'verifyCredentials' | 'findActiveUser' | 'passwordChangedSince'> }) {
  const key = deriveTokenKey(tokenSecret);
  /**
   * Tokens whose signature was verified, with their claims, until they expire. jose verifies HS256 through
   * WebCrypto (a key import and an asynchronous HMAC each time), and every API request needs the claims twice
   * (rate limit, then authentication): measured, that was the largest cost of a digit prediction on the main
   * thread. Only the signature check is skipped on a hit: expiry is checked on every use, and revocation
   * (password change) and the account's state are checked by authenticate() each time, as before.
   */
  const verified = new Map<string, { userId: number; issuedAt: number; expiresAt: number }>();

  /** The user id a token was signed for; throws TokenAuthError when the signature, issuer, audience or time is wrong. */
  async function verifiedClaims(token: string): Promise<{ userId: number; issuedAt: number }> {
    const known = verified.get(token);
    if (known && known.expiresAt > Date.now() / 1000) return known;
    if (known) {
      verified.delete(token);
      throw new TokenAuthError('token_expired');
    }
    const claims = await verifySignature(token);
    if (verified.size >= VERIFIED_TOKENS_KEPT) verified.delete(verified.keys().next().value!);
    verified.set(token, claims);
    return claims;
  }

  async function verifySignature(token: string): Promise<{ userId: number; issuedAt: number; expiresAt: number }> {
    try {
      const { payload } = await jwtVerify(token, key, {
        algorithms: ['HS256'],
        issuer: TOKEN_ISSUER,
        audience: TOKEN_AUDIENCE,
        requiredClaims: ['sub', 'iat', 'exp'],
      });
      const id = Number(payload.sub);
      if (!Number.isSafeInteger(id) || id <= 0) throw new TokenAuthError('invalid_token');
      return { userId: id, issuedAt: payload.iat!, expiresAt: payload.exp! };
    } catch (err) {
      if (err instanceof TokenAuthError) throw err;
      if (err instanceof joseErrors.JWTExpired) throw new TokenAuthError('token_expired');
      if (err instanceof joseErrors.JOSEError) throw new TokenAuthError('invalid_token');
      throw err;
    }
  }

  return {
    /** A token for a username and password; the same error for an unknown user and a wrong password. */
    async issueForCredentials(username: string, password: string): Promise<IssuedToken> {
      const user = await accounts.verifyCredentials(username, password);
      if (!user) throw new TokenAuthError('invalid_credentials');
      if (user.mustChangePassword) throw new TokenAuthError('password_change_required');
      return { access_token: await signToken(key, user.id), token_type: 'Bearer', expires_in: TOKEN_LIFETIME_SECONDS };
    },

    /** The active user behind a token; a disabled or deleted account is refused even while its token is unexpired. */
    async authenticate(token: string): Promise<AccountUser> {
      const { userId, issuedAt } = await verifiedClaims(token);
      const user = accounts.findActiveUser(userId);
      if (!user) throw new TokenAuthError('account_unavailable');
      if (accounts.passwordChangedSince(userId, issuedAt)) throw new TokenAuthError('token_revoked');
      return user;
    },

    /** The user id of a validly signed token, or null: used to key the API rate limit without a database query. */
    async subjectOrNull(token: string): Promise<number | null> {
      return verifiedClaims(token).then(({ userId }) => userId, () => null);
    },
  };
}
