import { Router } from 'express';
import type { Config } from '../../config.js';
import type { AccountsService } from './accounts.service.js';
import type { SessionAuth } from './passport.js';

// Placeholder: register, login, logout and account settings land here.
export function createAccountsWebRouter(_deps: { accounts: AccountsService; sessionAuth: SessionAuth; config: Config }): Router {
  return Router();
}
