import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { fileFromBytes } from '../../src/storage/index.js';
import { bearerFor, csrfToken, postForm, signIn, type Agent } from '../helpers/agent.js';
import { pngImage } from '../helpers/images.js';
import { createTestApp } from '../helpers/test-app.js';
import { buildZip } from '../helpers/zip.js';

const PASSWORD = 'correct horse battery';

/** The value shown once on the page after creating a user or resetting a password. */
const secretOf = (html: string) => /id="secret" type="text" value="([^"]+)"/.exec(html)?.[1]?.replaceAll('&amp;', '&');

describe('user management by an administrator', () => {
  const t = createTestApp();
  let admin: Agent;
  let adminId: number;
  after(() => t.close());

  interface EventRow {
    user_id: number;
    target_user_id: number;
    target_username: string;
    detail: string;
    request_id: string;
  }
  const lastEvent = (action: string) => {
    t.flushRequestLog();
    return t.db.prepare<[string], EventRow>("SELECT * FROM security_events WHERE kind = 'admin_action' AND action = ? ORDER BY id DESC").get(action);
  };

  before(async () => {
    const boss = await t.createUser({ username: 'boss', role: 'admin' });
    adminId = boss.id;
    admin = await signIn(t.app, boss);
  });

  it('when an admin creates a user, then a temporary password is shown once, and the user must replace it at the first sign-in', async () => {
    const form = await admin.get('/admin/users/new').expect(200);
    assert.match(form.text, /name="username"/);
    const res = await postForm(admin, '/admin/users', { username: 'Nina', role: 'user' }, { page: '/admin/users/new' });
    assert.equal(res.status, 201);
    assert.equal(res.headers['cache-control'], 'no-store');
    const temporary = secretOf(res.text);
    assert.match(temporary ?? '', /^[a-z2-9]{4}(-[a-z2-9]{4}){3}$/);
    const event = lastEvent('user.create')!;
    assert.deepEqual([event.user_id, event.target_username], [adminId, 'nina']);
    assert.ok(event.request_id);

    // Signing in with it leads to the page where they choose their own, and every page leads back there.
    const nina = request.agent(t.app);
    const login = await postForm(nina, '/login', { username: 'nina', password: temporary!, next: '/images' });
    assert.equal(login.status, 302);
    assert.equal(login.headers.location, '/account/new-password?next=%2Fimages');
    await nina.get('/images').expect(303).expect('location', '/account/new-password?next=%2Fimages');
    // Uploads too, the zip import (which parses its own body) included: nothing is made.
    const formToken = await csrfToken(nina, '/account/new-password');
    await nina.post('/datasets/import').field('_csrf', formToken).field('name', 'sneaky').attach('archive', buildZip([{ name: 'cats/a.png', data: await pngImage(20, 20, 7) }]), 'a.zip').expect(303).expect('location', '/account/new-password?next=%2F');
    assert.equal(t.db.prepare("SELECT COUNT(*) FROM datasets WHERE name = 'sneaky'").pluck().get(), 0);
    // The API does not take a temporary password.
    const token = await request(t.app).post('/api/v1/auth/token').send({ username: 'nina', password: temporary }).expect(401);
    assert.equal(token.body.error.code, 'password_change_required');

    const same = await postForm(nina, '/account/new-password', { newPassword: temporary!, confirmPassword: temporary!, next: '/images' }, { page: '/account/new-password' });
    assert.equal(same.status, 422);
    assert.match(same.text, /not the temporary one/);
    const done = await postForm(nina, '/account/new-password', { newPassword: 'nina has her own now', confirmPassword: 'nina has her own now', next: '/images' }, { page: '/account/new-password' });
    assert.equal(done.status, 302);
    assert.equal(done.headers.location, '/images');
    await nina.get('/images').expect(200);
    await bearerFor(t.app, { username: 'nina', password: 'nina has her own now' });
  });

  it('when a taken or invalid username is given, then the form answers 422 with the message', async () => {
    const taken = await postForm(admin, '/admin/users', { username: 'NINA', role: 'user' }, { page: '/admin/users/new' });
    assert.equal(taken.status, 422);
    assert.match(taken.text, /id="username-error">This username is already taken/);
    const bad = await postForm(admin, '/admin/users', { username: 'a b', role: 'user' }, { page: '/admin/users/new' });
    assert.equal(bad.status, 422);
  });

  it('when an admin sets a temporary password, then the user is signed out, the old password stops working, and the change is recorded', async () => {
    const user = await t.createUser({ username: 'oscar', password: PASSWORD });
    const oscar = await signIn(t.app, user);
    const res = await postForm(admin, `/admin/users/${user.id}/password`, { method: 'temporary' }, { page: `/admin/users/${user.id}` });
    assert.equal(res.status, 200);
    const temporary = secretOf(res.text)!;
    await oscar.get('/account').expect(302);
    assert.equal((await postForm(request.agent(t.app), '/login', { username: 'oscar', password: PASSWORD })).status, 401);
    const again = await postForm(request.agent(t.app), '/login', { username: 'oscar', password: temporary });
    assert.match(String(again.headers.location), /^\/account\/new-password/);
    assert.deepEqual([lastEvent('user.password_reset')?.target_user_id, lastEvent('user.password_reset')?.user_id], [user.id, adminId]);
  });

  it('when an admin makes a reset link, then it sets a new password once, signs the user in, and stops working', async () => {
    const user = await t.createUser({ username: 'petra', password: PASSWORD });
    const res = await postForm(admin, `/admin/users/${user.id}/password`, { method: 'link' }, { page: `/admin/users/${user.id}` });
    const link = secretOf(res.text)!;
    assert.match(link, /^http:\/\/127\.0\.0\.1:\d+\/reset-password\/[A-Za-z0-9_-]{43}$/);
    assert.match(lastEvent('user.password_reset_link')!.detail, /valid 24 h/);
    const path = new URL(link).pathname;
    // Until it is used, the old password still works.
    await signIn(t.app, { username: 'petra', password: PASSWORD });

    const page = await request(t.app).get(path).expect(200);
    assert.match(page.text, /For the account <strong>petra<\/strong>/);
    const petra = request.agent(t.app);
    const weak = await postForm(petra, path, { newPassword: 'petra', confirmPassword: 'petra' }, { page: path });
    assert.equal(weak.status, 422);
    const done = await postForm(petra, path, { newPassword: 'petra chose this one', confirmPassword: 'petra chose this one' }, { page: path });
    assert.equal(done.status, 302);
    assert.match((await petra.get('/').expect(200)).text, /You are signed in as petra/);
    assert.equal((await postForm(request.agent(t.app), '/login', { username: 'petra', password: PASSWORD })).status, 401);

    await request(t.app).get(path).expect(404);
    const reused = await postForm(request.agent(t.app), path, { newPassword: 'someone else again', confirmPassword: 'someone else again' });
    assert.equal(reused.status, 404);
    await signIn(t.app, { username: 'petra', password: 'petra chose this one' });
  });

  it('when a reset link has expired, or a newer one was made, then it does not work', async () => {
    const user = await t.createUser({ username: 'quinn', password: PASSWORD });
    const first = new URL(secretOf((await postForm(admin, `/admin/users/${user.id}/password`, { method: 'link' }, { page: '/admin/users' })).text)!).pathname;
    const second = new URL(secretOf((await postForm(admin, `/admin/users/${user.id}/password`, { method: 'link' }, { page: '/admin/users' })).text)!).pathname;
    await request(t.app).get(first).expect(404);
    await request(t.app).get(second).expect(200);
    t.db.prepare('UPDATE password_resets SET expires_at = ? WHERE user_id = ?').run(Date.now() - 1, user.id);
    await request(t.app).get(second).expect(404);
  });

  it('when an admin changes a role or disables a user from the user page, then it goes back there and each change is recorded', async () => {
    const user = await t.createUser({ username: 'rosa' });
    const page = await admin.get(`/admin/users/${user.id}`).expect(200);
    assert.match(page.text, /Reset password/);
    const promote = await postForm(admin, `/admin/users/${user.id}/role`, { role: 'admin', from: 'user' }, { page: '/admin/users' });
    assert.equal(promote.headers.location, `/admin/users/${user.id}`);
    assert.equal(lastEvent('user.promote')?.target_user_id, user.id);
    await postForm(admin, `/admin/users/${user.id}/role`, { role: 'user' }, { page: '/admin/users' });
    assert.equal(lastEvent('user.demote')?.target_user_id, user.id);
    await postForm(admin, `/admin/users/${user.id}/disabled`, { disabled: 'true' }, { page: '/admin/users' });
    assert.equal(lastEvent('user.disable')?.target_user_id, user.id);
    await postForm(admin, `/admin/users/${user.id}/disabled`, { disabled: 'false' }, { page: '/admin/users' });
    assert.equal(lastEvent('user.enable')?.target_user_id, user.id);
  });

  it('when an admin deletes a user, then the confirmation lists what goes, and afterwards the logs say "deleted user #id"', async () => {
    const user = await t.createUser({ username: 'sven' });
    await t.store.add(user.id, [fileFromBytes('a.png', await pngImage(40, 30, 1)), fileFromBytes('b.png', await pngImage(40, 30, 2))], (stored) =>
      stored.map((image, i) => t.db.prepare("INSERT INTO library_images (user_id, stored_image_id, name, source) VALUES (?, ?, ?, 'upload')").run(user.id, image.id, `img${i}.png`)),
    );
    const sven = await signIn(t.app, user);
    await sven.get('/images').expect(200);

    const list = await admin.get('/admin/users').expect(200);
    assert.match(list.text, /<span data-usage="library images">2 library images<\/span>/);
    assert.match(list.text, /<span data-usage="image storage">[\d.]+\u00a0KB<\/span>/);

    const confirm = await admin.get(`/admin/users/${user.id}/delete`).expect(200);
    assert.match(confirm.text, /<li data-usage="library images">2 library images<\/li>/);
    assert.match(confirm.text, /<li data-usage="image storage">[\d.]+\u00a0KB of image storage<\/li>/);
    assert.match(confirm.text, /class="danger">Delete sven and everything in it/);

    const res = await postForm(admin, `/admin/users/${user.id}/delete`, {}, { page: '/admin/users' });
    assert.equal(res.status, 302);
    assert.equal(t.db.prepare('SELECT count(*) FROM users WHERE id = ?').pluck().get(user.id), 0);
    assert.equal(t.db.prepare('SELECT count(*) FROM stored_images WHERE user_id = ?').pluck().get(user.id), 0);
    await sven.get('/images').expect(302);
    const event = lastEvent('user.delete')!;
    assert.deepEqual([event.user_id, event.target_user_id, event.target_username], [adminId, user.id, 'sven']);

    const requests = await admin.get(`/admin/requests?user=%23${user.id}`).expect(200);
    assert.match(requests.text, new RegExp(`data-user-id="${user.id}">deleted user #${user.id}<`));
    const stats = await admin.get('/admin').expect(200);
    assert.match(stats.text, new RegExp(`<tr data-user="#${user.id}">`));
    assert.match(stats.text, new RegExp(`>deleted user #${user.id}</a>`));
    // The id is never given to another account.
    assert.ok((await t.createUser({ username: 'newer' })).id > user.id);
  });

  it('when an admin tries to delete themselves or the last admin, then it is refused with a reason', async () => {
    const self = await admin.get(`/admin/users/${adminId}/delete`).expect(200);
    assert.match(self.text, /This is your own account/);
    const res = await postForm(admin, `/admin/users/${adminId}/delete`, {}, { page: '/admin/users' });
    assert.equal(res.status, 302);
    assert.match((await admin.get(`/admin/users/${adminId}`).expect(200)).text, /Delete your own account from your account page/);
    assert.equal(t.db.prepare('SELECT count(*) FROM users WHERE id = ?').pluck().get(adminId), 1);
  });

  it('when a non-admin tries any of it, then 403 and nothing changes', async () => {
    const plain = await t.createUser({ username: 'tom' });
    const tom = await signIn(t.app, plain);
    for (const [path, fields] of [
      ['/admin/users', { username: 'sneaky' }],
      [`/admin/users/${adminId}/password`, { method: 'link' }],
      [`/admin/users/${adminId}/delete`, {}],
      ['/admin/invites', { days: '7' }],
    ] as const) {
      assert.equal((await postForm(tom, path, fields)).status, 403, path);
    }
    await tom.get(`/admin/users/${adminId}`).expect(403);
    assert.equal(t.db.prepare("SELECT count(*) FROM users WHERE username = 'sneaky'").pluck().get(), 0);
  });
});
