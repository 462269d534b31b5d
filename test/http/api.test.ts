import assert from 'node:assert/strict';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import express from 'express';
import { decodeJwt, SignJWT } from 'jose';
import request from 'supertest';
import { createAccountsService } from '../../src/features/accounts/index.js';
import { deriveTokenKey, signToken } from '../../src/features/accounts/tokens.js';
import { errorHandler } from '../../src/http/error-handler.js';
import { apiRoute, createApiDocsRouter, createApiRoutes, z } from '../../src/http/openapi.js';
import { createLogger } from '../../src/logger.js';
import { postForm, signIn } from '../helpers/agent.js';
import { createTestApp, TEST_SESSION_SECRET } from '../helpers/test-app.js';

// The secret createTestApp gives the app; tokens signed here with the derived key are what the server would sign.

type Res = { status: number; body: any; headers: Record<string, string | string[] | undefined> };

async function tokenFor(app: express.Express, username: string, password: string): Promise<string> {
  const res = await request(app).post('/api/v1/auth/token').send({ username, password }).expect(200);
  return res.body.access_token as string;
}

const me = (app: express.Express, authorization?: string) => {
  const req = request(app).get('/api/v1/me');
  return authorization === undefined ? req : req.set('Authorization', authorization);
};

function assertUnauthorized(res: Res, code: string, message: RegExp) {
  assert.equal(res.status, 401, JSON.stringify(res.body));
  assert.equal(res.body.error.code, code);
  assert.match(res.body.error.message, message);
  assert.match(String(res.headers['www-authenticate']), /^Bearer realm="inkwell"/);
}

/** Flips one character in the middle of the signature (the last one may only carry padding bits). */
function tamperSignature(token: string): string {
  const [header, payload, signature] = token.split('.') as [string, string, string];
  const i = Math.floor(signature.length / 2);
  const flipped = signature[i] === 'A' ? 'B' : 'A';
  return `${header}.${payload}.${signature.slice(0, i)}${flipped}${signature.slice(i + 1)}`;
}

describe('API: tokens and Bearer authentication', () => {
  const t = createTestApp();
  after(() => t.close());
  const accounts = createAccountsService({ db: t.db, bcryptCost: t.config.bcryptCost });

  it('when the right username and password are posted, then a one-hour Bearer JWT comes back and /me names the user', async () => {
    const alice = await t.createUser({ username: 'alice' });
    const res = await request(t.app).post('/api/v1/auth/token').send({ username: 'alice', password: alice.password }).expect(200);
    assert.deepEqual(Object.keys(res.body).sort(), ['access_token', 'expires_in', 'token_type']);
    assert.equal(res.body.token_type, 'Bearer');
    assert.equal(res.body.expires_in, 3600);
    assert.equal(res.headers['cache-control'], 'no-store');

    const claims = decodeJwt(res.body.access_token);
    assert.equal(claims.sub, String(alice.id));
    assert.equal(claims.iss, 'inkwell');
    assert.equal(claims.aud, 'inkwell');
    assert.equal(claims.exp! - claims.iat!, 3600);

    const who = await me(t.app, `Bearer ${res.body.access_token}`).expect(200);
    assert.deepEqual(who.body, { id: alice.id, username: 'alice', role: 'user' });
  });

  it('when the token is signed with the session secret itself, then it is refused (the JWT key is derived, not the cookie key)', async () => {
    const user = await t.createUser();
    const raw = await signToken(new TextEncoder().encode(TEST_SESSION_SECRET), user.id);
    assertUnauthorized(await me(t.app, `Bearer ${raw}`), 'invalid_token', /invalid/);
  });

  it('when the password is wrong or the user unknown, then 401 with the same message', async () => {
    const bob = await t.createUser({ username: 'bob' });
    const wrong = await request(t.app).post('/api/v1/auth/token').send({ username: 'bob', password: `${bob.password}x` });
    const unknown = await request(t.app).post('/api/v1/auth/token').send({ username: 'nobody-here', password: bob.password });
    for (const res of [wrong, unknown]) {
      assert.equal(res.status, 401);
      assert.deepEqual(res.body, { error: { code: 'invalid_credentials', message: 'Incorrect username or password.' } });
      assert.match(String(res.headers['www-authenticate']), /^Bearer/);
    }
  });

  it('when a disabled user asks for a token, then 401 invalid_credentials', async () => {
    const carol = await t.createUser();
    accounts.users.setDisabled(carol.id, true);
    const res = await request(t.app).post('/api/v1/auth/token').send({ username: carol.username, password: carol.password }).expect(401);
    assert.equal(res.body.error.code, 'invalid_credentials');
  });

  it('when no Authorization header is sent, then 401 says how to authenticate', async () => {
    assertUnauthorized(await me(t.app), 'authentication_required', /Authentication required: send Authorization: Bearer <token> \(POST \/api\/v1\/auth\/token\)/);
  });

  it('when the Authorization header is malformed, then 401 says what it must look like', async () => {
    const user = await t.createUser();
    const token = await tokenFor(t.app, user.username, user.password);
    for (const header of ['Basic dXNlcjpwYXNz', 'Bearer', `Bearer ${token} extra`, 'Bearer not-a-jwt', token]) {
      const res = await me(t.app, header);
      assertUnauthorized(res, 'invalid_authorization_header', /must be "Bearer <token>"/);
      assert.match(String(res.headers['www-authenticate']), /error="invalid_request"/);
    }
  });

  it('when the token signature or payload was altered, then 401 invalid token', async () => {
    const user = await t.createUser();
    const other = await t.createUser();
    const token = await tokenFor(t.app, user.username, user.password);
    await me(t.app, `Bearer ${token}`).expect(200);

    const tampered = tamperSignature(token);
    assert.notEqual(tampered, token);
    assertUnauthorized(await me(t.app, `Bearer ${tampered}`), 'invalid_token', /invalid/);

    // Claiming to be someone else with the original signature.
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    const forged = Buffer.from(JSON.stringify({ ...claims, sub: String(other.id) })).toString('base64url');
    const res = await me(t.app, `Bearer ${header}.${forged}.${signature}`);
    assertUnauthorized(res, 'invalid_token', /invalid/);
    assert.match(String(res.headers['www-authenticate']), /error="invalid_token"/);
  });

  it('when a token is signed with another key, has alg none, or the wrong audience, then 401 invalid token', async () => {
    const user = await t.createUser();
    const foreign = await signToken(deriveTokenKey('some-other-secret-that-is-long-enough!!'), user.id);
    assertUnauthorized(await me(t.app, `Bearer ${foreign}`), 'invalid_token', /invalid/);

    const none = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${Buffer.from(JSON.stringify({ sub: String(user.id), iss: 'inkwell', aud: 'inkwell', iat: 1, exp: 9999999999 })).toString('base64url')}.x`;
    assertUnauthorized(await me(t.app, `Bearer ${none}`), 'invalid_token', /invalid/);

    const otherAudience = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(String(user.id))
      .setIssuer('inkwell')
      .setAudience('someone-else')
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(deriveTokenKey(TEST_SESSION_SECRET));
    assertUnauthorized(await me(t.app, `Bearer ${otherAudience}`), 'invalid_token', /invalid/);
  });

  it('when the token has expired, then 401 says to request a new one', async () => {
    const user = await t.createUser();
    const expired = await signToken(deriveTokenKey(TEST_SESSION_SECRET), user.id, { now: new Date(Date.now() - 2 * 3600 * 1000) });
    const res = await me(t.app, `Bearer ${expired}`);
    assertUnauthorized(res, 'token_expired', /The token has expired; request a new one/);
    // The same key signs a fresh one that works, so the 401 above is about time, not the key.
    const fresh = await signToken(deriveTokenKey(TEST_SESSION_SECRET), user.id);
    await me(t.app, `Bearer ${fresh}`).expect(200);
  });

  it('when a token that was accepted before expires, then it is refused (a verified token is not trusted past its exp)', async () => {
    const user = await t.createUser();
    // Issued almost an hour ago: valid for another 0.5 to 1.5 s (iat and exp are whole seconds).
    const expiring = await signToken(deriveTokenKey(TEST_SESSION_SECRET), user.id, { now: new Date(Date.now() - 3600 * 1000 + 1500) });
    await me(t.app, `Bearer ${expiring}`).expect(200);
    await new Promise((resolve) => setTimeout(resolve, 1600));
    assertUnauthorized(await me(t.app, `Bearer ${expiring}`), 'token_expired', /The token has expired/);
  });

  it('when the account is disabled or deleted after the token was issued, then the token stops working', async () => {
    const dave = await t.createUser();
    const erin = await t.createUser();
    const daveToken = await tokenFor(t.app, dave.username, dave.password);
    const erinToken = await tokenFor(t.app, erin.username, erin.password);
    await me(t.app, `Bearer ${daveToken}`).expect(200);

    accounts.users.setDisabled(dave.id, true);
    assertUnauthorized(await me(t.app, `Bearer ${daveToken}`), 'account_unavailable', /no longer exists or is disabled/);

    accounts.users.remove(erin.id);
    assertUnauthorized(await me(t.app, `Bearer ${erinToken}`), 'account_unavailable', /no longer exists or is disabled/);
  });

  it('when the password is changed after the token was issued, then the token stops working and a new one works', async () => {
    const frank = await t.createUser();
    const issuedLastMinute = await signToken(deriveTokenKey(TEST_SESSION_SECRET), frank.id, { now: new Date(Date.now() - 60_000) });
    await me(t.app, `Bearer ${issuedLastMinute}`).expect(200);

    await accounts.changePassword(frank.id, frank.password, 'a brand new password', 'a brand new password');
    assertUnauthorized(await me(t.app, `Bearer ${issuedLastMinute}`), 'token_revoked', /password of this account was changed/);

    const fresh = await tokenFor(t.app, frank.username, 'a brand new password');
    await me(t.app, `Bearer ${fresh}`).expect(200);
  });

  it('when the body is invalid, then 422 names each field', async () => {
    const res = await request(t.app).post('/api/v1/auth/token').send({ username: '   ', password: 42 }).expect(422);
    assert.equal(res.body.error.code, 'validation_failed');
    assert.deepEqual(Object.keys(res.body.error.fields).sort(), ['password', 'username']);
    assert.equal(res.body.error.fields.username, 'Enter your username.');

    const empty = await request(t.app).post('/api/v1/auth/token').expect(422);
    assert.deepEqual(Object.keys(empty.body.error.fields).sort(), ['password', 'username']);
  });
});

describe('API: no cookies, no CSRF', () => {
  const t = createTestApp();
  after(() => t.close());

  it('when API requests are made, signed in on the web or not, then no Set-Cookie is ever sent and the cookie does not authenticate', async () => {
    const user = await t.createUser();
    const agent = await signIn(t.app, user);
    const responses: Res[] = [
      await agent.post('/api/v1/auth/token').send({ username: user.username, password: user.password }),
      await agent.post('/api/v1/auth/token').send({ username: user.username, password: 'wrong password!' }),
      await agent.get('/api/v1/me'),
      await agent.get('/api/openapi.json'),
      await agent.get('/api/docs'),
      await agent.get('/api/nothing-here'),
      await request(t.app).get('/api/v1/me'),
    ];
    assert.deepEqual(responses.map((r) => r.status), [200, 401, 401, 200, 200, 404, 401]);
    for (const res of responses) assert.equal(res.headers['set-cookie'], undefined);
    // The session cookie is ignored under /api: /me asks for a Bearer token although the agent is signed in.
    assert.equal(responses[2]!.body.error.code, 'authentication_required');
    // …and the web side does set cookies, so the check above can fail.
    assert.ok((await request(t.app).get('/login')).headers['set-cookie']);
  });

  it('when a POST comes without a CSRF token, JSON or form-encoded, then the API still answers', async () => {
    const user = await t.createUser();
    await request(t.app).post('/api/v1/auth/token').send({ username: user.username, password: user.password }).expect(200);
    await request(t.app).post('/api/v1/auth/token').type('form').send({ username: user.username, password: user.password }).expect(200);
  });

  it('when an /api path does not exist, then 404 JSON', async () => {
    for (const res of [await request(t.app).get('/api/v2/whatever'), await request(t.app).get('/api/v1/auth/token'), await request(t.app).delete('/api/v1/me')]) {
      assert.equal(res.status, 404);
      assert.match(String(res.headers['content-type']), /application\/json/);
      assert.equal(res.body.error.code, 'not_found');
    }
  });
});

describe('API: rate limits', () => {
  it('when the token endpoint gets too many failed attempts, then 429 with Retry-After, even for the right password', async (ctx) => {
    const t = createTestApp({ env: { LOGIN_RATE_LIMIT: '2' } });
    ctx.after(() => t.close());
    const user = await t.createUser();
    for (let i = 0; i < 2; i++) {
      await request(t.app).post('/api/v1/auth/token').send({ username: user.username, password: 'not the password' }).expect(401);
    }
    const res = await request(t.app).post('/api/v1/auth/token').send({ username: user.username, password: user.password }).expect(429);
    assert.equal(res.body.error.code, 'too_many_requests');
    assert.ok(Number(res.headers['retry-after']) > 0);
    assert.match(res.body.error.message, /Try again in/);
  });

  it('when a password was guessed wrong on the login form, then those failures count against the token endpoint too', async (ctx) => {
    const t = createTestApp({ env: { LOGIN_RATE_LIMIT: '2' } });
    ctx.after(() => t.close());
    const user = await t.createUser();
    const agent = request.agent(t.app);
    for (let i = 0; i < 2; i++) {
      assert.equal((await postForm(agent, '/login', { username: user.username, password: 'not the password' })).status, 401);
    }
    await request(t.app).post('/api/v1/auth/token').send({ username: user.username, password: user.password }).expect(429);
  });

  it('when one token subject goes over the per-minute API limit, then 429 with Retry-After, and other clients are not affected', async (ctx) => {
    const t = createTestApp({ env: { API_RATE_LIMIT: '3' } });
    ctx.after(() => t.close());
    const user = await t.createUser();
    const token = await tokenFor(t.app, user.username, user.password); // 1 of 3 for this address
    for (let i = 0; i < 3; i++) await me(t.app, `Bearer ${token}`).expect(200);
    const limited = await me(t.app, `Bearer ${token}`).expect(429);
    assert.equal(limited.body.error.code, 'too_many_requests');
    const retryAfter = Number(limited.headers['retry-after']);
    assert.ok(retryAfter > 0 && retryAfter <= 60, `Retry-After ${retryAfter}`);

    // The same address without a token has its own allowance (2 left), then it too is stopped.
    await request(t.app).get('/api/openapi.json').expect(200);
    await request(t.app).get('/api/v1/nothing').expect(404);
    await request(t.app).get('/api/openapi.json').expect(429);
    // A forged token does not buy a fresh allowance: its subject is not trusted.
    await me(t.app, `Bearer ${tamperSignature(token)}`).expect(429);
  });
});

describe('API: OpenAPI document and docs', () => {
  const t = createTestApp();
  after(() => t.close());

  it('when /api/openapi.json is fetched, then it is an OpenAPI 3 document with the token and /me endpoints and bearerAuth', async () => {
    const doc = (await request(t.app).get('/api/openapi.json').expect(200).expect('Content-Type', /json/)).body;
    assert.match(doc.openapi, /^3\.\d+\.\d+$/);
    assert.ok(doc.info.title && doc.info.version);
    assert.deepEqual(doc.components.securitySchemes.bearerAuth, {
      type: 'http',
      scheme: 'bearer',
      bearerFormat: 'JWT',
      description: doc.components.securitySchemes.bearerAuth.description,
    });

    const token = doc.paths['/api/v1/auth/token'].post;
    assert.deepEqual(token.security, []);
    assert.equal(token.requestBody.content['application/json'].schema.$ref, '#/components/schemas/TokenRequest');
    assert.deepEqual(doc.components.schemas.TokenRequest.required, ['username', 'password']);
    assert.ok(token.responses['200'] && token.responses['401'] && token.responses['422'] && token.responses['429']);

    const meOp = doc.paths['/api/v1/me'].get;
    assert.deepEqual(meOp.security, [{ bearerAuth: [] }]);
    assert.deepEqual(doc.components.schemas.Me.required, ['id', 'username', 'role']);
    assert.equal(meOp.responses['401'].content['application/json'].schema.$ref, '#/components/schemas/Error');

    // Structural validity: every operation has responses with descriptions and every $ref resolves.
    for (const [route, item] of Object.entries<any>(doc.paths)) {
      assert.match(route, /^\/api\//);
      for (const op of Object.values<any>(item)) {
        for (const response of Object.values<any>(op.responses)) assert.equal(typeof response.description, 'string');
      }
    }
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/(\w+)\/(\w+)"/g)];
    assert.ok(refs.length > 0);
    for (const [, kind, name] of refs) assert.ok(doc.components[kind!]?.[name!], `unresolved $ref ${kind}/${name}`);
  });

  it('when /api/docs is opened, then the page loads only local scripts, no inline script, and only its styles may be inline', async () => {
    const res = await request(t.app).get('/api/docs').expect(200).expect('Content-Type', /html/);
    const scripts = [...res.text.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
    assert.ok(scripts.length >= 2);
    for (const [, attributes, body] of scripts) {
      const src = /src="([^"]+)"/.exec(attributes!)?.[1];
      assert.ok(src && src.startsWith('/') && !src.startsWith('//'), `non-local script ${attributes}`);
      assert.equal(body!.trim(), '', 'inline script');
    }
    assert.ok(res.text.includes('/js/swagger-init.js'));
    const csp = String(res.headers['content-security-policy']);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.match(csp, /style-src 'self' 'unsafe-inline'/);

    for (const [, attributes] of scripts) {
      const src = /src="([^"]+)"/.exec(attributes!)![1]!;
      await request(t.app).get(src).expect(200).expect('Content-Type', /javascript/);
    }
    await request(t.app).get('/api/docs/assets/swagger-ui.css').expect(200).expect('Content-Type', /css/);
    await request(t.app).get('/api/docs/assets/index.html').expect(404);
    // The relaxation is for the docs page only.
    const elsewhere = await request(t.app).get('/api/openapi.json');
    assert.doesNotMatch(String(elsewhere.headers['content-security-policy']), /unsafe-inline/);
    assert.doesNotMatch(String((await request(t.app).get('/')).headers['content-security-policy']), /unsafe-inline/);
  });
});

describe('apiRoute: one declaration gives the route and its documentation', () => {
  const api = createApiRoutes({
    requireApiUser: (req, _res, next) => {
      req.user = { id: 7, username: 'tester', role: 'user' };
      next();
    },
    uploadLimits: { maxFileBytes: 1024, maxFiles: 1, incomingDir: path.join(os.tmpdir(), 'inkwell-api-test-incoming') },
  });
  apiRoute(
    api,
    {
      method: 'get',
      path: '/v1/things/:id',
      auth: true,
      summary: 'A thing',
      params: z.object({ id: z.coerce.number().int().positive() }),
      query: z.object({ detail: z.enum(['short', 'long']).default('short') }),
      responses: { 200: { description: 'The thing', schema: z.object({ id: z.number(), detail: z.string(), owner: z.number() }) } },
    },
    ({ params, query, user }) => ({ id: params.id, detail: query.detail, owner: user.id }),
  );
  apiRoute(
    api,
    {
      method: 'post',
      path: '/v1/uploads',
      auth: true,
      summary: 'An upload',
      body: z.object({ label: z.string().min(1) }),
      multipart: { files: { image: 'The picture' } },
      responses: { 201: { description: 'Stored', schema: z.object({ label: z.string(), files: z.number() }) } },
    },
    ({ body, req }) => ({ label: body.label, files: (req.files as unknown[]).length }),
  );
  const app = express();
  app.use('/api', api.router, createApiDocsRouter(api.document));
  app.use(errorHandler(createLogger('silent'), 1024));

  it('when params and query are valid, then the handler gets them parsed; when not, 422 names them', async () => {
    assert.deepEqual((await request(app).get('/api/v1/things/12?detail=long').expect(200)).body, { id: 12, detail: 'long', owner: 7 });
    const bad = await request(app).get('/api/v1/things/zero?detail=huge').expect(422);
    assert.deepEqual(Object.keys(bad.body.error.fields).sort(), ['detail', 'id']);
  });

  it('when a multipart route is declared, then files are parsed after authentication and the text fields validated', async () => {
    const ok = await request(app).post('/api/v1/uploads').field('label', 'x').attach('image', Buffer.from('abc'), 'a.png').expect(201);
    assert.deepEqual(ok.body, { label: 'x', files: 1 });
    await request(app).post('/api/v1/uploads').attach('image', Buffer.from('abc'), 'a.png').expect(422);
    await request(app).post('/api/v1/uploads').send({ label: 'x' }).expect(415);
    await request(app).post('/api/v1/uploads').field('label', 'x').attach('image', Buffer.alloc(2048), 'big.png').expect(413);
  });

  it('when the document is generated, then it holds both routes with their parameters, bodies and security', async () => {
    const doc = (await request(app).get('/api/openapi.json').expect(200)).body;
    const thing = doc.paths['/api/v1/things/{id}'].get;
    assert.deepEqual(thing.parameters.map((p: { in: string; name: string }) => `${p.in}:${p.name}`).sort(), ['path:id', 'query:detail']);
    assert.deepEqual(thing.security, [{ bearerAuth: [] }]);
    assert.ok(thing.responses['422'] && thing.responses['401']);
    const upload = doc.paths['/api/v1/uploads'].post;
    const schema = upload.requestBody.content['multipart/form-data'].schema;
    assert.equal(schema.properties.image.format, 'binary');
    assert.equal(schema.properties.label.type, 'string');
    assert.ok(upload.responses['201']);
  });
});
