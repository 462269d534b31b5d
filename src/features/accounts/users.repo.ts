import type { Db } from '../../db/database.js';

export type Role = 'user' | 'admin';

export interface UserRecord {
  id: number;
  username: string;
  passwordHash: string;
  role: Role;
  disabled: boolean;
  createdAt: string;
  lastLoginAt: string | null;
  /** Epoch seconds; 0 when the password was never changed. */
  passwordChangedAt: number;
}

interface UserRow {
  id: number;
  username: string;
  password_hash: string;
  role: Role;
  disabled: 0 | 1;
  created_at: string;
  last_login_at: string | null;
  password_changed_at: number;
}

const toUser = (row: UserRow): UserRecord => ({
  id: row.id,
  username: row.username,
  passwordHash: row.password_hash,
  role: row.role,
  disabled: row.disabled === 1,
  createdAt: row.created_at,
  lastLoginAt: row.last_login_at,
  passwordChangedAt: row.password_changed_at,
});

export type UsersRepo = ReturnType<typeof createUsersRepo>;

export function createUsersRepo(db: Db) {
  const byId = db.prepare<[number], UserRow>('SELECT * FROM users WHERE id = ?');
  const byUsername = db.prepare<[string], UserRow>('SELECT * FROM users WHERE username = ? COLLATE NOCASE');
  const insert = db.prepare<[string, string, Role], UserRow>('INSERT INTO users (username, password_hash, role) VALUES (?, ?, ?) RETURNING *');
  const count = db.prepare<[], { n: number }>('SELECT count(*) AS n FROM users');
  const countAdmins = db.prepare<[], { n: number }>("SELECT count(*) AS n FROM users WHERE role = 'admin' AND disabled = 0");
  const all = db.prepare<[], UserRow>('SELECT * FROM users ORDER BY username COLLATE NOCASE');
  const setRole = db.prepare<[Role, number]>('UPDATE users SET role = ? WHERE id = ?');
  const setDisabled = db.prepare<[0 | 1, number]>('UPDATE users SET disabled = ? WHERE id = ?');
  const setPassword = db.prepare<[string, number]>('UPDATE users SET password_hash = ?, password_changed_at = unixepoch() WHERE id = ?');
  const touchLogin = db.prepare<[number]>("UPDATE users SET last_login_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?");
  const remove = db.prepare<[number]>('DELETE FROM users WHERE id = ?');
  const endSessions = db.prepare<[number]>('DELETE FROM sessions WHERE user_id = ?');

  return {
    findById: (id: number) => {
      const row = byId.get(id);
      return row ? toUser(row) : null;
    },
    findByUsername: (username: string) => {
      const row = byUsername.get(username);
      return row ? toUser(row) : null;
    },
    /** The first account ever created becomes admin; the count and the insert happen in one transaction. */
    insertWithFirstAdmin: db.transaction((username: string, passwordHash: string): UserRecord => {
      const role: Role = count.get()!.n === 0 ? 'admin' : 'user';
      return toUser(insert.get(username, passwordHash, role)!);
    }),
    insert: (username: string, passwordHash: string, role: Role) => toUser(insert.get(username, passwordHash, role)!),
    list: () => all.all().map(toUser),
    countActiveAdmins: () => countAdmins.get()!.n,
    setRole: (id: number, role: Role) => setRole.run(role, id).changes > 0,
    setDisabled: (id: number, disabled: boolean) => setDisabled.run(disabled ? 1 : 0, id).changes > 0,
    setPasswordHash: (id: number, hash: string) => setPassword.run(hash, id).changes > 0,
    recordLogin: (id: number) => void touchLogin.run(id),
    remove: (id: number) => remove.run(id).changes > 0,
    /** Signs the user out everywhere (disabled, deleted, or password changed). */
    endSessions: (id: number) => endSessions.run(id).changes,
  };
}
