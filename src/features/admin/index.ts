import { Router } from 'express';
import type { Config } from '../../config.js';
import type { Db } from '../../db/database.js';
import type { AccountsService } from '../accounts/index.js';

// Placeholder: usage statistics and user management land here.
export function createAdminWebRouter(_deps: { db: Db; accounts: AccountsService; config: Config }): Router {
  return Router();
}
