import type { Router } from 'express';
import type { Config } from '../../config.js';
import type { Db } from '../../db/database.js';
import type { AccountsService } from '../accounts/index.js';
import { createAdminWebRouter as createRouter } from './admin.web.js';
import { createStatsService } from './stats.service.js';

export { createStatsService, statsWindow, type Stats, type StatsService, type WindowName } from './stats.service.js';

/** The admin section (statistics, request log, users), mounted at /admin; every route requires an administrator. */
export function createAdminWebRouter({ db, accounts }: { db: Db; accounts: AccountsService; config: Config }): Router {
  return createRouter({ stats: createStatsService({ db }), accounts });
}
