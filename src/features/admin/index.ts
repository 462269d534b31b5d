import type { Router } from 'express';
import type { Db } from '../../db/database.js';
import type { AccountsService, PasswordResetsService, RegistrationService } from '../accounts/index.js';
import type { ProbeCount } from '../health/index.js';
import { createAdminWebRouter as createRouter } from './admin.web.js';
import { createEventsService } from './events.service.js';
import { createStatsService } from './stats.service.js';
import type { UserUsageSource } from './user-usage.js';

export { createStatsService, statsWindow, type Stats, type StatsService, type WindowName } from './stats.service.js';
export type { UserUsageSource } from './user-usage.js';

export interface AdminDeps {
  db: Db;
  accounts: AccountsService;
  registration: RegistrationService;
  resets: PasswordResetsService;
  /** What each feature stores per user (see user-usage.ts); app.ts lists them. */
  usage: readonly UserUsageSource[];
  probes: () => ProbeCount[];
  /** Writes the request log's pending rows, so that its pages show an admin's last action at once. */
  flushLog: () => void;
}

/** The admin section (statistics, requests, security events, users, registration), mounted at /admin; every route requires an administrator. */
export function createAdminWebRouter({ db, ...deps }: AdminDeps): Router {
  return createRouter({ stats: createStatsService({ db }), events: createEventsService({ db }), ...deps });
}
