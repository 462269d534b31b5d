import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import request from 'supertest';
import { createTestApp } from '../helpers/test-app.js';

describe('app skeleton', () => {
  const t = createTestApp();
  after(() => t.close());

  it('when the home page is requested, then it says what Inkwell does and sets a strict CSP', async () => {
    const res = await request(t.app).get('/').expect(200);
    assert.match(res.text, /Signature verification/);
    assert.match(res.headers['content-security-policy'] ?? '', /script-src 'self'(;|$)/);
  });

  it('when a page does not exist, then a 404 page in the layout answers', async () => {
    const res = await request(t.app).get('/no-such-page').expect(404);
    assert.match(res.text, /Page not found/);
    assert.match(res.text, /<nav/);
  });

  it('when an API route does not exist, then a JSON error answers', async () => {
    const res = await request(t.app).get('/api/v1/nothing').expect(404);
    assert.deepEqual(Object.keys(res.body.error).sort(), ['code', 'message']);
    assert.equal(res.body.error.code, 'not_found');
  });

  it('when liveness and readiness are asked, then both answer', async () => {
    await request(t.app).get('/health').expect(200, { status: 'ok' });
    const ready = await request(t.app).get('/ready').expect(200);
    assert.equal(ready.body.checks.database, 'ok');
  });

  it('when a form is posted without a CSRF token, then 403', async () => {
    const res = await request(t.app).post('/anything').type('form').send({ a: 1 }).expect(403);
    assert.match(res.text, /form has expired/);
  });
});
