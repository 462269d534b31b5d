import type { Db } from '../../db/database.js';
import type { ImageStore } from '../../storage/index.js';

export interface CorrectionFilter {
  /** Only these accounts' corrections (those that allowed it; see the accounts feature). */
  userIds: number[];
  /** Only corrections made at or after this ISO time. */
  since?: string;
}

export interface CorrectedDigit {
  predictionId: number;
  userId: number;
  /** The digit the user said it is. */
  label: number;
  bytes: Buffer;
}

/**
 * Read-only access to corrected digits with their kept images, for retraining the digit model
 * (src/features/models). Only corrections with a digit label and a kept image count; slices, never all at once.
 */
export function createTrainingCorrectionsReader({ db, store }: { db: Db; store: ImageStore }) {
  const where = `user_id IN (SELECT value FROM json_each(@users)) AND corrected_at IS NOT NULL AND label IS NOT NULL
    AND stored_image_id IS NOT NULL AND (@since IS NULL OR corrected_at >= @since)`;
  const count = db.prepare(`SELECT count(*) FROM digit_predictions WHERE ${where}`).pluck();
  const page = db.prepare(
    `SELECT id, user_id AS userId, label, stored_image_id AS storedImageId FROM digit_predictions WHERE ${where} AND id > @after ORDER BY id LIMIT @limit`,
  );
  const params = (filter: CorrectionFilter) => ({ users: JSON.stringify(filter.userIds), since: filter.since ?? null });

  return {
    count: (filter: CorrectionFilter): number => count.get(params(filter)) as number,

    /** The corrections, `size` at a time, oldest first; one whose image file cannot be read is skipped. */
    async *batches(filter: CorrectionFilter, size = 32): AsyncGenerator<CorrectedDigit[]> {
      let after = 0;
      for (;;) {
        const rows = page.all({ ...params(filter), after, limit: size }) as { id: number; userId: number; label: number; storedImageId: number }[];
        if (!rows.length) return;
        after = rows.at(-1)!.id;
        const batch: CorrectedDigit[] = [];
        for (const row of rows) {
          const image = store.get(row.userId, row.storedImageId);
          if (!image) continue;
          try {
            batch.push({ predictionId: row.id, userId: row.userId, label: row.label, bytes: await store.readBytes(image) });
          } catch {
            // A file gone missing is left out.
          }
        }
        yield batch;
      }
    },
  };
}

export type TrainingCorrectionsReader = ReturnType<typeof createTrainingCorrectionsReader>;
