import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { csrfToken, signIn, type Agent } from '../helpers/agent.js';
import { createTestApp } from '../helpers/test-app.js';

// No feature takes uploads yet, so these post to a path without a route: what is checked is the shared
// plumbing every upload form will go through (multer parses first, then the CSRF check reads `_csrf`).
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
});
