import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { csrfFromHtml, postForm, registerVia, signIn, type Agent } from '../helpers/agent.js';
import { createTestApp, type TestApp } from '../helpers/test-app.js';

const PASSWORD = 'correct horse battery';
const userCount = (t: TestApp) => t.db.prepare('SELECT count(*) FROM users').pluck().get() as number;
const roleOf = (t: TestApp, username: string) => t.db.prepare('SELECT role FROM users WHERE username = ?').pluck().get(username) as string | undefined;

/** Posts the registration form from a fresh visitor, with the page's CSRF token. */
async function register(t: TestApp, fields: Record<string, string>, page = '/login') {
  const agent = request.agent(t.app);
  const res = await postForm(agent, '/register', { password: PASSWORD, confirmPassword: PASSWORD, ...fields }, { page });
  return { agent, res };
}

/** The invitation link shown once on the admin's page after creating one. */
async function createInvite(t: TestApp, admin: Agent, days = '7') {
  const res = await postForm(admin, '/admin/invites', { days, note: 'for a test' }, { page: '/admin/registration' });
  assert.equal(res.status, 201, res.text.slice(0, 300));
  const link = /id="invite-link" type="text" value="([^"]+)"/.exec(res.text)?.[1];
  assert.ok(link, 'the page shows the new link');
  return { link, token: new URL(link.replaceAll('&amp;', '&')).searchParams.get('invite')! };
}

const securityEvent = (t: TestApp, action: string) => {
  t.flushRequestLog();
  return t.db.prepare('SELECT * FROM security_events WHERE action = ? ORDER BY id DESC').get(action) as Record<string, unknown> | undefined;
};

describe('first start: the setup code', () => {
  const t = createTestApp({ env: { REGISTRATION: 'closed' } });
  after(() => t.close());

  it('when nobody is administrator yet, then the register page asks for the setup code and says where it is', async () => {
    const res = await request(t.app).get('/register').expect(200);
    assert.match(res.text, /name="setupCode"/);
    assert.match(res.text, /server printed in its log/);
    assert.match(res.text, /npm run admin -- create &lt;name&gt; --admin/);
    // Registering is possible (with the code) even though the policy is closed: the login page offers it.
    assert.match((await request(t.app).get('/login').expect(200)).text, /href="\/register"/);
  });

  it('when the code is missing or wrong, then 422 beside the code field and no account', async () => {
    const missing = await register(t, { username: 'mallory' });
    const wrong = await register(t, { username: 'mallory', setupCode: 'aaaa-bbbb-cccc' });
    for (const { res } of [missing, wrong]) {
      assert.equal(res.status, 422);
      assert.match(res.text, /id="setupCode-error">That is not the setup code/);
    }
    assert.equal(userCount(t), 0);
  });

  it('when the right code is given (in any case, without dashes), then that person becomes the administrator and the code is used up', async () => {
    const code = t.setupCode();
    assert.match(code ?? '', /^[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}$/);
    const { agent, res } = await register(t, { username: 'Olivia', setupCode: code!.replaceAll('-', '').toUpperCase() });
    assert.equal(res.status, 302);
    assert.equal(res.headers.location, '/admin/registration');
    assert.equal(roleOf(t, 'olivia'), 'admin');
    assert.match((await agent.get('/admin/registration').expect(200)).text, /You are the administrator of this server/);
    assert.equal(t.setupCode(), null);
    assert.equal(securityEvent(t, 'setup.first_admin')?.target_username, 'olivia');

    // The same code again: the policy (closed) decides now, and nobody else becomes administrator.
    const again = await register(t, { username: 'trudy', setupCode: code! });
    assert.equal(again.res.status, 403);
    assert.match(again.res.text, /Registration is closed/);
    assert.equal(roleOf(t, 'trudy'), undefined);
  });

  it('when an administrator exists, then the app has no setup code even after a restart', () => {
    assert.equal(t.setupCode(), null);
  });
});

describe('registration policies', () => {
  for (const policy of ['open', 'invite', 'closed'] as const) {
    describe(`REGISTRATION=${policy}`, () => {
      const t = createTestApp({ env: { REGISTRATION: policy } });
      after(() => t.close());

      it(`when someone without an invitation registers, then ${policy === 'open' ? 'an account is made' : 'it is refused with the reason'}, and the login page and menu agree`, async () => {
        await t.createUser({ username: 'boss', role: 'admin' });
        const page = await request(t.app).get('/register');
        const login = await request(t.app).get('/login').expect(200);
        const home = await request(t.app).get('/').expect(200);
        const { res } = await register(t, { username: 'newcomer' });
        if (policy === 'open') {
          assert.equal(page.status, 200);
          assert.equal(res.status, 302);
          assert.equal(roleOf(t, 'newcomer'), 'user');
          assert.match(login.text, /Create an account/);
          assert.match(home.text, /href="\/register" role="button" class="nav-button"/);
        } else {
          assert.equal(page.status, 403);
          assert.doesNotMatch(page.text, /name="password"/);
          assert.equal(res.status, 403);
          assert.match(res.text, policy === 'invite' ? /by invitation only/ : /Registration is closed/);
          assert.equal(roleOf(t, 'newcomer'), undefined);
          assert.doesNotMatch(login.text, /href="\/register"/);
          assert.doesNotMatch(home.text, /href="\/register"/);
        }
      });
    });
  }

  it('when an administrator changes the policy on the admin page, then it applies at once and is recorded', async () => {
    const t = createTestApp({ env: { REGISTRATION: 'closed' } });
    try {
      const boss = await t.createUser({ username: 'boss', role: 'admin' });
      const admin = await signIn(t.app, boss);
      assert.equal((await register(t, { username: 'early' })).res.status, 403);
      const res = await postForm(admin, '/admin/registration/policy', { policy: 'open' }, { page: '/admin/registration' });
      assert.equal(res.status, 302);
      assert.equal((await register(t, { username: 'later' })).res.status, 302);
      const event = securityEvent(t, 'registration.policy')!;
      assert.deepEqual([event.user_id, event.detail], [boss.id, 'closed -> open']);
      // A plain user cannot change it.
      const plain = await signIn(t.app, await t.createUser({ username: 'plain' }));
      await postForm(plain, '/admin/registration/policy', { policy: 'closed' }).then((r) => assert.equal(r.status, 403));
    } finally {
      t.close();
    }
  });
});

describe('invitations', () => {
  const t = createTestApp({ env: { REGISTRATION: 'invite' } });
  after(() => t.close());
  let admin: Agent;

  it('when an administrator creates an invitation, then its link registers one person, once', async () => {
    const boss = await t.createUser({ username: 'boss', role: 'admin' });
    admin = await signIn(t.app, boss);
    const { token } = await createInvite(t, admin);
    assert.equal(securityEvent(t, 'invite.create')?.user_id, boss.id);
    // Only a hash is stored: the token itself is nowhere in the database.
    assert.equal(t.db.prepare('SELECT count(*) FROM invites WHERE token_sha256 = ?').pluck().get(token), 0);

    const page = await request(t.app).get(`/register?invite=${token}`).expect(200);
    assert.match(page.text, /You have been invited to this Inkwell server by boss/);
    const invited = await registerVia(t.app, { username: 'ivan', password: PASSWORD, invite: token });
    assert.match((await invited.get('/').expect(200)).text, /Welcome, ivan!/);
    assert.equal(roleOf(t, 'ivan'), 'user');

    const reused = await register(t, { username: 'ivan2', invite: token });
    assert.equal(reused.res.status, 403);
    assert.match(reused.res.text, /expired or has already been used/);
    assert.equal(roleOf(t, 'ivan2'), undefined);

    const list = await admin.get('/admin/registration').expect(200);
    assert.match(list.text, /data-col="status">used</);
    assert.match(list.text, /<td data-label="Used by">ivan<\/td>/);
  });

  it('when an invitation has expired, then its link is refused', async () => {
    const { token } = await createInvite(t, admin, '1');
    t.db.prepare('UPDATE invites SET expires_at = ? WHERE used_at IS NULL').run(Date.now() - 1000);
    const page = await request(t.app).get(`/register?invite=${token}`).expect(403);
    assert.match(page.text, /expired or has already been used/);
    const { res } = await register(t, { username: 'late', invite: token }, '/login');
    assert.equal(res.status, 403);
    assert.equal(roleOf(t, 'late'), undefined);
  });

  it('when two people use one invitation at the same moment, then only one account is made', async () => {
    const { token } = await createInvite(t, admin);
    const agents = [request.agent(t.app), request.agent(t.app)];
    const tokens = await Promise.all(agents.map(async (agent) => csrfFromHtml((await agent.get(`/register?invite=${token}`)).text)!));
    const results = await Promise.all(
      agents.map((agent, i) =>
        agent.post('/register').type('form').send({ username: `racer${i}`, password: PASSWORD, confirmPassword: PASSWORD, invite: token, _csrf: tokens[i] }),
      ),
    );
    assert.deepEqual(results.map((r) => r.status).sort(), [302, 403]);
    assert.equal(t.db.prepare("SELECT count(*) FROM users WHERE username LIKE 'racer%'").pluck().get(), 1);
  });

  it('when an invitation is withdrawn, then its link stops working and the withdrawal is recorded', async () => {
    const { token } = await createInvite(t, admin);
    const id = t.db.prepare('SELECT max(id) FROM invites').pluck().get() as number;
    const res = await postForm(admin, `/admin/invites/${id}/revoke`, {}, { page: '/admin/registration' });
    assert.equal(res.status, 302);
    await request(t.app).get(`/register?invite=${token}`).expect(403);
    assert.match(String(securityEvent(t, 'invite.revoke')?.detail), new RegExp(`invite #${id}`));
  });

  it('when registration is closed, then invitations do not work either', async () => {
    const { token } = await createInvite(t, admin);
    await postForm(admin, '/admin/registration/policy', { policy: 'closed' }, { page: '/admin/registration' });
    await request(t.app).get(`/register?invite=${token}`).expect(403);
    await postForm(admin, '/admin/registration/policy', { policy: 'invite' }, { page: '/admin/registration' });
    await request(t.app).get(`/register?invite=${token}`).expect(200);
  });
});

describe('password strength', () => {
  const t = createTestApp();
  before(() => t.createUser({ username: 'admin0', role: 'admin' }));
  after(() => t.close());

  for (const [what, username, password, message] of [
    ['one of the most common passwords', 'paula', 'password123', /one of the most common passwords/],
    ['a common password in capitals', 'paula', 'QWERTYUIOP', /one of the most common passwords/],
    ['the username itself', 'longusername', 'LongUserName', /may not be your username/],
  ] as const) {
    it(`when registering with ${what}, then 422 beside the password and no account`, async () => {
      const { res } = await register(t, { username, password, confirmPassword: password });
      assert.equal(res.status, 422);
      assert.match(res.text, new RegExp(`id="password-error">[^<]*${message.source}`));
      assert.equal(roleOf(t, username), undefined);
    });
  }

  it('when changing to a common password, then it is refused beside the new password', async () => {
    const user = await t.createUser({ username: 'quentin' });
    const agent = await signIn(t.app, user);
    const res = await postForm(agent, '/account/password', { currentPassword: user.password, newPassword: '1234567890', confirmPassword: '1234567890' });
    assert.equal(res.status, 422);
    assert.match(res.text, /id="newPassword-error">This is one of the most common passwords/);
  });
});
