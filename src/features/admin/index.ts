import { Router } from 'express';
import type { Db } from '../../db/database.js';
import type { AccountsService } from '../accounts/index.js';

// Placeholder: usage statistics and user management land here.
export function createAdminWebRouter(_deps: { db: Db; accounts: AccountsService }): Router {
  return Router();
}
