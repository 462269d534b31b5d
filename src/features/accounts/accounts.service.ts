import bcrypt from 'bcrypt';
import type { Db } from '../../db/database.js';
import { createUsersRepo, type Role, type UserRecord } from './users.repo.js';

/** What the rest of the app knows of a signed-in user (req.user). */
export interface AccountUser {
  id: number;
  username: string;
  role: Role;
}

export const toAccountUser = ({ id, username, role }: UserRecord): AccountUser => ({ id, username, role });

export interface AccountsDeps {
  db: Db;
  bcryptCost: number;
}

export type AccountsService = ReturnType<typeof createAccountsService>;

export function createAccountsService({ db, bcryptCost }: AccountsDeps) {
  const users = createUsersRepo(db);
  // Compared against when the username is unknown, so that a wrong name and a wrong password take as long.
  let timingDecoy: string | undefined;
  const decoyHash = async () => (timingDecoy ??= await bcrypt.hash('timing-decoy-password', bcryptCost));

  return {
    users,
    hashPassword: (password: string) => bcrypt.hash(password, bcryptCost),

    /** The user for a username and password, or null; disabled accounts never authenticate. */
    async verifyCredentials(username: string, password: string): Promise<AccountUser | null> {
      const user = users.findByUsername(username);
      const matches = await bcrypt.compare(password, user?.passwordHash ?? (await decoyHash()));
      if (!user || !matches || user.disabled) return null;
      return toAccountUser(user);
    },

    /** The user behind a session or token, or null when the account was deleted or disabled since. */
    findActiveUser(id: number): AccountUser | null {
      const user = users.findById(id);
      return user && !user.disabled ? toAccountUser(user) : null;
    },
  };
}
