import type { Db } from '../../db/database.js';
import type { SignatureDecision } from '../../ml/index.js';
import type { SignatureSource } from './references.repo.js';

export type Truth = 'genuine' | 'forged';

export interface ReferenceSimilarity {
  reference_id: number;
  similarity: number;
}

export interface Verification {
  id: number;
  signerId: number;
  userId: number;
  /** Who ran it: the account's username. */
  username: string;
  storedImageId: number;
  source: SignatureSource;
  crop: string | null;
  score: number;
  decision: SignatureDecision;
  threshold: number;
  bandLow: number;
  bandHigh: number;
  similarities: ReferenceSimilarity[];
  /** References of the signer left out as outliers. */
  leftOut: number[];
  modelVersion: string;
  durationMs: number;
  truth: Truth | null;
  truthMarkedAt: string | null;
  createdAt: string;
}

export type NewVerification = Omit<Verification, 'id' | 'username' | 'truth' | 'truthMarkedAt' | 'createdAt'> & { inkMap: Buffer };

interface Row extends Omit<Verification, 'similarities' | 'leftOut'> {
  similarities: string;
  leftOut: string;
}

const select = `SELECT v.id, v.signer_id AS signerId, v.user_id AS userId, u.username, v.stored_image_id AS storedImageId, v.source, v.crop,
  v.score, v.decision, v.threshold, v.band_low AS bandLow, v.band_high AS bandHigh, v.similarities, v.left_out AS leftOut, v.model_version AS modelVersion,
  v.duration_ms AS durationMs, v.truth, v.truth_marked_at AS truthMarkedAt, v.created_at AS createdAt
  FROM signature_verifications v JOIN users u ON u.id = v.user_id`;

const toVerification = (row: Row): Verification => ({
  ...row,
  similarities: JSON.parse(row.similarities) as ReferenceSimilarity[],
  leftOut: JSON.parse(row.leftOut) as number[],
});

export function createVerificationsRepo(db: Db) {
  const statements = {
    insert: db.prepare(`INSERT INTO signature_verifications (signer_id, user_id, stored_image_id, source, crop, score, decision, threshold,
      band_low, band_high, similarities, left_out, model_version, duration_ms, ink_map)
      VALUES (@signerId, @userId, @storedImageId, @source, @crop, @score, @decision, @threshold, @bandLow, @bandHigh, @similarities,
      @leftOut, @modelVersion, @durationMs, @inkMap) RETURNING id`),
    findById: db.prepare(`${select} WHERE v.user_id = ? AND v.id = ?`),
    page: db.prepare(`${select} WHERE v.user_id = ? AND v.signer_id = ? ORDER BY v.id DESC LIMIT ? OFFSET ?`),
    after: db.prepare(`${select} WHERE v.user_id = ? AND v.signer_id = ? AND v.id > ? ORDER BY v.id LIMIT ?`),
    count: db.prepare('SELECT COUNT(*) FROM signature_verifications WHERE user_id = ? AND signer_id = ?').pluck(),
    inkMap: db.prepare('SELECT ink_map FROM signature_verifications WHERE user_id = ? AND id = ?').pluck(),
    storedImageIds: db.prepare('SELECT stored_image_id FROM signature_verifications WHERE user_id = ? AND signer_id = ?').pluck(),
    markTruth: db.prepare(`UPDATE signature_verifications SET truth = ?, truth_marked_at = CASE WHEN ? IS NULL THEN NULL ELSE strftime('%Y-%m-%dT%H:%M:%fZ', 'now') END
      WHERE user_id = ? AND id = ?`),
  };

  const findById = (userId: number, id: number) => {
    const row = statements.findById.get(userId, id) as Row | undefined;
    return row && toVerification(row);
  };

  return {
    insert(verification: NewVerification): Verification {
      const { id } = statements.insert.get({ ...verification, similarities: JSON.stringify(verification.similarities), leftOut: JSON.stringify(verification.leftOut) }) as { id: number };
      return findById(verification.userId, id)!;
    },
    findById,
    /** Newest first. */
    page: (userId: number, signerId: number, limit: number, offset: number) => (statements.page.all(userId, signerId, limit, offset) as Row[]).map(toVerification),
    /**
     * Oldest first, read 500 at a time (for the CSV export, however long the history). Not iterate(): that keeps
     * the connection busy, and the export waits on the network between chunks while other requests need it.
     */
    *each(userId: number, signerId: number): Generator<Verification> {
      for (let after = 0; ; ) {
        const rows = statements.after.all(userId, signerId, after, 500) as Row[];
        if (rows.length === 0) return;
        for (const row of rows) yield toVerification(row);
        after = rows.at(-1)!.id;
      }
    },
    count: (userId: number, signerId: number) => statements.count.get(userId, signerId) as number,
    inkMap: (userId: number, id: number) => statements.inkMap.get(userId, id) as Buffer | undefined,
    storedImageIds: (userId: number, signerId: number) => statements.storedImageIds.all(userId, signerId) as number[],
    markTruth(userId: number, id: number, truth: Truth | null): void {
      statements.markTruth.run(truth, truth, userId, id);
    },
  };
}

export type VerificationsRepo = ReturnType<typeof createVerificationsRepo>;
