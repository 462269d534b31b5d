import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import request from 'supertest';
import { createTestApp } from '../helpers/test-app.js';

describe('errors', () => {
  const t = createTestApp({
    models: {
      versions() {
        throw new Error('secret internal detail at /srv/inkwell/src/ml/index.ts:42');
      },
    },
  });
  after(() => t.close());

  it('when something fails on our side, then the page shows a reference but never the error or a stack trace', async () => {
    const res = await request(t.app).get('/ready').expect(500);
    const requestId = res.headers['x-request-id'];
    assert.ok(requestId);
    assert.match(res.text, /Something went wrong/);
    assert.ok(res.text.includes(requestId), 'the page quotes the request id');
    assert.doesNotMatch(res.text, /secret internal detail|\.ts:\d+|at .*\(/);
  });

  it('when something fails under /api, then the JSON error has the code, a message and the request id only', async () => {
    const res = await request(t.app).post('/api/v1/nothing').send({}).expect(404);
    assert.equal(res.body.error.code, 'not_found');
  });

  it('when a JSON body is too large, then 413 with a JSON error', async () => {
    const res = await request(t.app)
      .post('/api/v1/auth/token')
      .set('Content-Type', 'application/json')
      .send(JSON.stringify({ username: 'a', password: 'x'.repeat(2 * 1024 * 1024) }))
      .expect(413);
    assert.equal(res.body.error.code, 'payload_too_large');
  });

  it('when a form body is too large, then 413 with the error page', async () => {
    const res = await request(t.app).post('/login').type('form').send({ username: 'a', password: 'x'.repeat(200 * 1024) }).expect(413);
    assert.match(res.text, /too large/i);
  });

  it('when a signed-out visitor posts a multipart body, then it is refused before anything is buffered', async () => {
    await request(t.app).post('/anything').attach('file', Buffer.alloc(1024), 'a.png').expect(401);
  });
});
