import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import express from 'express';
import request from 'supertest';
import { CLIENT_CLOSED_STATUS, createRequestLog, createRequestLogWriter, UNMATCHED_ROUTE, type RequestLogEntry } from '../../src/http/request-log.js';
import { errorHandler } from '../../src/http/error-handler.js';
import { requestContext } from '../../src/http/request-context.js';
import { createLogger } from '../../src/logger.js';
import { csrfToken, signIn } from '../helpers/agent.js';
import { createTestApp } from '../helpers/test-app.js';

interface LogRow {
  at: number;
  user_id: number | null;
  method: string;
  route: string;
  status: number;
  duration_ms: number;
  bytes: number;
  request_id: string;
}

type TestApp = ReturnType<typeof createTestApp>;

/** The log row of one response (found by its X-Request-Id), waiting for the request log's 1 s batch to be written. */
async function logRowFor(t: TestApp, requestId: string | undefined): Promise<LogRow> {
  assert.ok(requestId, 'the response has an X-Request-Id');
  const query = t.db.prepare<[string], LogRow>('SELECT * FROM request_log WHERE request_id = ?');
  for (let waited = 0; waited < 4000; waited += 100) {
    const row = query.get(requestId);
    if (row) return row;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.fail(`no request_log row for ${requestId}`);
}

const silent = createLogger('silent');

describe('request log in the app', () => {
  const t = createTestApp();
  after(() => t.close());

  it('when pages answer 200, 302, 404 and 422, then the log holds those statuses with route patterns, never raw URLs', async () => {
    const home = await request(t.app).get('/?utm=1').expect(200);
    const redirect = await request(t.app).get('/admin').expect(302);
    const missing = await request(t.app).get('/no/such/page/42').expect(404);

    const agent = request.agent(t.app);
    const token = await csrfToken(agent, '/register');
    const invalid = await agent
      .post('/register')
      .type('form')
      .send({ username: 'x', password: 'correct horse battery', confirmPassword: 'correct horse battery', _csrf: token })
      .expect(422);

    const homeRow = await logRowFor(t, home.headers['x-request-id']);
    assert.deepEqual([homeRow.method, homeRow.route, homeRow.status, homeRow.user_id], ['GET', '/', 200, null]);
    assert.equal(homeRow.bytes, Buffer.byteLength(home.text), 'bytes are the body actually sent');
    assert.ok(homeRow.duration_ms > 0 && homeRow.duration_ms < 10_000);
    assert.ok(Math.abs(homeRow.at - Date.now()) < 60_000);

    const redirectRow = await logRowFor(t, redirect.headers['x-request-id']);
    assert.deepEqual([redirectRow.route, redirectRow.status], ['/admin', 302]);
    const missingRow = await logRowFor(t, missing.headers['x-request-id']);
    assert.deepEqual([missingRow.route, missingRow.status], [UNMATCHED_ROUTE, 404]);
    const invalidRow = await logRowFor(t, invalid.headers['x-request-id']);
    assert.deepEqual([invalidRow.method, invalidRow.route, invalidRow.status], ['POST', '/register', 422]);
    const rawUrls = t.db.prepare("SELECT count(*) FROM request_log WHERE route LIKE '%42%' OR route LIKE '%utm%'").pluck().get();
    assert.equal(rawUrls, 0);
  });

  it('when a signed-in admin changes a user, then the row has their user id and the parameterised route of the nested router', async () => {
    const admin = await t.createUser({ username: 'logadmin', role: 'admin' });
    const other = await t.createUser({ username: 'logother' });
    const agent = await signIn(t.app, admin);
    const token = await csrfToken(agent, '/admin/users');
    const res = await agent.post(`/admin/users/${other.id}/role`).type('form').send({ role: 'admin', _csrf: token }).expect(302);
    const row = await logRowFor(t, res.headers['x-request-id']);
    assert.deepEqual([row.user_id, row.method, row.route, row.status], [admin.id, 'POST', '/admin/users/:id/role', 302]);

    // A route that throws inside the admin router still records the full pattern (Express resets baseUrl on the way out).
    const bad = await agent.post('/admin/users/999999/role').type('form').send({ role: 'admin', _csrf: token }).expect(404);
    const badRow = await logRowFor(t, bad.headers['x-request-id']);
    assert.deepEqual([badRow.route, badRow.status, badRow.user_id], ['/admin/users/:id/role', 404, admin.id]);
  });

  it('when the API is called with a Bearer token, then the row has the token user, set after the log saw the request', async () => {
    const user = await t.createUser({ username: 'apiuser' });
    const login = await request(t.app).post('/api/v1/auth/token').send({ username: user.username, password: user.password }).expect(200);
    const res = await request(t.app).get('/api/v1/me').set('Authorization', `Bearer ${login.body.access_token}`).expect(200);
    const row = await logRowFor(t, res.headers['x-request-id']);
    assert.deepEqual([row.user_id, row.method, row.route, row.status], [user.id, 'GET', '/api/v1/me', 200]);
  });

  it('when JSON is answered, then the bytes counted are the body length', async () => {
    const res = await request(t.app).get('/api/openapi.json').expect(200);
    const row = await logRowFor(t, res.headers['x-request-id']);
    assert.deepEqual([row.route, row.status, row.bytes], ['/api/openapi.json', 200, Buffer.byteLength(res.text)]);
  });

  it('when static files are fetched, then they are not recorded', async () => {
    const res = await request(t.app).get('/css/app.css').expect(200);
    await new Promise((resolve) => setTimeout(resolve, 1200));
    const { n } = t.db.prepare<[string], { n: number }>('SELECT count(*) AS n FROM request_log WHERE request_id = ?').get(res.headers['x-request-id']!)!;
    assert.equal(n, 0);
  });
});

describe('request log on a failing app', () => {
  const t = createTestApp({
    models: {
      versions() {
        throw new Error('boom');
      },
    },
  });
  after(() => t.close());

  it('when the readiness check fails with a 500, then it is counted apart as a failed health check, not in the request log', async () => {
    const res = await request(t.app).get('/ready').expect(500);
    await request(t.app).get('/health').expect(200);
    const admin = await t.createUser({ username: 'probeadmin', role: 'admin' });
    const page = await (await signIn(t.app, admin)).get('/admin').expect(200);
    assert.match(page.text, /<tr data-probe="\/ready"><td><code>\/ready<\/code><\/td><td data-col="ok">0<\/td><td data-col="failed">1<\/td>/);
    assert.match(page.text, /<tr data-probe="\/health"><td><code>\/health<\/code><\/td><td data-col="ok">1<\/td><td data-col="failed">0<\/td>/);
    await new Promise((resolve) => setTimeout(resolve, 1200));
    assert.equal(t.db.prepare("SELECT count(*) FROM request_log WHERE route IN ('/ready', '/health')").pluck().get(), 0);
    assert.ok(res.headers['x-request-id']);
  });
});

describe('request log batching and retention', () => {
  const t = createTestApp();
  after(() => t.close());
  const count = () => t.db.prepare<[], { n: number }>("SELECT count(*) AS n FROM request_log WHERE request_id LIKE 'unit-%'").get()!.n;

  /** A bare app with its own request log, so that the test controls the flushes. */
  function appWith(log: ReturnType<typeof createRequestLog>) {
    const app = express();
    let n = 0;
    app.use(requestContext);
    app.use((req, _res, next) => {
      req.id = `unit-${++n}`;
      next();
    });
    app.use(log.middleware);
    app.get('/items/:id', (_req, res) => {
      res.send('item');
    });
    app.get('/never', () => {
      // Never answers: the client gives up.
    });
    app.get('/stream', (_req, res) => {
      res.write('abc');
      res.write(Buffer.from('défg'));
      res.end('h');
    });
    app.get('/fails/:id', () => {
      throw new Error('a fault of ours');
    });
    app.use(errorHandler(silent, 1024));
    return app;
  }

  it('when requests are answered, then nothing is written until flush(), and then all rows in one go', async () => {
    const log = createRequestLog({ db: t.db, logger: silent, retentionDays: 90, flushIntervalMs: 60_000 });
    const app = appWith(log);
    await request(app).get('/items/1').expect(200);
    await request(app).get('/items/2').expect(200);
    await request(app).get('/stream').expect(200);
    assert.equal(count(), 0, 'buffered, not written');
    log.flush();
    assert.equal(count(), 3);
    const stream = t.db.prepare<[], LogRow>("SELECT * FROM request_log WHERE route = '/stream'").get()!;
    assert.equal(stream.bytes, Buffer.byteLength('abcdéfgh'), 'streamed chunks are counted');
    assert.equal(t.db.prepare("SELECT count(*) AS n FROM request_log WHERE route = '/items/:id'").pluck().get(), 2);
    log.close();
  });

  it('when the batch size is reached, then the rows are written without waiting for the timer', async () => {
    t.db.exec("DELETE FROM request_log WHERE request_id LIKE 'unit-%'");
    const log = createRequestLog({ db: t.db, logger: silent, retentionDays: 90, flushIntervalMs: 60_000, batchSize: 5 });
    const app = appWith(log);
    for (let i = 0; i < 4; i++) await request(app).get(`/items/${i}`).expect(200);
    assert.equal(count(), 0);
    await request(app).get('/items/5').expect(200);
    assert.equal(count(), 5);
    log.close();
  });

  it('when the client goes away before an answer, then the request is still recorded, as 499', async () => {
    t.db.exec("DELETE FROM request_log WHERE request_id LIKE 'unit-%'");
    const log = createRequestLog({ db: t.db, logger: silent, retentionDays: 90, flushIntervalMs: 60_000 });
    const server = appWith(log).listen(0);
    const { port } = server.address() as AddressInfo;
    await new Promise<void>((resolve) => {
      const req = http.get({ port, path: '/never' });
      req.on('error', () => resolve());
      setTimeout(() => req.destroy(), 100);
    });
    for (let i = 0; i < 20 && count() === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      log.flush();
    }
    server.closeAllConnections();
    server.close();
    const row = t.db.prepare<[], LogRow>("SELECT * FROM request_log WHERE request_id LIKE 'unit-%'").get();
    assert.deepEqual([row?.route, row?.status, row?.bytes], ['/never', CLIENT_CLOSED_STATUS, 0]);
    log.close();
  });

  it('when a route fails with a 500, then the log holds the 500 and its route', async () => {
    t.db.exec("DELETE FROM request_log WHERE request_id LIKE 'unit-%'");
    const log = createRequestLog({ db: t.db, logger: silent, retentionDays: 90, flushIntervalMs: 60_000 });
    await request(appWith(log)).get('/fails/3').set('Accept', 'application/json').expect(500);
    log.flush();
    const row = t.db.prepare<[], LogRow>("SELECT * FROM request_log WHERE request_id LIKE 'unit-%'").get();
    assert.deepEqual([row?.route, row?.status], ['/fails/:id', 500]);
    log.close();
  });

  it('when a HEAD request is answered, then no body bytes are counted', async () => {
    t.db.exec("DELETE FROM request_log WHERE request_id LIKE 'unit-%'");
    const log = createRequestLog({ db: t.db, logger: silent, retentionDays: 90, flushIntervalMs: 60_000 });
    await request(appWith(log)).head('/items/7').expect(200);
    log.flush();
    const row = t.db.prepare<[], LogRow>("SELECT * FROM request_log WHERE request_id LIKE 'unit-%'").get();
    assert.deepEqual([row?.method, row?.route, row?.bytes], ['HEAD', '/items/:id', 0]);
    log.close();
  });

  it('when the log starts, then rows older than the retention are deleted and newer ones kept', () => {
    t.db.exec('DELETE FROM request_log');
    const now = Date.UTC(2026, 10, 24, 12);
    const day = 24 * 60 * 60 * 1000;
    const entry = (ageDays: number, requestId: string): RequestLogEntry => ({
      at: now - ageDays * day,
      userId: null,
      method: 'GET',
      route: '/',
      status: 200,
      durationMs: 1,
      bytes: 1,
      requestId,
    });
    createRequestLogWriter(t.db)([entry(31, 'old'), entry(29.9, 'recent'), entry(0, 'today')]);
    const log = createRequestLog({ db: t.db, logger: silent, retentionDays: 30, now: () => now });
    log.close();
    assert.deepEqual(t.db.prepare('SELECT request_id FROM request_log ORDER BY at').pluck().all(), ['recent', 'today']);
  });

  it('when the user of a buffered row is deleted before the write, then the row keeps the user id', async () => {
    t.db.exec('DELETE FROM request_log');
    const user = await t.createUser();
    t.db.prepare('DELETE FROM users WHERE id = ?').run(user.id);
    createRequestLogWriter(t.db)([{ at: Date.now(), userId: user.id, method: 'POST', route: '/account/delete', status: 302, durationMs: 5, bytes: 0, requestId: 'gone' }]);
    // The row keeps the numeric id (shown as "deleted user #id"), and the id is never given to a new account.
    assert.deepEqual(t.db.prepare('SELECT user_id, route FROM request_log').all(), [{ user_id: user.id, route: '/account/delete' }]);
    assert.ok((await t.createUser()).id > user.id);
  });
});
