export {
  createAccountsService,
  toAccountUser,
  type AccountsService,
  type AccountUser,
  type UserSummary,
} from './accounts.service.js';
export { PASSWORD_MAX_BYTES, PASSWORD_MIN_LENGTH, passwordSchema, usernameSchema } from './accounts.schemas.js';
export type { Role, UserRecord } from './users.repo.js';
export { declareAccountsApi } from './accounts.api.js';
export { createTokenService, type TokenService } from './tokens.js';
