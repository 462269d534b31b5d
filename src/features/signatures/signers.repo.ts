import type { Db } from '../../db/database.js';
import type { SignatureDecision } from '../../ml/index.js';

export interface Signer {
  id: number;
  userId: number;
  name: string;
  externalRef: string | null;
  notes: string;
  referenceCount: number;
  createdAt: string;
  updatedAt: string;
}

/** A signer in the list, with its last verification. */
export interface SignerSummary extends Signer {
  lastVerification: { id: number; decision: SignatureDecision; createdAt: string } | null;
}

export interface SignerFields {
  name: string;
  externalRef: string | null;
  notes: string;
}

const select = `SELECT s.id, s.user_id AS userId, s.name, s.external_ref AS externalRef, s.notes, s.created_at AS createdAt, s.updated_at AS updatedAt,
  (SELECT COUNT(*) FROM signature_references r WHERE r.signer_id = s.id) AS referenceCount
  FROM signers s`;

/** Matches the search text anywhere in the name or external reference; % and _ typed by the user are literal. */
const search = `(? = '' OR s.name LIKE ? ESCAPE '\\' OR s.external_ref LIKE ? ESCAPE '\\')`;
const likePattern = (q: string) => `%${q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

interface SummaryRow extends Signer {
  lastId: number | null;
  lastDecision: SignatureDecision | null;
  lastAt: string | null;
}

export function createSignersRepo(db: Db) {
  const statements = {
    insert: db.prepare(`INSERT INTO signers (user_id, name, external_ref, notes) VALUES (?, ?, ?, ?) RETURNING id`),
    findById: db.prepare(`${select} WHERE s.user_id = ? AND s.id = ?`),
    findByExternalRef: db.prepare(`SELECT id, name FROM signers WHERE user_id = ? AND external_ref = ? COLLATE NOCASE`),
    page: db.prepare(`SELECT x.*, v.id AS lastId, v.decision AS lastDecision, v.created_at AS lastAt FROM (${select}
        WHERE s.user_id = ? AND ${search} ORDER BY s.name COLLATE NOCASE, s.id LIMIT ? OFFSET ?) x
      LEFT JOIN signature_verifications v ON v.id = (SELECT MAX(id) FROM signature_verifications WHERE signer_id = x.id)
      ORDER BY x.name COLLATE NOCASE, x.id`),
    count: db.prepare(`SELECT COUNT(*) FROM signers s WHERE s.user_id = ? AND ${search}`).pluck(),
    update: db.prepare(`UPDATE signers SET name = ?, external_ref = ?, notes = ?, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE user_id = ? AND id = ?`),
    remove: db.prepare('DELETE FROM signers WHERE user_id = ? AND id = ?'),
    countByUser: db.prepare('SELECT user_id AS userId, COUNT(*) AS count FROM signers GROUP BY user_id'),
  };

  const findById = (userId: number, id: number) => statements.findById.get(userId, id) as Signer | undefined;

  return {
    /** Signers per user, for the admin user pages. */
    countByUser: () => new Map((statements.countByUser.all() as { userId: number; count: number }[]).map((row) => [row.userId, row.count])),
    insert(userId: number, fields: SignerFields): Signer {
      const { id } = statements.insert.get(userId, fields.name, fields.externalRef, fields.notes) as { id: number };
      return findById(userId, id)!;
    },
    findById,
    /** The signer of this account that already uses the external reference (ignoring case), if any. */
    findByExternalRef: (userId: number, externalRef: string) => statements.findByExternalRef.get(userId, externalRef) as { id: number; name: string } | undefined,
    /** By name; `q` filters by name or external reference. */
    page(userId: number, q: string, limit: number, offset: number): SignerSummary[] {
      const pattern = likePattern(q);
      return (statements.page.all(userId, q, pattern, pattern, limit, offset) as SummaryRow[]).map(({ lastId, lastDecision, lastAt, ...signer }) => ({
        ...signer,
        lastVerification: lastId === null ? null : { id: lastId, decision: lastDecision!, createdAt: lastAt! },
      }));
    },
    count(userId: number, q: string): number {
      const pattern = likePattern(q);
      return statements.count.get(userId, q, pattern, pattern) as number;
    },
    update(userId: number, id: number, fields: SignerFields): void {
      statements.update.run(fields.name, fields.externalRef, fields.notes, userId, id);
    },
    remove(userId: number, id: number): void {
      statements.remove.run(userId, id);
    },
  };
}

export type SignersRepo = ReturnType<typeof createSignersRepo>;
