import type { Db } from '../../db/database.js';

export interface PasswordReset {
  id: number;
  userId: number;
  username: string;
  /** Epoch ms. */
  expiresAt: number;
  usedAt: number | null;
}

/** Password reset links (migrations/009): only the sha256 of each token is stored. */
export function createPasswordResetsRepo(db: Db) {
  const insert = db.prepare<[string, number, number | null, number, number]>(
    'INSERT INTO password_resets (token_sha256, user_id, created_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?)',
  );
  const byToken = db.prepare<[string], PasswordReset>(
    `SELECT r.id, r.user_id AS userId, u.username, r.expires_at AS expiresAt, r.used_at AS usedAt
     FROM password_resets r JOIN users u ON u.id = r.user_id WHERE r.token_sha256 = ?`,
  );
  const claim = db.prepare<[number, number, number]>('UPDATE password_resets SET used_at = ? WHERE id = ? AND used_at IS NULL AND expires_at > ?');
  // A new link replaces the user's earlier ones: only the latest works.
  const voidEarlier = db.prepare<[number, number]>('UPDATE password_resets SET used_at = ? WHERE user_id = ? AND used_at IS NULL');

  return {
    insert(tokenSha256: string, userId: number, createdBy: number | null, createdAt: number, expiresAt: number): void {
      voidEarlier.run(createdAt, userId);
      insert.run(tokenSha256, userId, createdBy, createdAt, expiresAt);
    },
    findByToken: (tokenSha256: string) => byToken.get(tokenSha256) ?? null,
    /** Uses the link up; false when it was used or has expired meanwhile. */
    claim: (id: number, now: number) => claim.run(now, id, now).changes === 1,
  };
}
