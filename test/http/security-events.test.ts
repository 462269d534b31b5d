import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { bearerFor, csrfToken, postForm, signIn, type Agent } from '../helpers/agent.js';
import { pngImage } from '../helpers/images.js';
import { createTestApp } from '../helpers/test-app.js';

interface EventRow {
  kind: string;
  user_id: number | null;
  username: string | null;
  detail: string;
  client_ip: string | null;
  request_id: string | null;
}

describe('security events', () => {
  // Behind one trusted proxy: the client address is the last X-Forwarded-For hop.
  const t = createTestApp({ env: { LOGIN_RATE_LIMIT: '2', TRUST_PROXY: '1', STORAGE_QUOTA_MB: '1' } });
  let admin: Agent;
  let adminId: number;
  after(() => t.close());
  before(async () => {
    const boss = await t.createUser({ username: 'boss', role: 'admin' });
    adminId = boss.id;
    admin = await signIn(t.app, boss);
  });

  const eventsOf = (requestId: string | undefined) => {
    assert.ok(requestId, 'the response has an X-Request-Id');
    t.flushRequestLog();
    return t.db.prepare<[string], EventRow>('SELECT * FROM security_events WHERE request_id = ?').all(requestId);
  };

  it('when a sign-in fails on the page or the API, then the attempted username and the client address are recorded', async () => {
    const agent = request.agent(t.app);
    const token = await csrfToken(agent);
    const web = await agent.post('/login').set('X-Forwarded-For', '198.51.100.7').type('form').send({ username: 'Ghost', password: 'wrong password', _csrf: token }).expect(401);
    const api = await request(t.app).post('/api/v1/auth/token').set('X-Forwarded-For', '198.51.100.8').send({ username: 'boss', password: 'not the password' }).expect(401);
    assert.deepEqual(
      eventsOf(web.headers['x-request-id']).map((e) => [e.kind, e.username, e.client_ip, e.user_id]),
      [['login_failed', 'Ghost', '198.51.100.7', null]],
    );
    assert.deepEqual(eventsOf(api.headers['x-request-id']).map((e) => [e.kind, e.username, e.client_ip, e.detail]), [['login_failed', 'boss', '198.51.100.8', 'API token request']]);
  });

  it('when sign-ins are locked out (429), then each refusal is recorded with the username', async () => {
    let last: request.Response | undefined;
    for (let i = 0; i < 3; i++) {
      const agent = request.agent(t.app);
      const token = await csrfToken(agent);
      last = await agent.post('/login').set('X-Forwarded-For', `198.51.100.${20 + i}`).type('form').send({ username: 'victim', password: 'guess guess', _csrf: token });
    }
    assert.equal(last!.status, 429);
    assert.deepEqual(eventsOf(last!.headers['x-request-id']).map((e) => [e.kind, e.username]), [['login_locked', 'victim']]);
    assert.match(eventsOf(last!.headers['x-request-id'])[0]!.detail, /for this username/);
  });

  it('when a form comes without a valid CSRF token, then the failure is recorded with the signed-in user', async () => {
    await csrfToken(admin, '/admin/registration');
    const res = await admin.post('/admin/registration/policy').type('form').send({ policy: 'open', _csrf: 'forged' }).expect(403);
    assert.deepEqual(eventsOf(res.headers['x-request-id']).map((e) => [e.kind, e.user_id, e.detail]), [['csrf_failed', adminId, 'wrong token']]);
  });

  it('when uploads are refused (type, quota, size), on the page, by its script or by the API, then each is recorded with its reason', async () => {
    const user = await t.createUser({ username: 'uploader' });
    const agent = await signIn(t.app, user);
    const token = await csrfToken(agent, '/images');
    // The page without script: a flash; with script (Accept: JSON): the error handler.
    const form = await agent.post('/images').field('_csrf', token).attach('images', Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>'), 'drawing.svg').expect(302);
    const script = await agent.post('/images').set('Accept', 'application/json').field('_csrf', token).attach('images', Buffer.from('just text'), 'notes.png').expect(422);
    const bearer = await bearerFor(t.app, user);
    // 1 MB quota: a 1.2 MB image does not fit.
    const big = await pngImage(700, 600, 4);
    assert.ok(big.length > 1024 * 1024, `the test image is ${big.length} bytes`);
    const api = await request(t.app).post('/api/v1/images').set('Authorization', bearer).attach('images', big, 'big.png').expect(413);

    const [formEvent] = eventsOf(form.headers['x-request-id']);
    assert.equal(formEvent?.kind, 'upload_refused');
    assert.match(formEvent!.detail, /drawing\.svg: unsupported_type/);
    assert.equal(formEvent?.user_id, user.id);
    assert.match(eventsOf(script.headers['x-request-id'])[0]!.detail, /^image_refused \(422\): notes\.png: unsupported_type$/);
    assert.match(eventsOf(api.headers['x-request-id'])[0]!.detail, /payload_too_large \(413\): Not enough storage/);
  });

  it('when an admin opens the security page, then events are listed and can be filtered by kind, user and address', async () => {
    const all = await admin.get('/admin/events').expect(200);
    for (const kind of ['login_failed', 'login_locked', 'csrf_failed', 'upload_refused']) assert.match(all.text, new RegExp(`<tr data-event="${kind}">`), kind);

    const failed = await admin.get('/admin/events?kind=login_failed').expect(200);
    const kinds = [...failed.text.matchAll(/<tr data-event="([a-z_]+)">/g)].map((m) => m[1]);
    assert.ok(kinds.length >= 2 && kinds.every((k) => k === 'login_failed'), kinds.join());
    assert.match(failed.text, /tried “Ghost”/);

    const byAddress = await admin.get('/admin/events?ip=198.51.100.7').expect(200);
    assert.equal([...byAddress.text.matchAll(/<tr data-event=/g)].length, 1);
    const byUser = await admin.get('/admin/events?user=uploader').expect(200);
    const uploadKinds = [...byUser.text.matchAll(/<tr data-event="([a-z_]+)">/g)].map((m) => m[1]);
    assert.deepEqual([...new Set(uploadKinds)], ['upload_refused']);
    const bad = await admin.get('/admin/events?kind=everything').expect(200);
    assert.match(bad.text, /Ignored kind/);
  });

  it('when an error page shows a request id, then an admin finds exactly that request by it, with its address', async () => {
    const missing = await request(t.app).get('/no/such/page').set('X-Forwarded-For', '203.0.113.9').expect(404);
    const id = missing.headers['x-request-id']!;
    assert.ok(missing.text.includes(id), 'the error page shows the request id');
    // No flush here: the page writes the log's pending batch itself before reading it.
    const found = await admin.get(`/admin/requests?id=${id}`).expect(200);
    const rows = [...found.text.matchAll(/<tr data-request-id="([^"]+)">/g)].map((m) => m[1]);
    assert.deepEqual(rows, [id]);
    assert.match(found.text, /<td data-label="Address">203\.0\.113\.9<\/td>/);
    const invalid = await admin.get('/admin/requests?id=<script>').expect(200);
    assert.match(invalid.text, /Ignored id/);
  });

  it('when an admin promotes someone and opens the security events right away, then the action is already listed', async () => {
    const clerk = await t.createUser({ username: 'clerk' });
    const promoted = await postForm(admin, `/admin/users/${clerk.id}/role`, { role: 'admin' }, { page: `/admin/users/${clerk.id}` });
    assert.equal(promoted.status, 302);
    const page = await admin.get('/admin/events?user=clerk').expect(200);
    assert.match(page.text, /user\.promote/);
  });
});

describe('client address', () => {
  for (const [trustProxy, expected] of [
    ['1', '203.0.113.50'],
    ['false', '127.0.0.1'],
    ['10.0.0.0/8', '127.0.0.1'],
  ] as const) {
    it(`when TRUST_PROXY is ${trustProxy} and the request says X-Forwarded-For: 203.0.113.50, then the log records ${expected}`, async () => {
      const t = createTestApp({ env: { TRUST_PROXY: trustProxy } });
      try {
        const res = await request(t.app).get('/').set('X-Forwarded-For', '203.0.113.50').expect(200);
        t.flushRequestLog();
        const ip = t.db.prepare('SELECT client_ip FROM request_log WHERE request_id = ?').pluck().get(res.headers['x-request-id']);
        assert.equal(ip, expected);
      } finally {
        t.close();
      }
    });
  }
});
