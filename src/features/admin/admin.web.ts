import { Router, type Request } from 'express';
import { requireAdmin } from '../../http/auth.js';
import { ValidationError } from '../../http/errors.js';
import type { AccountsService } from '../accounts/index.js';
import { format } from './admin.format.js';
import { parseDisabledBody, parseRequestsQuery, parseRoleBody, parseStatsQuery, parseUserId } from './admin.schemas.js';
import { PERCENTILE_SAMPLE, WINDOWS, type StatsService } from './stats.service.js';

const windowLabels = { '24h': '24 hours', '7d': '7 days', '30d': '30 days', all: 'All retained' } as const;

/** A link to the same page with some query parameters changed; empty values are left out to keep URLs short. */
function linkWith(path: string, query: Record<string, string | number | undefined>, changes: Record<string, string | number | undefined>) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries({ ...query, ...changes })) {
    if (value !== undefined && value !== '') params.set(key, String(value));
  }
  const search = params.toString();
  return search ? `${path}?${search}` : path;
}

/** JSON for a <script type="application/json"> block: `<` escaped so that no value can close the element. */
const jsonForHtml = (value: unknown) => JSON.stringify(value).replace(/</g, '\\u003c');

/**
 * Usage statistics, the request log and user management. Every route checks requireAdmin itself (so that the
 * request log records the route's pattern even for refused requests); the final use() keeps unknown /admin
 * paths from telling non-admins which pages exist.
 */
export function createAdminWebRouter({ stats, accounts }: { stats: StatsService; accounts: AccountsService }): Router {
  const router = Router();
  const locals = { format, windowLabels, linkWith };

  router.get('/', requireAdmin, (req, res) => {
    const { values, notices } = parseStatsQuery(req.query);
    const result = stats.stats(values.window);
    const chart = {
      labels: result.overTime.map((b) => format.bucket(b.start, result.window.bucketMs)),
      ok: result.overTime.map((b) => b.ok),
      clientErrors: result.overTime.map((b) => b.clientErrors),
      serverErrors: result.overTime.map((b) => b.serverErrors),
    };
    res.render('admin/stats', {
      ...locals,
      title: 'Statistics',
      section: 'stats',
      windows: WINDOWS,
      notices,
      stats: result,
      sampleSize: PERCENTILE_SAMPLE,
      chartJson: jsonForHtml(chart),
      scripts: ['/vendor/chart.js/chart.umd.min.js', '/js/admin-stats.js'],
    });
  });

  router.get('/requests', requireAdmin, (req, res) => {
    const { values, notices } = parseRequestsQuery(req.query);
    const page = stats.requests(
      { window: values.window === 'all' ? undefined : values.window, username: values.user, route: values.route, status: values.status },
      values.page,
    );
    if (page.unknownUser) notices.push(`There is no user named ${values.user}.`);
    // The filters as they appear in links (status as typed, not as its parsed range).
    const query = {
      window: values.window === 'all' ? undefined : values.window,
      user: values.user,
      route: values.route,
      status: values.status ? statusText(values.status) : undefined,
    };
    res.render('admin/requests', {
      ...locals,
      title: 'Requests',
      section: 'requests',
      windows: [...WINDOWS, 'all'],
      notices,
      query,
      window: values.window,
      page,
      routes: stats.routes(),
    });
  });

  router.get('/users', requireAdmin, (_req, res) => {
    res.render('admin/users', { ...locals, title: 'Users', section: 'users', users: accounts.listUsers(), scripts: ['/js/admin-confirm.js'] });
  });

  router.post('/users/:id/role', requireAdmin, (req, res) => {
    const userId = parseUserId(req.params.id);
    flashOutcome(req, () => {
      const role = parseRoleBody(req.body);
      const { username } = accounts.setRole(req.user!, userId, role);
      return `${username} ${role === 'admin' ? 'is now an administrator.' : 'is no longer an administrator.'}`;
    });
    res.redirect('/admin/users');
  });

  router.post('/users/:id/disabled', requireAdmin, (req, res) => {
    const userId = parseUserId(req.params.id);
    flashOutcome(req, () => {
      const disabled = parseDisabledBody(req.body);
      const { username } = accounts.setDisabled(req.user!, userId, disabled);
      return `${username} ${disabled ? 'is disabled and signed out everywhere.' : 'is enabled again.'}`;
    });
    res.redirect('/admin/users');
  });

  router.use(requireAdmin);

  return router;
}

/**
 * Post/redirect/get for the users page: the change's message as a success flash; a refusal (the last admin,
 * oneself, a bad form value) as an error flash rather than an error page. Anything else (an unknown user: 404) propagates.
 */
function flashOutcome(req: Request, change: () => string): void {
  try {
    req.flash('success', change());
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    req.flash('error', err.message);
  }
}

function statusText([low, high]: [number, number]): string {
  return low === high ? String(low) : `${Math.floor(low / 100)}xx`;
}
