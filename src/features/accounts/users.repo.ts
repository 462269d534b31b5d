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
  /** The password was set by an administrator: the user must choose their own before doing anything else. */
  mustChangePassword: boolean;
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
  must_change_password: 0 | 1;
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
  mustChangePassword: row.must_change_password === 1,
});

export type UsersRepo = ReturnType<typeof createUsersRepo>;

export function createUsersRepo(db: Db) {
  const byId = db.prepare<[number], UserRow>('SELECT * FROM users WHERE id = ?');
  const byUsername = db.prepare<[string], UserRow>('SELECT * FROM users WHERE username = ? COLLATE NOCASE');
  // Never a deleted account's id: log rows and security events keep those ids (migrations/009).
  const insert = db.prepare<[string, string, Role, 0 | 1], UserRow>(
    `INSERT INTO users (id, username, password_hash, role, must_change_password)
     VALUES (max(coalesce((SELECT max(id) FROM users), 0), coalesce((SELECT max(id) FROM deleted_users), 0)) + 1, ?, ?, ?, ?)
     RETURNING *`,
  );
  const countAdmins = db.prepare<[], { n: number }>("SELECT count(*) AS n FROM users WHERE role = 'admin' AND disabled = 0");
  const all = db.prepare<[], UserRow>('SELECT * FROM users ORDER BY username COLLATE NOCASE');
  const setRole = db.prepare<[Role, number]>('UPDATE users SET role = ? WHERE id = ?');
  const setDisabled = db.prepare<[0 | 1, number]>('UPDATE users SET disabled = ? WHERE id = ?');
  const setPassword = db.prepare<[string, 0 | 1, number]>(
    'UPDATE users SET password_hash = ?, must_change_password = ?, password_changed_at = unixepoch() WHERE id = ?',
  );
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
    /** `mustChangePassword`: the password is a temporary one set by an administrator. */
    insert: (username: string, passwordHash: string, role: Role, { mustChangePassword = false } = {}) =>
      toUser(insert.get(username, passwordHash, role, mustChangePassword ? 1 : 0)!),
    list: () => all.all().map(toUser),
    countActiveAdmins: () => countAdmins.get()!.n,
    setRole: (id: number, role: Role) => setRole.run(role, id).changes > 0,
    setDisabled: (id: number, disabled: boolean) => setDisabled.run(disabled ? 1 : 0, id).changes > 0,
    /** `temporary`: set by an administrator, to be changed by the user at the next sign-in. */
    setPasswordHash: (id: number, hash: string, { temporary = false } = {}) => setPassword.run(hash, temporary ? 1 : 0, id).changes > 0,
    recordLogin: (id: number) => void touchLogin.run(id),
    remove: (id: number) => remove.run(id).changes > 0,
    /** Signs the user out everywhere (disabled, deleted, or password changed). */
    endSessions: (id: number) => endSessions.run(id).changes,
  };
}
