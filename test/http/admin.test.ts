import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { createStatsService } from '../../src/features/admin/index.js';
import { createRequestLogWriter, type RequestLogEntry } from '../../src/http/request-log.js';
import { csrfToken, signIn, type Agent } from '../helpers/agent.js';
import { createTestApp } from '../helpers/test-app.js';

const HOUR = 60 * 60 * 1000;
const DAY = 24 * HOUR;

type Seed = Partial<RequestLogEntry> & { route: string };
let seq = 0;
const entry = ({ route, ...rest }: Seed): RequestLogEntry => ({
  at: Date.now() - 60_000,
  userId: null,
  method: 'GET',
  status: 200,
  durationMs: 1,
  bytes: 100,
  requestId: `seed-${++seq}`,
  route,
  ...rest,
});

/** The cells of one table row, by data-col, from the row marked data-<attr>="<key>". */
function rowCells(html: string, attr: string, key: string): Record<string, string> | null {
  const start = html.indexOf(`<tr data-${attr}="${key}">`);
  if (start < 0) return null;
  const row = html.slice(start, html.indexOf('</tr>', start));
  return Object.fromEntries([...row.matchAll(/data-col="([^"]+)">([^<]*)</g)].map((m) => [m[1]!, m[2]!.trim()]));
}

function chartData(html: string): { labels: string[]; ok: number[]; clientErrors: number[]; serverErrors: number[] } {
  const json = /<script type="application\/json" id="requests-chart-data">([^<]*)<\/script>/.exec(html)?.[1];
  assert.ok(json, 'the page carries the chart data as JSON');
  return JSON.parse(json);
}

const requestIds = (html: string) => [...html.matchAll(/<tr data-request-id="([^"]+)">/g)].map((m) => m[1]!);

describe('admin section', () => {
  const t = createTestApp();
  let admin: Agent;
  let plain: Agent;
  let adminUser: Awaited<ReturnType<typeof t.createUser>>;
  let alice: Awaited<ReturnType<typeof t.createUser>>;
  let bob: Awaited<ReturnType<typeof t.createUser>>;

  before(async () => {
    adminUser = await t.createUser({ username: 'root', role: 'admin' });
    alice = await t.createUser({ username: 'alice' });
    bob = await t.createUser({ username: 'bob' });
    admin = await signIn(t.app, adminUser);
    plain = await signIn(t.app, alice);

    const now = Date.now();
    const write = createRequestLogWriter(t.db);
    // One route with known statuses and latencies 10..100 ms: p50 (nearest rank 5 of 10) = 50, p95 (rank 10) = 100.
    const statuses = [200, 200, 200, 200, 200, 200, 200, 200, 404, 500];
    write(statuses.map((status, i) => entry({ route: '/things/:id', status, durationMs: (i + 1) * 10, userId: bob.id })));
    // Older rows: 3 days old (in 7 d and 30 d, not 24 h) and 20 days old (30 d only).
    write([1, 2, 3].map(() => entry({ route: '/three-days', at: now - 3 * DAY, method: 'POST', status: 201 })));
    write([entry({ route: '/twenty-days', at: now - 20 * DAY, status: 503 })]);
    // 120 rows for paging, 30 of them 4xx: newest first, 50 a page.
    write(Array.from({ length: 120 }, (_, i) => entry({ route: '/paged', at: now - 120_000 + i, status: i % 4 === 0 ? 404 : 200, requestId: `page-${i}` })));
  });
  after(() => t.close());

  describe('access', () => {
    for (const path of ['/admin', '/admin/requests', '/admin/users', '/admin/no-such-page']) {
      it(`when a signed-out visitor opens ${path}, then they are sent to the login page`, async () => {
        const res = await request(t.app).get(path).expect(302);
        assert.equal(res.headers.location, `/login?next=${encodeURIComponent(path)}`);
      });

      it(`when a non-admin opens ${path}, then the 403 page answers`, async () => {
        const res = await plain.get(path).expect(403);
        assert.match(res.text, /for administrators/);
      });
    }

    for (const [path, fields] of [
      ['role', { role: 'admin' }],
      ['disabled', { disabled: 'true' }],
    ] as const) {
      it(`when a non-admin posts a valid form to /admin/users/:id/${path}, then 403 and nothing changes`, async () => {
        const token = await csrfToken(plain, '/');
        await plain.post(`/admin/users/${bob.id}/${path}`).type('form').send({ ...fields, _csrf: token }).expect(403);
        const row = t.db.prepare<[number], { role: string; disabled: number }>('SELECT role, disabled FROM users WHERE id = ?').get(bob.id)!;
        assert.deepEqual({ ...row }, { role: 'user', disabled: 0 });
      });
    }
  });

  describe('statistics', () => {
    it('when an admin opens /admin, then the route table shows the seeded counts and percentiles', async () => {
      const res = await admin.get('/admin').expect(200);
      assert.deepEqual(rowCells(res.text, 'route', 'GET /things/:id'), { requests: '10', '4xx': '1', '5xx': '1', p50: '50\u00a0ms', p95: '100\u00a0ms' });
      assert.deepEqual(rowCells(res.text, 'user', 'bob'), { requests: '10', errors: '2' });
      assert.match(res.text, /<script src="\/assets\/[0-9a-f]{16}\/vendor\/chart.js\/chart.umd.min.js" defer>/);
      assert.match(res.text, /<script src="\/assets\/[0-9a-f]{16}\/js\/admin-stats.js" defer>/);
    });

    it('when the window changes, then only the rows inside it count, and the chart has one bucket per hour or day', async () => {
      const day = await admin.get('/admin?window=24h').expect(200);
      assert.equal(rowCells(day.text, 'route', 'POST /three-days'), null);
      assert.equal(chartData(day.text).labels.length, 24);
      const tableRows = day.text.slice(day.text.indexOf('id="requests-chart-table"')).split('</table>')[0]!.match(/<tr><td>/g);
      assert.equal(tableRows?.length, 24, 'without JavaScript the same numbers are in a table');

      const week = await admin.get('/admin?window=7d').expect(200);
      assert.equal(rowCells(week.text, 'route', 'POST /three-days')?.requests, '3');
      assert.equal(rowCells(week.text, 'route', 'GET /twenty-days'), null);
      const weekChart = chartData(week.text);
      assert.equal(weekChart.labels.length, 7);
      assert.equal(weekChart.ok[3], 3, 'the 3-day-old rows are in the bucket of their day');

      const month = await admin.get('/admin?window=30d').expect(200);
      assert.deepEqual(rowCells(month.text, 'route', 'GET /twenty-days'), { requests: '1', '4xx': '0', '5xx': '1', p50: '1.0\u00a0ms', p95: '1.0\u00a0ms' });
      const monthChart = chartData(month.text);
      assert.equal(monthChart.labels.length, 30);
      assert.equal(monthChart.serverErrors[9], 1);
    });

    it('when the window parameter is invalid, then the page falls back to 24 hours and says so', async () => {
      const res = await admin.get('/admin?window=1y').expect(200);
      assert.match(res.text, /Ignored window: window must be 24h, 7d or 30d/);
      assert.equal(chartData(res.text).labels.length, 24);
    });

    it('when the statistics are computed, then the totals, error rates and percentiles are those of the window', () => {
      // A clock in 2030 so that the requests this test suite makes stay outside the window.
      const now = Date.UTC(2030, 0, 15, 12, 30);
      const write = createRequestLogWriter(t.db);
      const durations = [1, 2, 3, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100];
      write(
        durations.map((durationMs, i) =>
          entry({ route: i < 3 ? '/a' : '/b', at: now - i * HOUR, durationMs, status: i === 5 ? 404 : i === 6 ? 500 : 200, userId: i % 2 ? alice.id : bob.id }),
        ),
      );
      write([entry({ route: '/a', at: now - 25 * HOUR, durationMs: 999 })]);
      const stats = createStatsService({ db: t.db, now: () => now }).stats('24h');
      assert.equal(stats.totals.requests, 13);
      assert.equal(stats.totals.clientErrors, 1);
      assert.equal(stats.totals.serverErrors, 1);
      assert.equal(stats.totals.clientErrorRate, 1 / 13);
      assert.equal(stats.totals.distinctUsers, 2);
      assert.equal(stats.totals.p50, 40, 'nearest rank 7 of 13');
      assert.equal(stats.totals.p95, 100, 'nearest rank 13 of 13');
      assert.deepEqual(
        stats.routes.map((r) => [r.route, r.requests, r.p50, r.p95]),
        [
          ['/b', 10, 50, 100],
          ['/a', 3, 2, 3],
        ],
      );
      assert.equal(stats.overTime.reduce((sum, b) => sum + b.ok + b.clientErrors + b.serverErrors, 0), 13);
      assert.equal(stats.overTime.at(-1)!.ok, 1, 'the current hour holds the newest row');
    });

    it('when a route has more requests than the sample, then its percentiles are close and marked as sampled', () => {
      const now = Date.UTC(2031, 0, 15, 12, 30);
      const n = 25_000;
      createRequestLogWriter(t.db)(Array.from({ length: n }, (_, i) => entry({ route: '/busy', at: now - 1000 - i, durationMs: (i % 1000) + 1 })));
      createRequestLogWriter(t.db)(Array.from({ length: 2000 }, (_, i) => entry({ route: '/slow', at: now - 1000 - i, durationMs: 5000 })));
      const { routes, totals } = createStatsService({ db: t.db, now: () => now }).stats('24h');
      const busy = routes.find((r) => r.route === '/busy')!;
      assert.equal(busy.requests, n);
      assert.equal(busy.sampled, true);
      assert.ok(Math.abs(busy.p50! - 500) < 30, `p50 ${busy.p50}`);
      assert.ok(Math.abs(busy.p95! - 950) < 20, `p95 ${busy.p95}`);
      assert.equal(routes.find((r) => r.route === '/slow')!.sampled, false);
      // Overall, each sampled value stands for 5 requests: rank 13,500 of 27,000 is about 540 ms (unweighted it would be about 700).
      assert.ok(Math.abs(totals.p50! - 540) < 30, `overall p50 ${totals.p50}`);
      assert.equal(totals.p95, 5000);
    });
  });

  describe('request list', () => {
    it('when filtered by route, then 50 rows a page, newest first, with links to older and newer pages that keep the filter', async () => {
      const first = await admin.get('/admin/requests?route=/paged').expect(200);
      const ids = requestIds(first.text);
      assert.equal(ids.length, 50);
      assert.equal(ids[0], 'page-119');
      assert.match(first.text, /href="\/admin\/requests\?route=%2Fpaged&amp;page=2" rel="next"/);
      assert.doesNotMatch(first.text, /rel="prev"/);

      const third = await admin.get('/admin/requests?route=/paged&page=3').expect(200);
      assert.deepEqual(requestIds(third.text), Array.from({ length: 20 }, (_, i) => `page-${19 - i}`));
      assert.doesNotMatch(third.text, /rel="next"/);
      assert.match(third.text, /href="\/admin\/requests\?route=%2Fpaged&amp;page=2" rel="prev"/);
    });

    it('when filtered by status class or code, then only matching rows are listed', async () => {
      const cls = await admin.get('/admin/requests?route=/paged&status=4xx').expect(200);
      assert.equal(requestIds(cls.text).length, 30);
      const code = await admin.get('/admin/requests?status=500&window=24h').expect(200);
      const statuses = [...code.text.matchAll(/data-col="status">(\d+)</g)].map((m) => m[1]);
      assert.ok(statuses.length >= 1);
      assert.ok(statuses.every((s) => s === '500'));
    });

    it('when filtered by user, then only their requests are listed; an unknown user lists nothing and says so', async () => {
      const res = await admin.get('/admin/requests?user=BOB&route=/things/:id').expect(200);
      assert.equal(requestIds(res.text).length, 10);
      const unknown = await admin.get('/admin/requests?user=nobody').expect(200);
      assert.equal(requestIds(unknown.text).length, 0);
      assert.match(unknown.text, /There is no user named nobody/);
    });

    it('when a filter is invalid, then it is ignored with a message and the others still apply', async () => {
      const res = await admin.get('/admin/requests?route=/paged&status=abc&page=0').expect(200);
      assert.match(res.text, /Ignored status/);
      assert.match(res.text, /Ignored page/);
      assert.equal(requestIds(res.text).length, 50);
    });
  });

  describe('users page', () => {
    const roleOf = (id: number) => t.db.prepare<[number], { role: string; disabled: number }>('SELECT role, disabled FROM users WHERE id = ?').get(id)!;

    it('when an admin opens the users page, then every user is listed with role and status, with a confirmation on disabling', async () => {
      const res = await admin.get('/admin/users').expect(200);
      for (const name of ['root', 'alice', 'bob']) assert.ok(rowCells(res.text, 'user', name), name);
      assert.deepEqual(rowCells(res.text, 'user', 'bob'), { role: 'user', status: 'active' });
      assert.match(res.text, /data-confirm="Disable bob\?/);
      assert.match(res.text, /<script src="\/assets\/[0-9a-f]{16}\/js\/admin-confirm.js" defer>/);
    });

    it('when an admin promotes and then demotes a user, then the role changes and a message confirms it', async () => {
      const token = await csrfToken(admin, '/admin/users');
      const res = await admin.post(`/admin/users/${bob.id}/role`).type('form').send({ role: 'admin', _csrf: token }).expect(302);
      assert.equal(res.headers.location, '/admin/users');
      assert.equal(roleOf(bob.id).role, 'admin');
      const page = await admin.get('/admin/users').expect(200);
      assert.match(page.text, /bob is now an administrator/);

      await admin.post(`/admin/users/${bob.id}/role`).type('form').send({ role: 'user', _csrf: token }).expect(302);
      assert.equal(roleOf(bob.id).role, 'user');
    });

    it('when an admin disables a user, then the account is disabled and its sessions end; enabling brings it back', async () => {
      const bobAgent = await signIn(t.app, bob);
      const token = await csrfToken(admin, '/admin/users');
      await admin.post(`/admin/users/${bob.id}/disabled`).type('form').send({ disabled: 'true', _csrf: token }).expect(302);
      assert.equal(roleOf(bob.id).disabled, 1);
      await bobAgent.get('/account').expect(302);
      await admin.post(`/admin/users/${bob.id}/disabled`).type('form').send({ disabled: 'false', _csrf: token }).expect(302);
      assert.equal(roleOf(bob.id).disabled, 0);
    });

    it('when the service refuses (an admin disabling or demoting themselves), then a flash error and a redirect back', async () => {
      const token = await csrfToken(admin, '/admin/users');
      const res = await admin.post(`/admin/users/${adminUser.id}/disabled`).type('form').send({ disabled: 'true', _csrf: token }).expect(302);
      assert.equal(res.headers.location, '/admin/users');
      const page = await admin.get('/admin/users').expect(200);
      assert.match(page.text, /class="flash flash-error" role="alert">You cannot disable your own account/);
      await admin.post(`/admin/users/${adminUser.id}/role`).type('form').send({ role: 'user', _csrf: token }).expect(302);
      assert.deepEqual({ ...roleOf(adminUser.id) }, { role: 'admin', disabled: 0 });
    });

    it('when the form has no CSRF token, then 403 and nothing changes', async () => {
      const res = await admin.post(`/admin/users/${bob.id}/role`).type('form').send({ role: 'admin' }).expect(403);
      assert.match(res.text, /form has expired/);
      assert.equal(roleOf(bob.id).role, 'user');
    });

    it('when the role or user id is invalid, then a flash error or a 404', async () => {
      const token = await csrfToken(admin, '/admin/users');
      await admin.post(`/admin/users/${bob.id}/role`).type('form').send({ role: 'owner', _csrf: token }).expect(302);
      assert.match((await admin.get('/admin/users')).text, /Choose the role user or admin/);
      await admin.post('/admin/users/abc/role').type('form').send({ role: 'admin', _csrf: token }).expect(404);
      await admin.post('/admin/users/999999/role').type('form').send({ role: 'admin', _csrf: token }).expect(404);
    });
  });
});

describe('admin statistics on an empty log', () => {
  const t = createTestApp();
  after(() => t.close());

  it('when nothing has been logged yet, then the totals are zero, the percentiles empty and the page still renders', async () => {
    const stats = createStatsService({ db: t.db }).stats('30d');
    assert.deepEqual([stats.totals.requests, stats.totals.p50, stats.totals.p95, stats.routes.length, stats.users.length], [0, null, null, 0, 0]);
    assert.equal(stats.overTime.length, 30);
    const admin = await t.createUser({ username: 'fresh', role: 'admin' });
    const agent = await signIn(t.app, admin);
    // The sign-in's own requests would be in the log if a batch is written before the page is computed.
    t.flushRequestLog();
    t.db.exec('DELETE FROM request_log');
    const res = await agent.get('/admin?window=30d').expect(200);
    assert.match(res.text, /<strong data-total="p50">–<\/strong>/);
  });
});
