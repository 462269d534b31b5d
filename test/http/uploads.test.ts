import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { bearerFor, csrfToken, signIn, type Agent } from '../helpers/agent.js';
import { requestTarget } from '../../src/http/rate-limit.js';
import { pngImage } from '../helpers/images.js';
import { createTestApp } from '../helpers/test-app.js';

// These post to a path without a route: what is checked is the shared plumbing every upload form goes
// through (multer parses first, then the CSRF check reads `_csrf`), apart from any feature.
describe('multipart forms', () => {
  const t = createTestApp({ env: { UPLOAD_MAX_FILE_MB: '1', UPLOAD_MAX_FILES: '2' } });
  let agent: Agent;
  before(async () => {
    const user = await t.createUser();
    agent = await signIn(t.app, user);
  });
  after(() => t.close());

  const png = Buffer.from('89504e470d0a1a0a', 'hex');

  it('when a signed-in upload form has no CSRF token or a wrong one, then 403', async () => {
    await agent.post('/uploads-probe').attach('file', png, 'a.png').expect(403);
    await agent.post('/uploads-probe').field('_csrf', 'forged').attach('file', png, 'a.png').expect(403);
  });

  it('when a signed-in upload form carries its CSRF token as a multipart field, then it passes the CSRF check', async () => {
    const token = await csrfToken(agent, '/account');
    // Past the CSRF check, the request reaches routing: 404 because no route takes it.
    await agent.post('/uploads-probe').field('_csrf', token).attach('file', png, 'a.png').expect(404);
  });

  it('when a file is over UPLOAD_MAX_FILE_MB or there are too many files, then 413 with a message saying the limit', async () => {
    const token = await csrfToken(agent, '/account');
    const big = await agent.post('/uploads-probe').field('_csrf', token).attach('file', Buffer.alloc(1024 * 1024 + 1), 'big.png').expect(413);
    assert.match(big.text, /at most 1 MB/);
    const many = agent.post('/uploads-probe').field('_csrf', token);
    for (let i = 0; i < 3; i++) many.attach('files', png, `f${i}.png`);
    await many.expect(413);
  });

  it('when a multipart body is cut off or has no boundary (a dropped connection, a broken client), then 400 saying so, page and API, and nothing is left behind', async () => {
    const cutOff = '--xx\r\nContent-Disposition: form-data; name="images"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n' + 'A'.repeat(50_000);
    const token = await csrfToken(agent, '/account');
    const page = await agent.post('/images').set('Accept', 'application/json').set('X-CSRF-Token', token).set('Content-Type', 'multipart/form-data; boundary=xx').send(cutOff).expect(400);
    assert.match(page.body.error.message, /could not be read: it was cut off/);
    const bearer = await bearerFor(t.app, await t.createUser({ username: 'client' }));
    for (const [type, body] of [['multipart/form-data; boundary=xx', cutOff], ['multipart/form-data', 'x']]) {
      const api = await request(t.app).post('/api/v1/images').set('Authorization', bearer).set('Content-Type', type!).send(body).expect(400);
      assert.equal(api.body.error.code, 'bad_request');
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(readdirSync(t.store.incomingDir), [], 'no received file is left');
  });
});

describe('web rate limit (WEB_RATE_LIMIT)', () => {
  const t = createTestApp({ env: { WEB_RATE_LIMIT: '3', API_RATE_LIMIT: '1000' } });
  after(() => t.close());

  const uploadImage = (agent: Agent, token: string, png: Buffer, name: string) =>
    agent.post('/images').set('Accept', 'application/json').field('_csrf', token).attach('images', png, name);

  it('when one account uploads more than the limit in a minute, then 429 with Retry-After before the file is stored, pages still open, and others are not affected', async () => {
    const pngs = await Promise.all([1, 2, 3, 4, 5].map((seed) => pngImage(32, 32, seed)));
    const alice = await t.createUser();
    const bob = await t.createUser();
    const agent = await signIn(t.app, alice); // the login counted against the address, not against alice
    const token = await csrfToken(agent, '/images');
    for (let i = 0; i < 3; i++) await uploadImage(agent, token, pngs[i]!, `p${i}.png`).expect(201);

    const limited = await uploadImage(agent, token, pngs[3]!, 'p3.png').expect(429);
    assert.equal(limited.body.error.code, 'too_many_requests');
    assert.match(limited.body.error.message, /Too many changes and uploads\. Try again in \d+ seconds?\./);
    const retryAfter = Number(limited.headers['retry-after']);
    assert.ok(retryAfter > 0 && retryAfter <= 60, `Retry-After ${retryAfter}`);
    const gallery = await agent.get('/images').expect(200);
    assert.match(gallery.text, /p2\.png/);
    assert.doesNotMatch(gallery.text, /p3\.png/, 'the refused upload stored nothing');
    // A form posted without JavaScript gets the error page, with the same message.
    const page = await agent.post('/images/delete').type('form').send({ _csrf: token }).expect(429);
    assert.match(page.text, /Too many changes and uploads/);
    // Admin → Security names what was refused; the limit answers before routing, so the path is in the detail.
    t.flushRequestLog();
    const events = t.db.prepare("SELECT detail FROM security_events WHERE kind = 'rate_limited' ORDER BY id").pluck().all() as string[];
    assert.deepEqual(events.map((detail) => detail.replace(/; \d+ s left/, '')), [
      'changes and uploads: more than 3 a minute (POST /images)',
      'changes and uploads: more than 3 a minute (POST /images/delete)',
    ]);

    const bobAgent = await signIn(t.app, bob);
    await uploadImage(bobAgent, await csrfToken(bobAgent, '/images'), pngs[4]!, 'p4.png').expect(201);
    // The API keeps its own allowance.
    const login = await request(t.app).post('/api/v1/auth/token').send({ username: alice.username, password: alice.password }).expect(200);
    await request(t.app).get('/api/v1/images').set('Authorization', `Bearer ${login.body.access_token}`).expect(200);
  });

  it('when a refused request carries a token in its path or query, then its security event leaves the token out', () => {
    const token = 'k3J9xQ2mVb7pLw4sT8rZy1nC';
    assert.equal(requestTarget({ method: 'POST', originalUrl: `/reset-password/${token}?next=/x` }), 'POST /reset-password/…');
    assert.equal(requestTarget({ method: 'POST', originalUrl: '/signers/12/verifications' }), 'POST /signers/12/verifications');
  });
});
