import type { Db } from '../../db/database.js';
import { ForbiddenError, NotFoundError } from '../../http/errors.js';
import { assertStrongPassword, type AccountsService, type AccountUser } from './accounts.service.js';
import { newPasswordSchema, parseOrThrow } from './accounts.schemas.js';
import { createPasswordResetsRepo } from './password-resets.repo.js';
import { newLinkToken, readableCode, sha256Hex } from './secrets.js';

/** How long a reset link works. There is no e-mail: the administrator passes it on, so a day is enough. */
export const RESET_LINK_HOURS = 24;
const HOUR_MS = 60 * 60 * 1000;

/** A reset link that is unknown, used or expired: the page says so and whom to ask. */
export class ResetLinkInvalidError extends NotFoundError {
  constructor() {
    super('This password reset link has expired or has already been used. Ask an administrator for a new one.');
  }
}

export type PasswordResetsService = ReturnType<typeof createPasswordResetsService>;

/**
 * An administrator helps someone who forgot their password (there is no e-mail): either a temporary password,
 * which the user must replace at the next sign-in, or a single-use link valid for RESET_LINK_HOURS on which
 * they choose a new one. Both end the user's sessions and void their API tokens.
 */
export function createPasswordResetsService({ db, accounts, now = Date.now }: { db: Db; accounts: AccountsService; now?: () => number }) {
  const resets = createPasswordResetsRepo(db);

  const requireAdmin = (actor: AccountUser) => {
    if (actor.role !== 'admin') throw new ForbiddenError('Only administrators can reset passwords.');
  };

  const requireTarget = (userId: number) => {
    const user = accounts.users.findById(userId);
    if (!user) throw new NotFoundError('There is no such user.');
    return user;
  };

  const validReset = (token: string) => {
    const reset = resets.findByToken(sha256Hex(token));
    return reset && reset.usedAt === null && reset.expiresAt > now() ? reset : null;
  };

  return {
    /** A new account with a generated temporary password (shown once), to be replaced at the first sign-in. */
    async createUser(actor: AccountUser, input: { username: string; role: 'user' | 'admin' }) {
      requireAdmin(actor);
      const temporaryPassword = readableCode(4);
      const user = await accounts.createUser({ ...input, password: temporaryPassword, temporary: true });
      return { user, temporaryPassword };
    },

    /** Replaces the user's password with a generated temporary one (shown once to the administrator). */
    async setTemporaryPassword(actor: AccountUser, userId: number) {
      requireAdmin(actor);
      const user = requireTarget(userId);
      const temporaryPassword = readableCode(4);
      await accounts.resetPassword(user.id, temporaryPassword, { temporary: true });
      return { username: user.username, temporaryPassword };
    },

    /** A single-use link to choose a new password; any earlier link of the user stops working. */
    createLink(actor: AccountUser, userId: number) {
      requireAdmin(actor);
      const user = requireTarget(userId);
      const token = newLinkToken();
      const created = now();
      resets.insert(sha256Hex(token), user.id, actor.id, created, created + RESET_LINK_HOURS * HOUR_MS);
      return { username: user.username, token, expiresAt: created + RESET_LINK_HOURS * HOUR_MS };
    },

    /** Whose password a link resets, or ResetLinkInvalidError. */
    linkOwner(token: string): { username: string } {
      const reset = validReset(token);
      if (!reset) throw new ResetLinkInvalidError();
      return { username: reset.username };
    },

    /** Sets the password chosen on a reset link and uses the link up; returns the user to sign in. */
    async resetWithLink(token: string, input: { newPassword: string; confirmPassword: string }): Promise<AccountUser> {
      const reset = validReset(token);
      if (!reset) throw new ResetLinkInvalidError();
      const { newPassword } = parseOrThrow(newPasswordSchema, input);
      assertStrongPassword(newPassword, reset.username, 'newPassword');
      const user = accounts.findActiveUser(reset.userId);
      // A disabled account stays locked out whatever link it holds.
      if (!user) throw new ResetLinkInvalidError();
      // Claimed before the (slow) hashing: of two submissions racing with one link, only one sets a password.
      if (!resets.claim(reset.id, now())) throw new ResetLinkInvalidError();
      await accounts.resetPassword(reset.userId, newPassword, { field: 'newPassword' });
      return { ...user, mustChangePassword: false };
    },
  };
}
