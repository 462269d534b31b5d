import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { runAdminCli } from '../../src/cli/admin.js';
import { createAccountsService } from '../../src/features/accounts/index.js';
import { ValidationError, NotFoundError, ForbiddenError } from '../../src/http/errors.js';
import { csrfFromHtml, csrfToken, postForm, registerVia, signIn, type Agent } from '../helpers/agent.js';
import { createTestApp, setupCodeOf, type TestApp } from '../helpers/test-app.js';

const PASSWORD = 'correct horse battery';
const sessionCookie = (res: request.Response): string | undefined =>
  ([] as string[]).concat(res.headers['set-cookie'] ?? []).find((c) => c.startsWith('inkwell.sid='))?.split(';')[0];

/** Posts the registration form; while the app has no administrator, with its setup code, as the first person would. */
async function register(app: TestApp['app'], fields: Record<string, string>) {
  const agent = request.agent(app);
  const setupCode = setupCodeOf(app);
  const res = await postForm(agent, '/register', setupCode ? { ...fields, setupCode } : fields, { page: '/register' });
  return { agent, res };
}

describe('registration', () => {
  let t: TestApp;
  before(() => {
    t = createTestApp();
  });
  after(() => t.close());

  it('when the first person registers, then they are signed in as admin with a welcome message; the second is a plain user', async () => {
    const { agent, res } = await register(t.app, { username: 'Alice', password: PASSWORD, confirmPassword: PASSWORD });
    assert.equal(res.status, 302);
    // The first administrator is taken to choose who may register next.
    assert.equal(res.headers.location, '/admin/registration');
    const home = await agent.get('/').expect(200);
    assert.match(home.text, /Welcome, alice!/);
    assert.match(home.text, /action="\/logout"/);
    assert.match(home.text, /href="\/admin"/);
    assert.equal(t.db.prepare("SELECT role FROM users WHERE username = 'alice'").pluck().get(), 'admin');

    const second = await register(t.app, { username: 'bob', password: PASSWORD, confirmPassword: PASSWORD });
    assert.equal(second.res.status, 302);
    assert.equal(t.db.prepare("SELECT role FROM users WHERE username = 'bob'").pluck().get(), 'user');
    const bobHome = await second.agent.get('/').expect(200);
    assert.doesNotMatch(bobHome.text, /href="\/admin"/);
  });

  it('when a taken username is registered in another letter case, then the form answers 422 with the input kept', async () => {
    const { res } = await register(t.app, { username: 'ALICE', password: PASSWORD, confirmPassword: PASSWORD });
    assert.equal(res.status, 422);
    assert.match(res.text, /already taken/);
    assert.match(res.text, /value="ALICE"/);
    assert.doesNotMatch(res.text, new RegExp(PASSWORD));
    assert.equal(t.db.prepare('SELECT count(*) FROM users').pluck().get(), 2);
  });

  it('when two registrations race for one name, then one wins and the other gets a conflict, never a 500', async () => {
    const accounts = createAccountsService({ db: t.db, bcryptCost: 4 });
    const results = await Promise.allSettled([
      accounts.register({ username: 'racer', password: PASSWORD, confirmPassword: PASSWORD }),
      accounts.register({ username: 'RACER', password: PASSWORD, confirmPassword: PASSWORD }),
    ]);
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    assert.equal(rejected.reason.code, 'conflict');
  });

  const invalid: Array<[string, Record<string, string>, string, RegExp]> = [
    ['a too short password', { username: 'carol', password: 'short', confirmPassword: 'short' }, 'password', /at least 10 characters/],
    // 25 three-byte characters: 25 characters but 75 bytes, over bcrypt's 72-byte limit.
    ['a password over 72 bytes', { username: 'carol', password: '€'.repeat(25), confirmPassword: '€'.repeat(25) }, 'password', /at most 72 bytes/],
    ['a mismatched confirmation', { username: 'carol', password: PASSWORD, confirmPassword: `${PASSWORD}!` }, 'confirmPassword', /do not match/],
    ['a too short username', { username: 'ab', password: PASSWORD, confirmPassword: PASSWORD }, 'username', /at least 3/],
    ['a username with a space', { username: 'car ol', password: PASSWORD, confirmPassword: PASSWORD }, 'username', /Use only letters/],
    ['a missing username', { password: PASSWORD, confirmPassword: PASSWORD }, 'username', /at least 3/],
  ];
  for (const [what, fields, field, message] of invalid) {
    it(`when registering with ${what}, then 422 with the message beside the ${field} field and no account`, async () => {
      const { res } = await register(t.app, fields);
      assert.equal(res.status, 422);
      assert.match(res.text, new RegExp(`id="${field}-error">[^<]*${message.source}`));
      assert.equal(t.db.prepare("SELECT count(*) FROM users WHERE username LIKE 'car%'").pluck().get(), 0);
    });
  }

  it('when a password is exactly 72 bytes, then it is accepted', async () => {
    const password = '€'.repeat(24); // 72 bytes
    const { res } = await register(t.app, { username: 'dave', password, confirmPassword: password });
    assert.equal(res.status, 302);
    await signIn(t.app, { username: 'dave', password });
  });
});

describe('login and logout', () => {
  let t: TestApp;
  let user: { username: string; password: string };
  before(async () => {
    t = createTestApp({ env: { LOGIN_RATE_LIMIT: '3', TRUST_PROXY: '1' } });
    user = await t.createUser({ username: 'erin', password: PASSWORD });
  });
  after(() => t.close());

  it('when the password is right, then the session id changes and the user lands on a safe next page', async () => {
    const agent = request.agent(t.app);
    const page = await agent.get('/login?next=%2Faccount').expect(200);
    const before = sessionCookie(page);
    assert.ok(before, 'the login page starts a session (it holds the CSRF token)');
    const res = await agent
      .post('/login')
      .type('form')
      .send({ username: 'ERIN', password: PASSWORD, next: '/account', _csrf: csrfFromHtml(page.text)! })
      .expect(302);
    assert.equal(res.headers.location, '/account');
    const after = sessionCookie(res);
    assert.ok(after);
    assert.notEqual(after, before);
    await agent.get('/account').expect(200);
    assert.ok(t.db.prepare("SELECT last_login_at FROM users WHERE username = 'erin'").pluck().get());
  });

  for (const next of ['//evil.example/x', 'https://evil.example/', '/\\evil.example', 'javascript:alert(1)']) {
    it(`when next is ${next}, then the login goes home instead`, async () => {
      const agent = request.agent(t.app);
      const res = await postForm(agent, `/login`, { ...user, next });
      assert.equal(res.status, 302);
      assert.equal(res.headers.location, '/');
    });
  }

  it('when the password is wrong or the user unknown, then 401 with the same message and the username kept', async () => {
    const wrong = await postForm(request.agent(t.app), '/login', { username: 'erin', password: 'wrong password' });
    const unknown = await postForm(request.agent(t.app), '/login', { username: 'nobody', password: 'wrong password' });
    for (const res of [wrong, unknown]) {
      assert.equal(res.status, 401);
      assert.match(res.text, /Incorrect username or password\./);
    }
    assert.match(wrong.text, /value="erin"/);
    assert.match(unknown.text, /value="nobody"/);
  });

  it('when logging out by POST with the token, then the user is signed out and sees a message', async () => {
    const agent = await signIn(t.app, user);
    const res = await postForm(agent, '/logout', {});
    assert.equal(res.status, 302);
    const home = await agent.get('/').expect(200);
    assert.match(home.text, /You have been signed out/);
    assert.doesNotMatch(home.text, /action="\/logout"/);
    await agent.get('/account').expect(302).expect('location', '/login?next=%2Faccount');
  });

  it('when logout is a GET or a POST without a token, then 404 or 403 and the user stays signed in', async () => {
    const agent = await signIn(t.app, user);
    await agent.get('/logout').expect(404);
    await agent.post('/logout').type('form').send({}).expect(403);
    await agent.post('/logout').type('form').send({ _csrf: 'forged' }).expect(403);
    await agent.get('/account').expect(200);
  });

  it('when a username fails repeatedly, even from different addresses, then 429 with Retry-After, also for the right password', async () => {
    await t.createUser({ username: 'frank', password: PASSWORD });
    for (let i = 0; i < 3; i++) {
      const agent = request.agent(t.app);
      const token = await csrfToken(agent);
      await agent.post('/login').set('X-Forwarded-For', `10.0.0.${i + 1}`).type('form').send({ username: 'frank', password: 'nope nope', _csrf: token }).expect(401);
    }
    const agent = request.agent(t.app);
    const token = await csrfToken(agent);
    const res = await agent.post('/login').set('X-Forwarded-For', '10.0.0.99').type('form').send({ username: 'FRANK', password: PASSWORD, _csrf: token });
    assert.equal(res.status, 429);
    const retryAfter = Number(res.headers['retry-after']);
    assert.ok(retryAfter > 0 && retryAfter <= 15 * 60, `Retry-After ${res.headers['retry-after']}`);
    assert.match(res.text, /Try again in 15 minutes/);
    // Another user is not affected.
    await signIn(t.app, user);
  });

  it('when one address fails with many usernames, then that address is limited too', async () => {
    const ip = '10.1.1.1';
    let last = 0;
    for (let i = 0; i < 16; i++) {
      const agent = request.agent(t.app);
      const token = await csrfToken(agent);
      last = (await agent.post('/login').set('X-Forwarded-For', ip).type('form').send({ username: `ghost${i}`, password: 'nope nope', _csrf: token })).status;
      if (i < 15) assert.equal(last, 401, `attempt ${i + 1}`);
    }
    assert.equal(last, 429);
  });

  it('when logins succeed, then they do not count towards the limit', async () => {
    await t.createUser({ username: 'grace', password: PASSWORD });
    for (let i = 0; i < 5; i++) await signIn(t.app, { username: 'grace', password: PASSWORD });
  });
});

describe('CSRF on every accounts form', () => {
  let t: TestApp;
  let agent: Agent;
  before(async () => {
    t = createTestApp();
    const user = await t.createUser({ username: 'henry', password: PASSWORD });
    agent = await signIn(t.app, user);
  });
  after(() => t.close());

  const forms: Array<[string, Record<string, string>]> = [
    ['/register', { username: 'newbie', password: PASSWORD, confirmPassword: PASSWORD }],
    ['/login', { username: 'henry', password: PASSWORD }],
    ['/logout', {}],
    ['/account/password', { currentPassword: PASSWORD, newPassword: 'another long password', confirmPassword: 'another long password' }],
    ['/account/delete', { password: PASSWORD }],
  ];
  for (const [path, fields] of forms) {
    it(`when ${path} is posted without or with a wrong token, then 403 and nothing changes`, async () => {
      await agent.post(path).type('form').send(fields).expect(403);
      await agent.post(path).type('form').send({ ...fields, _csrf: 'x'.repeat(43) }).expect(403);
      await agent.get('/account').expect(200);
      assert.equal(t.db.prepare('SELECT count(*) FROM users').pluck().get(), 1);
    });
  }
});

describe('account settings', () => {
  let t: TestApp;
  before(() => {
    t = createTestApp();
  });
  after(() => t.close());

  it('when a signed-out visitor opens /account, then they are sent to log in', async () => {
    await request(t.app).get('/account').expect(302).expect('location', '/login?next=%2Faccount');
  });

  it('when the password is changed, then the old one stops working and other sessions end, this one continues', async () => {
    const user = await t.createUser({ username: 'ivy', password: PASSWORD });
    const here = await signIn(t.app, user);
    const elsewhere = await signIn(t.app, user);
    const next = 'a brand new passphrase';

    const wrong = await postForm(here, '/account/password', { currentPassword: 'not it at all', newPassword: next, confirmPassword: next });
    assert.equal(wrong.status, 422);
    assert.match(wrong.text, /id="currentPassword-error">The current password is not correct/);

    const res = await postForm(here, '/account/password', { currentPassword: PASSWORD, newPassword: next, confirmPassword: next });
    assert.equal(res.status, 302);
    const page = await here.get('/account').expect(200);
    assert.match(page.text, /Your password has been changed/);
    await elsewhere.get('/account').expect(302);

    const old = await postForm(request.agent(t.app), '/login', { username: 'ivy', password: PASSWORD });
    assert.equal(old.status, 401);
    await signIn(t.app, { username: 'ivy', password: next });
  });

  it('when a signed-in session guesses its own password (change or delete), then wrong ones count like failed sign-ins: 429 after LOGIN_RATE_LIMIT, other mistakes do not count', async () => {
    const user = await t.createUser({ username: 'mallory', password: PASSWORD });
    const stolen = await signIn(t.app, user);
    const next = 'a brand new passphrase';
    // A weak new password with the right current one is a typing mistake, not a guess: it never counts.
    for (let i = 0; i < 12; i++) assert.equal((await postForm(stolen, '/account/password', { currentPassword: PASSWORD, newPassword: 'short', confirmPassword: 'short' })).status, 422);
    for (let i = 0; i < 9; i++) assert.equal((await postForm(stolen, '/account/password', { currentPassword: `guess ${i}`, newPassword: next, confirmPassword: next })).status, 422, `guess ${i + 1}`);
    assert.equal((await postForm(stolen, '/account/delete', { password: 'guess 9' })).status, 422, 'the delete form counts on the same tally');
    const locked = await postForm(stolen, '/account/password', { currentPassword: PASSWORD, newPassword: next, confirmPassword: next });
    assert.equal(locked.status, 429);
    assert.match(locked.text, /Too many wrong passwords\. Try again in 15 minutes/);
    assert.equal((await postForm(stolen, '/account/delete', { password: PASSWORD })).status, 429);
    assert.ok(t.db.prepare('SELECT 1 FROM users WHERE id = ?').get(user.id), 'the account is still there');
    // Another user's forms are not affected.
    const other = await signIn(t.app, await t.createUser({ username: 'trent', password: PASSWORD }));
    assert.equal((await postForm(other, '/account/password', { currentPassword: PASSWORD, newPassword: next, confirmPassword: next })).status, 302);
  });

  it('when the account is deleted with the right password, then the user and their sessions are gone', async () => {
    const user = await t.createUser({ username: 'jack', password: PASSWORD });
    const agent = await signIn(t.app, user);
    const other = await signIn(t.app, user);
    const page = await agent.get('/account/delete').expect(200);
    assert.match(page.text, /Type your password to confirm/);
    assert.match(page.text, /src="\/assets\/[0-9a-f]{16}\/js\/account.js"/);

    const wrong = await postForm(agent, '/account/delete', { password: 'not my password' });
    assert.equal(wrong.status, 422);
    assert.ok(t.db.prepare('SELECT 1 FROM users WHERE id = ?').get(user.id));

    const res = await postForm(agent, '/account/delete', { password: PASSWORD });
    assert.equal(res.status, 302);
    assert.equal(t.db.prepare('SELECT count(*) FROM users WHERE id = ?').pluck().get(user.id), 0);
    assert.equal(t.db.prepare('SELECT count(*) FROM sessions WHERE user_id = ?').pluck().get(user.id), 0);
    const home = await agent.get('/').expect(200);
    assert.match(home.text, /account and everything in it have been deleted/);
    await other.get('/account').expect(302);
    assert.equal((await postForm(request.agent(t.app), '/login', { username: 'jack', password: PASSWORD })).status, 401);
  });

  it('when the last active admin tries to delete their account, then it is refused with a clear message', async () => {
    const admin = await t.createUser({ username: 'kate', password: PASSWORD, role: 'admin' });
    const agent = await signIn(t.app, admin);
    const page = await agent.get('/account/delete').expect(200);
    assert.match(page.text, /last active administrator/);
    const res = await postForm(agent, '/account/delete', { password: PASSWORD });
    assert.equal(res.status, 422);
    assert.match(res.text, /last active administrator/);
    assert.ok(t.db.prepare('SELECT 1 FROM users WHERE id = ?').get(admin.id));
  });
});

describe('admin operations in the service', () => {
  let t: TestApp;
  let accounts: ReturnType<typeof createAccountsService>;
  before(() => {
    t = createTestApp();
    accounts = createAccountsService({ db: t.db, bcryptCost: 4 });
  });
  after(() => t.close());

  it('when users are listed, then no password hash is included', async () => {
    await t.createUser({ username: 'lily', password: PASSWORD });
    const list = accounts.listUsers();
    assert.deepEqual(Object.keys(list[0]!).sort(), ['createdAt', 'disabled', 'id', 'lastLoginAt', 'role', 'username']);
  });

  it('when a user is disabled, then they are signed out and cannot log in (same message); enabled again, they can', async () => {
    const admin = await t.createUser({ username: 'mia', password: PASSWORD, role: 'admin' });
    const user = await t.createUser({ username: 'noah', password: PASSWORD });
    const agent = await signIn(t.app, user);
    assert.equal(t.db.prepare('SELECT count(*) FROM sessions WHERE user_id = ?').pluck().get(user.id), 1);
    accounts.setDisabled({ id: admin.id, username: admin.username, role: 'admin' }, user.id, true);
    assert.equal(t.db.prepare('SELECT count(*) FROM sessions WHERE user_id = ?').pluck().get(user.id), 0);
    await agent.get('/account').expect(302);
    const res = await postForm(request.agent(t.app), '/login', { username: 'noah', password: PASSWORD });
    assert.equal(res.status, 401);
    assert.match(res.text, /Incorrect username or password\./);
    accounts.setDisabled(null, user.id, false);
    await signIn(t.app, user);
  });

  it('when an admin would demote or disable themselves, or leave no active admin, then a ValidationError', async () => {
    const db = t.db;
    db.prepare("UPDATE users SET role = 'user'").run();
    const only = await t.createUser({ username: 'olga', password: PASSWORD, role: 'admin' });
    const actor = { id: only.id, username: only.username, role: 'admin' as const };
    assert.throws(() => accounts.setRole(actor, only.id, 'user'), ValidationError);
    assert.throws(() => accounts.setDisabled(actor, only.id, true), ValidationError);
    assert.throws(() => accounts.setRole(null, only.id, 'user'), /last active administrator/);
    assert.throws(() => accounts.setDisabled(null, only.id, true), /last active administrator/);

    const other = await t.createUser({ username: 'pete', password: PASSWORD });
    accounts.setRole(actor, other.id, 'admin');
    accounts.setRole({ id: other.id, username: 'pete', role: 'admin' }, only.id, 'user');
    assert.equal(accounts.findByUsername('olga')!.role, 'user');
  });

  it('when the target does not exist or the actor is not an admin, then NotFound or Forbidden', async () => {
    assert.throws(() => accounts.setRole(null, 999999, 'admin'), NotFoundError);
    assert.throws(() => accounts.setDisabled(null, 999999, true), NotFoundError);
    const plain = await t.createUser({ username: 'quinn', password: PASSWORD });
    assert.throws(() => accounts.setRole({ id: plain.id, username: 'quinn', role: 'user' }, plain.id, 'admin'), ForbiddenError);
  });
});

describe('the registered agent helper', () => {
  let t: TestApp;
  before(() => {
    t = createTestApp();
  });
  after(() => t.close());

  it('when registering through the helper, then the agent is signed in', async () => {
    const agent = await registerVia(t.app, { username: 'rita', password: PASSWORD });
    const page = await agent.get('/account').expect(200);
    assert.match(page.text, /rita/);
  });
});

describe('admin CLI', () => {
  let t: TestApp;
  before(() => {
    t = createTestApp();
  });
  after(() => t.close());

  /** Runs a CLI command against the test app's database, collecting what it prints. */
  async function cli(args: string[], password?: string) {
    const out: string[] = [];
    const err: string[] = [];
    const env = { NODE_ENV: 'test', DATA_DIR: t.dataDir, BCRYPT_COST: '4', ...(password ? { INKWELL_PASSWORD: password } : {}) };
    const io = {
      out: (line: string) => void out.push(line),
      err: (line: string) => void err.push(line),
      readPassword: async () => {
        throw new Error('the CLI should not prompt when INKWELL_PASSWORD is set');
      },
    };
    const status = await runAdminCli(args, { env, io });
    return { status, out: out.join('\n'), err: err.join('\n') };
  }

  it('when create, promote, disable and enable run, then the database and the running app follow', async () => {
    const created = await cli(['create', 'Sam'], PASSWORD);
    assert.equal(created.status, 0, created.err);
    assert.match(created.out, /Created user sam/);
    const agent = await signIn(t.app, { username: 'sam', password: PASSWORD });

    assert.equal((await cli(['promote', 'SAM'])).status, 0);
    assert.equal(t.db.prepare("SELECT role FROM users WHERE username = 'sam'").pluck().get(), 'admin');
    assert.match((await agent.get('/').expect(200)).text, /href="\/admin"/);

    const disabled = await cli(['disable', 'sam']);
    assert.equal(disabled.status, 1, 'sam is the only admin, so disabling must be refused');
    assert.match(disabled.err, /last active administrator/);

    await cli(['create', 'root', '--admin'], PASSWORD);
    assert.equal((await cli(['disable', 'sam'])).status, 0);
    assert.equal(t.db.prepare("SELECT disabled FROM users WHERE username = 'sam'").pluck().get(), 1);
    await agent.get('/account').expect(302);
    assert.equal((await postForm(request.agent(t.app), '/login', { username: 'sam', password: PASSWORD })).status, 401);

    assert.equal((await cli(['enable', 'sam'])).status, 0);
    await signIn(t.app, { username: 'sam', password: PASSWORD });

    const list = await cli(['list']);
    assert.match(list.out, /^ID +USERNAME/);
    assert.match(list.out, /\d+ +root +admin +active/);
  });

  it('when reset-password runs, then the new password works and the old one does not', async () => {
    await cli(['create', 'tina'], PASSWORD);
    const agent = await signIn(t.app, { username: 'tina', password: PASSWORD });
    assert.equal((await cli(['reset-password', 'tina'], 'reset by the operator')).status, 0);
    await agent.get('/account').expect(302);
    await signIn(t.app, { username: 'tina', password: 'reset by the operator' });
  });

  it('when a command is unknown, a user missing or a password weak, then a clear message and a non-zero status', async () => {
    const unknown = await cli(['frobnicate']);
    assert.equal(unknown.status, 2);
    assert.match(unknown.err, /Unknown command "frobnicate"/);
    const missing = await cli(['promote', 'nobody']);
    assert.equal(missing.status, 1);
    assert.match(missing.err, /There is no user "nobody"/);
    const weak = await cli(['create', 'uma'], 'short');
    assert.equal(weak.status, 1);
    assert.match(weak.err, /at least 10 characters/);
    const taken = await cli(['create', 'TINA'], PASSWORD);
    assert.equal(taken.status, 1);
    assert.match(taken.err, /already taken/);
  });
});
