import { Router, type RequestHandler } from 'express';
import { requireAdmin } from '../../http/auth.js';
import type { AccountsService, PasswordResetsService, RegistrationService } from '../accounts/index.js';
import type { ProbeCount } from '../health/index.js';
import { format } from './admin.format.js';
import { adminLocals } from './admin.helpers.js';
import { parseEventsQuery, parseRequestsQuery, parseStatsQuery } from './admin.schemas.js';
import { EVENT_GROUPS, EVENT_LABELS, type EventsService } from './events.service.js';
import { createRegistrationWebRouter } from './registration.web.js';
import { PERCENTILE_SAMPLE, WINDOWS, type StatsService } from './stats.service.js';
import type { UserUsageSource } from './user-usage.js';
import { createUsersWebRouter } from './users.web.js';

/** JSON for a <script type="application/json"> block: `<` escaped so that no value can close the element. */
const jsonForHtml = (value: unknown) => JSON.stringify(value).replace(/</g, '\\u003c');

export interface AdminWebDeps {
  stats: StatsService;
  events: EventsService;
  accounts: AccountsService;
  registration: RegistrationService;
  resets: PasswordResetsService;
  usage: readonly UserUsageSource[];
  /** The health checks' answers since start, shown apart from the statistics. */
  probes: () => ProbeCount[];
  /** Writes the request log's pending rows (it writes in batches, about once a second). */
  flushLog: () => void;
}

/**
 * Usage statistics, the request log, security events, users and registration. Every route checks
 * requireAdmin itself (so that the request log records the route's pattern even for refused requests);
 * the final use() keeps unknown /admin paths from telling non-admins which pages exist.
 */
export function createAdminWebRouter({ stats, events, accounts, registration, resets, usage, probes, flushLog }: AdminWebDeps): Router {
  const router = Router();
  // The pages that read the request log show everything up to now: an admin's last action is on them at once.
  const upToDate: RequestHandler = (_req, _res, next) => {
    flushLog();
    next();
  };

  router.get('/', requireAdmin, upToDate, (req, res) => {
    const { values, notices } = parseStatsQuery(req.query);
    const result = stats.stats(values.window);
    const chart = {
      labels: result.overTime.map((b) => format.bucket(b.start, result.window.bucketMs)),
      ok: result.overTime.map((b) => b.ok),
      clientErrors: result.overTime.map((b) => b.clientErrors),
      serverErrors: result.overTime.map((b) => b.serverErrors),
    };
    res.render('admin/stats', {
      ...adminLocals,
      title: 'Statistics',
      section: 'stats',
      windows: WINDOWS,
      notices,
      stats: result,
      probes: probes(),
      sampleSize: PERCENTILE_SAMPLE,
      chartJson: jsonForHtml(chart),
      scripts: ['/vendor/chart.js/chart.umd.min.js', '/js/admin-stats.js'],
    });
  });

  router.get('/requests', requireAdmin, upToDate, (req, res) => {
    const { values, notices } = parseRequestsQuery(req.query);
    const page = stats.requests(
      {
        window: values.window === 'all' ? undefined : values.window,
        username: values.user,
        route: values.route,
        status: values.status,
        requestId: values.id,
        clientIp: values.ip,
      },
      values.page,
    );
    if (page.unknownUser) notices.push(`There is no user named ${values.user}.`);
    // The filters as they appear in links (status as typed, not as its parsed range).
    const query = {
      window: values.window === 'all' ? undefined : values.window,
      user: values.user,
      route: values.route,
      status: values.status ? statusText(values.status) : undefined,
      id: values.id,
      ip: values.ip,
    };
    res.render('admin/requests', {
      ...adminLocals,
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

  router.get('/events', requireAdmin, upToDate, (req, res) => {
    const { values, notices } = parseEventsQuery(req.query);
    const window = values.window === 'all' ? undefined : values.window;
    const page = events.list({ window, group: values.kind, user: values.user, clientIp: values.ip, requestId: values.request }, values.page);
    res.render('admin/events', {
      ...adminLocals,
      title: 'Security events',
      section: 'events',
      windows: [...WINDOWS, 'all'],
      groups: EVENT_GROUPS,
      kindLabels: EVENT_LABELS,
      notices,
      query: { window, kind: values.kind, user: values.user, ip: values.ip, request: values.request },
      window: values.window,
      page,
    });
  });

  router.use(createUsersWebRouter({ accounts, resets, usage }));
  router.use(createRegistrationWebRouter({ registration }));

  router.use(requireAdmin);

  return router;
}

function statusText([low, high]: [number, number]): string {
  return low === high ? String(low) : `${Math.floor(low / 100)}xx`;
}
