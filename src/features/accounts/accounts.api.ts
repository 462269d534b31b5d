import type { RequestHandler } from 'express';
import { ApiErrorSchema, apiRoute, z, type ApiRoutes } from '../../http/openapi.js';
import { noteSecurityEvent } from '../../http/security-events.js';
import { TokenAuthError, type TokenService } from './tokens.js';

// Sign-in input is not checked against the registration rules (an old account may predate them); only that
// both fields are there and short enough to be worth a bcrypt comparison.
const TokenRequestSchema = z
  .object({
    username: z.string({ error: 'Enter your username.' }).trim().min(1, { error: 'Enter your username.' }).max(64, { error: 'A username has at most 64 characters.' }),
    password: z.string({ error: 'Enter your password.' }).min(1, { error: 'Enter your password.' }).max(1024, { error: 'The password is too long.' }),
  })
  .openapi('TokenRequest', { example: { username: 'alice', password: 'correct horse battery' } });

const TokenResponseSchema = z
  .object({
    access_token: z.string().openapi({ description: 'A JWT; send it as `Authorization: Bearer <access_token>`.' }),
    token_type: z.literal('Bearer'),
    expires_in: z.number().int().openapi({ description: 'Seconds until the token expires.', example: 3600 }),
  })
  .openapi('TokenResponse');

const MeSchema = z
  .object({
    id: z.number().int().openapi({ example: 1 }),
    username: z.string().openapi({ example: 'alice' }),
    role: z.enum(['user', 'admin']),
  })
  .openapi('Me');

/** The API's sign-in (a token for a username and password) and who the token belongs to. */
export function declareAccountsApi(api: ApiRoutes, { tokens, loginRateLimit }: { tokens: TokenService; loginRateLimit: RequestHandler[] }): void {
  apiRoute(
    api,
    {
      method: 'post',
      path: '/v1/auth/token',
      auth: false,
      tags: ['Authentication'],
      summary: 'Exchange a username and password for an access token',
      description: 'The token is valid for one hour. Failed attempts are rate-limited per address and per username, like the sign-in page.',
      body: TokenRequestSchema,
      before: loginRateLimit,
      responses: {
        200: { description: 'A Bearer token', schema: TokenResponseSchema },
        401: { description: 'Incorrect username or password (the same answer for both).', schema: ApiErrorSchema },
      },
    },
    async ({ body, req }) => {
      try {
        return await tokens.issueForCredentials(body.username, body.password);
      } catch (err) {
        if (err instanceof TokenAuthError && err.failure === 'invalid_credentials') {
          noteSecurityEvent(req, { kind: 'login_failed', username: body.username, detail: 'API token request' });
        }
        throw err;
      }
    },
  );

  apiRoute(
    api,
    {
      method: 'get',
      path: '/v1/me',
      auth: true,
      tags: ['Authentication'],
      summary: 'The account the token belongs to',
      responses: { 200: { description: 'The signed-in account', schema: MeSchema } },
    },
    ({ user }) => ({ id: user.id, username: user.username, role: user.role }),
  );
}
