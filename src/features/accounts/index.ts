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
export { createAccountsWebRouter, requireOwnPassword } from './accounts.web.js';
export { createSessionAuth } from './passport.js';
export {
  createRegistrationService,
  INVITE_LIFETIME_DAYS,
  REGISTRATION_POLICIES,
  type InviteStatus,
  type RegistrationPolicy,
  type RegistrationService,
} from './registration.service.js';
export type { Invite } from './invites.repo.js';
export { createPasswordResetsService, RESET_LINK_HOURS, type PasswordResetsService } from './password-resets.service.js';
