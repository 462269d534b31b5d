import { Router } from 'express';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { AccountsService } from '../features/accounts/index.js';
import { notFound } from './error-handler.js';

// Placeholder: token issuing, Bearer authentication, rate limit, OpenAPI document and docs land here.
export function createApiRouter(_deps: { config: Config; logger: Logger; accounts: AccountsService; tokenSecret: string }): Router {
  const router = Router();
  router.use(notFound);
  return router;
}
