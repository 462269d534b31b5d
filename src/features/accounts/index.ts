export { createAccountsService, toAccountUser, type AccountsService, type AccountUser } from './accounts.service.js';
export type { Role, UserRecord } from './users.repo.js';
