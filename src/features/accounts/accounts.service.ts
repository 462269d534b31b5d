import bcrypt from 'bcrypt';
import type { Db } from '../../db/database.js';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../../http/errors.js';
import { changePasswordSchema, newPasswordSchema, parseOrThrow, passwordSchema, registerSchema, usernameSchema, type RegisterInput } from './accounts.schemas.js';
import { passwordWeakness } from './password-strength.js';
import { createSharingRepo } from './sharing.repo.js';
import { createUsersRepo, type Role, type UserRecord } from './users.repo.js';

/** What the rest of the app knows of a signed-in user (req.user). */
export interface AccountUser {
  id: number;
  username: string;
  role: Role;
  /** Signed in with a temporary password set by an administrator: every page asks for a new one first. */
  mustChangePassword?: boolean;
}

/** One row of the administrators' user list: everything but the password hash. */
export interface UserSummary {
  id: number;
  username: string;
  role: Role;
  disabled: boolean;
  createdAt: string;
  lastLoginAt: string | null;
}

export const toAccountUser = ({ id, username, role, mustChangePassword }: UserRecord): AccountUser => ({ id, username, role, mustChangePassword });

const toSummary = ({ id, username, role, disabled, createdAt, lastLoginAt }: UserRecord): UserSummary => ({
  id,
  username,
  role,
  disabled,
  createdAt,
  lastLoginAt,
});

const TAKEN_MESSAGE = 'This username is already taken.';
const LAST_ADMIN_DELETE_MESSAGE =
  'You are the last active administrator. Make someone else an administrator before deleting your account.';

/** Throws a ValidationError on `field` when the password is too easy to guess (see password-strength.ts). */
/** The signed-in user's own password, asked again before a change or a deletion, was wrong (the page counts these). */
export class WrongPasswordError extends ValidationError {
  constructor(field: string, message: string) {
    super('Please correct the marked fields.', { [field]: message });
  }
}

export function assertStrongPassword(password: string, username: string, field: string): void {
  const weakness = passwordWeakness(password, username);
  if (weakness) throw new ValidationError('Please correct the marked fields.', { [field]: weakness });
}

const isUniqueViolation = (err: unknown) => (err as { code?: string } | null)?.code === 'SQLITE_CONSTRAINT_UNIQUE';

export interface AccountsDeps {
  db: Db;
  bcryptCost: number;
  /** Runs after an account's rows are deleted, for what lives outside the database (the user's image files). */
  afterAccountDeleted?: (userId: number) => Promise<void>;
}

export type AccountsService = ReturnType<typeof createAccountsService>;

export function createAccountsService({ db, bcryptCost, afterAccountDeleted }: AccountsDeps) {
  const users = createUsersRepo(db);
  // Compared against when the username is unknown, so that a wrong name and a wrong password take as long.
  let timingDecoy: string | undefined;
  const decoyHash = async () => (timingDecoy ??= await bcrypt.hash('timing-decoy-password', bcryptCost));
  const hashPassword = (password: string) => bcrypt.hash(password, bcryptCost);

  const requireUser = (userId: number): UserRecord => {
    const user = users.findById(userId);
    if (!user) throw new NotFoundError('There is no such user.');
    return user;
  };

  const requireAdminActor = (actor: AccountUser | null) => {
    // null is the offline CLI, run by whoever operates the server.
    if (actor && actor.role !== 'admin') throw new ForbiddenError('Only administrators can manage users.');
  };

  const isActiveAdmin = (user: UserRecord) => user.role === 'admin' && !user.disabled;

  /** Inserts, turning a UNIQUE violation (two sign-ups racing for one name) into the same error as the pre-check. */
  const insertOrConflict = (insert: () => UserRecord): UserRecord => {
    try {
      return insert();
    } catch (err) {
      if (isUniqueViolation(err)) throw new ConflictError(TAKEN_MESSAGE);
      throw err;
    }
  };

  return {
    users,
    hashPassword,
    // The account page's "let my corrected digits improve the shared model" (read by model retraining).
    ...createSharingRepo(db),

    /**
     * The user for a username and password, or null; disabled accounts never authenticate. A success
     * records the time as the user's last login.
     */
    async verifyCredentials(username: string, password: string): Promise<AccountUser | null> {
      const user = users.findByUsername(username);
      const matches = await bcrypt.compare(password, user?.passwordHash ?? (await decoyHash()));
      if (!user || !matches || user.disabled) return null;
      users.recordLogin(user.id);
      return toAccountUser(user);
    },

    /** The user behind a session or token, or null when the account was deleted or disabled since. */
    findActiveUser(id: number): AccountUser | null {
      const user = users.findById(id);
      return user && !user.disabled ? toAccountUser(user) : null;
    },

    /** Whether the password changed after `epochSeconds` (an API token's issue time): then the token is void. */
    passwordChangedSince(id: number, epochSeconds: number): boolean {
      return (users.findById(id)?.passwordChangedAt ?? 0) > epochSeconds;
    },

    /**
     * Sign-up with a role that the registration rules chose (see registration.service.ts). `claim` runs in the
     * transaction that inserts the account (using up an invite or the setup code); when it throws, no account
     * is made. Throws ValidationError (fields) for bad input and ConflictError when the name is taken in any case.
     */
    async register(input: RegisterInput, { role = 'user', claim }: { role?: Role; claim?: (userId: number) => void } = {}): Promise<AccountUser> {
      const { username, password } = parseOrThrow(registerSchema, input);
      assertStrongPassword(password, username, 'password');
      // Checked before hashing so that a taken name answers fast; the UNIQUE index still decides under a race.
      if (users.findByUsername(username)) throw new ConflictError(TAKEN_MESSAGE);
      const hash = await hashPassword(password);
      return toAccountUser(
        insertOrConflict(() =>
          db.transaction(() => {
            const user = users.insert(username, hash, role);
            claim?.(user.id);
            return user;
          })(),
        ),
      );
    },

    /**
     * An account made by an operator (the CLI, or an administrator with a generated temporary password);
     * same rules for names and passwords.
     */
    async createUser(input: { username: string; password: string; role: Role; temporary?: boolean }): Promise<AccountUser> {
      const username = parseOrThrow(usernameSchema, input.username, 'The username is not valid.');
      const password = parseOrThrow(passwordSchema, input.password, 'The password is not valid.');
      assertStrongPassword(password, username, 'password');
      if (users.findByUsername(username)) throw new ConflictError(TAKEN_MESSAGE);
      const hash = await hashPassword(password);
      return toAccountUser(insertOrConflict(() => users.insert(username, hash, input.role, { mustChangePassword: input.temporary ?? false })));
    },

    findByUsername(username: string): UserSummary | null {
      const user = users.findByUsername(username.trim());
      return user ? toSummary(user) : null;
    },

    findUser(id: number): UserSummary | null {
      const user = users.findById(id);
      return user ? toSummary(user) : null;
    },

    listUsers(): UserSummary[] {
      return users.list().map(toSummary);
    },

    /**
     * Makes a user admin or a plain user. Refused when an admin would demote themselves, or when it
     * would leave no active admin. `actor` null is the offline CLI. Returns the user as changed.
     */
    setRole(actor: AccountUser | null, userId: number, role: Role): UserSummary {
      requireAdminActor(actor);
      return db.transaction(() => {
        const user = requireUser(userId);
        if (user.role === role) return toSummary(user);
        if (role !== 'admin') {
          if (actor?.id === userId) throw new ValidationError('You cannot remove your own administrator role.');
          if (isActiveAdmin(user) && users.countActiveAdmins() <= 1) {
            throw new ValidationError(`${user.username} is the last active administrator; promote someone else first.`);
          }
        }
        users.setRole(userId, role);
        return toSummary({ ...user, role });
      })();
    },

    /**
     * Disables (and signs out everywhere) or re-enables an account. Refused when an admin would disable
     * themselves, or when it would leave no active admin. Returns the user as changed.
     */
    setDisabled(actor: AccountUser | null, userId: number, disabled: boolean): UserSummary {
      requireAdminActor(actor);
      return db.transaction(() => {
        const user = requireUser(userId);
        if (disabled) {
          if (actor?.id === userId) throw new ValidationError('You cannot disable your own account.');
          if (isActiveAdmin(user) && users.countActiveAdmins() <= 1) {
            throw new ValidationError(`${user.username} is the last active administrator and cannot be disabled.`);
          }
          users.endSessions(userId);
        }
        users.setDisabled(userId, disabled);
        return toSummary({ ...user, disabled });
      })();
    },

    /**
     * Changes the password after checking the current one, and ends every session of the user (the
     * caller signs the current browser in again in a fresh session).
     */
    async changePassword(userId: number, current: string, next: string, confirm: string): Promise<void> {
      const input = parseOrThrow(changePasswordSchema, { currentPassword: current, newPassword: next, confirmPassword: confirm });
      const user = requireUser(userId);
      if (!(await bcrypt.compare(input.currentPassword, user.passwordHash))) {
        throw new WrongPasswordError('currentPassword', 'The current password is not correct.');
      }
      assertStrongPassword(input.newPassword, user.username, 'newPassword');
      const hash = await hashPassword(input.newPassword);
      db.transaction(() => {
        users.setPasswordHash(userId, hash);
        users.endSessions(userId);
      })();
    },

    /**
     * Sets a new password without knowing the old one (the operator's CLI, a reset link, or an administrator's
     * temporary password) and ends the user's sessions. `temporary`: the user must change it at the next sign-in.
     */
    async resetPassword(userId: number, password: string, { temporary = false, field = 'password' } = {}): Promise<void> {
      const valid = parseOrThrow(passwordSchema, password, 'The password is not valid.');
      assertStrongPassword(valid, requireUser(userId).username, field);
      const hash = await hashPassword(valid);
      db.transaction(() => {
        users.setPasswordHash(userId, hash, { temporary });
        users.endSessions(userId);
      })();
    },

    /**
     * The user's own password in place of a temporary one, right after signing in with it (so the temporary
     * one is not asked again); it must differ from it. Other sessions end, like any password change.
     */
    async replaceTemporaryPassword(userId: number, next: string, confirm: string): Promise<void> {
      const input = parseOrThrow(newPasswordSchema, { newPassword: next, confirmPassword: confirm });
      const user = requireUser(userId);
      if (!user.mustChangePassword) throw new ValidationError('Your password is not a temporary one; change it on your account page.');
      assertStrongPassword(input.newPassword, user.username, 'newPassword');
      if (await bcrypt.compare(input.newPassword, user.passwordHash)) {
        throw new ValidationError('Please correct the marked fields.', { newPassword: 'Choose a password of your own, not the temporary one.' });
      }
      const hash = await hashPassword(input.newPassword);
      db.transaction(() => {
        users.setPasswordHash(userId, hash);
        users.endSessions(userId);
      })();
    },

    /**
     * An administrator deletes another account and everything in it. Refused for one's own account (the
     * account page does that, with the password) and for the last active administrator.
     */
    async deleteUser(actor: AccountUser | null, userId: number): Promise<UserSummary> {
      requireAdminActor(actor);
      const deleted = db.transaction(() => {
        const user = requireUser(userId);
        if (actor?.id === userId) throw new ValidationError('Delete your own account from your account page.');
        if (isActiveAdmin(user) && users.countActiveAdmins() <= 1) throw new ValidationError(`${user.username} is the last active administrator and cannot be deleted.`);
        users.endSessions(userId);
        users.remove(userId);
        return toSummary(user);
      })();
      await afterAccountDeleted?.(userId);
      return deleted;
    },

    /** Whether no active administrator exists yet: the first start, when registering needs the setup code. */
    needsFirstAdmin: () => users.countActiveAdmins() === 0,

    /** Whether deleting this account is refused because it is the last active admin (for the page to explain). */
    isLastActiveAdmin(userId: number): boolean {
      const user = users.findById(userId);
      return Boolean(user && isActiveAdmin(user) && users.countActiveAdmins() <= 1);
    },

    /**
     * Deletes the account after checking its password. Everything the user owns goes with it (ON DELETE
     * CASCADE), sessions included. The last active admin cannot delete themselves.
     */
    async deleteAccount(userId: number, password: string): Promise<void> {
      const user = requireUser(userId);
      if (isActiveAdmin(user) && users.countActiveAdmins() <= 1) throw new ValidationError(LAST_ADMIN_DELETE_MESSAGE);
      if (!(await bcrypt.compare(typeof password === 'string' ? password : '', user.passwordHash))) {
        throw new WrongPasswordError('password', 'The password is not correct.');
      }
      db.transaction(() => {
        const fresh = requireUser(userId);
        if (isActiveAdmin(fresh) && users.countActiveAdmins() <= 1) {
          throw new ValidationError(LAST_ADMIN_DELETE_MESSAGE);
        }
        users.endSessions(userId);
        users.remove(userId);
      })();
      await afterAccountDeleted?.(userId);
    },
  };
}
