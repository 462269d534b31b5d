import type { Db } from '../../db/database.js';

export interface Invite {
  id: number;
  note: string;
  createdBy: number | null;
  createdByName: string | null;
  /** Epoch ms. */
  createdAt: number;
  expiresAt: number;
  usedAt: number | null;
  usedBy: number | null;
  usedByName: string | null;
}

const select = `SELECT i.id, i.note, i.created_by AS createdBy, c.username AS createdByName, i.created_at AS createdAt,
  i.expires_at AS expiresAt, i.used_at AS usedAt, i.used_by AS usedBy, u.username AS usedByName
  FROM invites i LEFT JOIN users c ON c.id = i.created_by LEFT JOIN users u ON u.id = i.used_by`;

/** Invitation links (migrations/009): only the sha256 of each token is stored. */
export function createInvitesRepo(db: Db) {
  const insert = db.prepare<[string, string, number | null, number, number], { id: number }>(
    'INSERT INTO invites (token_sha256, note, created_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?) RETURNING id',
  );
  const byId = db.prepare<[number], Invite>(`${select} WHERE i.id = ?`);
  const byToken = db.prepare<[string], Invite>(`${select} WHERE i.token_sha256 = ?`);
  const recent = db.prepare<[number], Invite>(`${select} ORDER BY i.id DESC LIMIT ?`);
  // The condition is the check: two sign-ups racing for one invite cannot both change the row.
  const claim = db.prepare<[number, number, string, number]>('UPDATE invites SET used_at = ?, used_by = ? WHERE token_sha256 = ? AND used_at IS NULL AND expires_at > ?');
  const remove = db.prepare<[number]>('DELETE FROM invites WHERE id = ? AND used_at IS NULL');

  return {
    insert: (tokenSha256: string, note: string, createdBy: number | null, createdAt: number, expiresAt: number) =>
      byId.get(insert.get(tokenSha256, note, createdBy, createdAt, expiresAt)!.id)!,
    findById: (id: number) => byId.get(id) ?? null,
    findByToken: (tokenSha256: string) => byToken.get(tokenSha256) ?? null,
    /** The newest `limit` invites, used or not. */
    recent: (limit: number) => recent.all(limit),
    /** Marks the invite used by `userId`; false when it is unknown, used or expired. */
    claim: (tokenSha256: string, userId: number, now: number) => claim.run(now, userId, tokenSha256, now).changes === 1,
    /** Deletes an unused invite; false when it was used (kept as a record) or is unknown. */
    remove: (id: number) => remove.run(id).changes === 1,
  };
}
