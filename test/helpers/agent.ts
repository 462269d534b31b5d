import assert from 'node:assert/strict';
import type { Express } from 'express';
import request from 'supertest';
import { setupCodeOf } from './test-app.js';

export type Agent = ReturnType<typeof request.agent>;

/** The value of the first `_csrf` hidden field in an HTML page, or null. */
export function csrfFromHtml(html: string): string | null {
  return /name="_csrf" value="([^"]+)"/.exec(html)?.[1] ?? null;
}

/**
 * The agent's current CSRF token, read from a page that has a form. The token lives in the session and
 * is replaced at login and logout (the session is regenerated), so fetch it again after either.
 */
export async function csrfToken(agent: Agent, page = '/login'): Promise<string> {
  // Signed in, /login redirects home, where the nav's logout form carries the token.
  const res = await agent.get(page).redirects(1).expect(200);
  const token = csrfFromHtml(res.text);
  assert.ok(token, `no CSRF token on ${page}`);
  return token;
}

/**
 * Posts a form like a browser would: reads the agent's CSRF token from a page (any page with a form works,
 * signed in or not) and sends it with the fields. Returns the response unchecked (no redirects followed).
 */
export async function postForm(agent: Agent, path: string, fields: Record<string, string>, { page = '/login' }: { page?: string } = {}) {
  const token = await csrfToken(agent, page);
  return agent.post(path).type('form').send({ ...fields, _csrf: token });
}

/** A supertest agent signed in through the real login form (cookie session). Fails the test if the login fails. */
export async function signIn(app: Express, { username, password }: { username: string; password: string }): Promise<Agent> {
  const agent = request.agent(app);
  const token = await csrfToken(agent, '/login');
  const res = await agent.post('/login').type('form').send({ username, password, _csrf: token });
  assert.equal(res.status, 302, `login of ${username} failed with ${res.status}`);
  return agent;
}

/**
 * Registers through the real form and returns the agent, signed in as the new user. On a fresh app (no
 * administrator yet) the form asks for the setup code, which a test app exposes: that user becomes the
 * administrator, as the first account always did.
 */
export async function registerVia(app: Express, { username, password, invite }: { username: string; password: string; invite?: string }): Promise<Agent> {
  const agent = request.agent(app);
  const page = await agent.get(invite ? `/register?invite=${encodeURIComponent(invite)}` : '/register');
  const token = csrfFromHtml(page.text);
  assert.ok(token, 'no CSRF token on /register');
  const setupCode = page.text.includes('name="setupCode"') ? (setupCodeOf(app) ?? '') : undefined;
  const res = await agent
    .post('/register')
    .type('form')
    .send({ username, password, confirmPassword: password, _csrf: token, ...(setupCode !== undefined ? { setupCode } : {}), ...(invite ? { invite } : {}) });
  assert.equal(res.status, 302, `registration of ${username} failed with ${res.status}`);
  return agent;
}

/** An `Authorization` header value for the user, from the real token endpoint. */
export async function bearerFor(app: Express, { username, password }: { username: string; password: string }): Promise<string> {
  const res = await request(app).post('/api/v1/auth/token').send({ username, password }).expect(200);
  return `Bearer ${res.body.access_token as string}`;
}
