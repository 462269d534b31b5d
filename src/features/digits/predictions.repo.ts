import type { Db } from '../../db/database.js';

export const PREDICTION_SOURCES = ['drawing', 'upload', 'api', 'library'] as const;
export type PredictionSource = (typeof PREDICTION_SOURCES)[number];

/** One stored prediction. `correction` is null until the user reviews it; its label null means "not a digit". */
export interface Prediction {
  id: number;
  userId: number;
  source: PredictionSource;
  storedImageId: number | null;
  fileName: string | null;
  digit: number;
  confidence: number;
  probabilities: number[];
  modelVersion: string;
  createdAt: string;
  correction: { label: number | null; correctedAt: string } | null;
}

export type NewPrediction = Omit<Prediction, 'correction' | 'userId'> & { userId: number };

/** History filters; every one optional. `from`/`to` are ISO timestamps (inclusive / exclusive). */
export interface PredictionFilter {
  digit?: number;
  corrected?: boolean;
  source?: PredictionSource;
  from?: string;
  to?: string;
}

export interface PredictionRow {
  id: number;
  userId: number;
  source: PredictionSource;
  storedImageId: number | null;
  fileName: string | null;
  digit: number;
  confidence: number;
  probabilities: string;
  modelVersion: string;
  createdAt: string;
  label: number | null;
  correctedAt: string | null;
}

export const PREDICTION_COLUMNS = `id, user_id AS userId, source, stored_image_id AS storedImageId, file_name AS fileName, digit, confidence,
  probabilities, model_version AS modelVersion, created_at AS createdAt, label, corrected_at AS correctedAt`;

export const toPrediction = ({ label, correctedAt, probabilities, ...row }: PredictionRow): Prediction => ({
  ...row,
  probabilities: JSON.parse(probabilities) as number[],
  correction: correctedAt === null ? null : { label, correctedAt },
});

/** The WHERE clause of a filtered history and its parameters; `userId` null means every user's (admin views). */
export function filterClause(userId: number | null, filter: PredictionFilter): { where: string; params: Record<string, unknown> } {
  const conditions: string[] = [];
  const params: Record<string, unknown> = {};
  if (userId !== null) conditions.push('user_id = @userId');
  if (filter.digit !== undefined) conditions.push('digit = @digit');
  if (filter.corrected !== undefined) conditions.push(filter.corrected ? 'corrected_at IS NOT NULL' : 'corrected_at IS NULL');
  if (filter.source) conditions.push('source = @source');
  if (filter.from) conditions.push('created_at >= @from');
  if (filter.to) conditions.push('created_at < @to');
  Object.assign(params, { userId, digit: filter.digit, source: filter.source, from: filter.from, to: filter.to });
  for (const key of Object.keys(params)) if (params[key] === undefined) delete params[key];
  return { where: conditions.length ? `WHERE ${conditions.join(' AND ')}` : '', params };
}

export function createPredictionsRepo(db: Db) {
  const statements = {
    insert: db.prepare(`INSERT INTO digit_predictions (id, user_id, source, stored_image_id, file_name, digit, confidence, probabilities, model_version, created_at)
      VALUES (@id, @userId, @source, @storedImageId, @fileName, @digit, @confidence, @probabilities, @modelVersion, @createdAt)`),
    lastId: db.prepare(`SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'digit_predictions'), 0), COALESCE((SELECT MAX(id) FROM digit_predictions), 0))`).pluck(),
    findById: db.prepare(`SELECT ${PREDICTION_COLUMNS} FROM digit_predictions WHERE user_id = ? AND id = ?`),
    correct: db.prepare('UPDATE digit_predictions SET label = ?, corrected_at = ? WHERE user_id = ? AND id = ?'),
    uncorrect: db.prepare('UPDATE digit_predictions SET label = NULL, corrected_at = NULL WHERE user_id = ? AND id = ?'),
    remove: db.prepare('DELETE FROM digit_predictions WHERE user_id = ? AND id = ?'),
    countByUser: db.prepare('SELECT user_id AS userId, COUNT(*) AS count FROM digit_predictions GROUP BY user_id'),
    idsAfter: db.prepare('SELECT id, stored_image_id AS storedImageId FROM digit_predictions WHERE user_id = ? AND id > ? ORDER BY id LIMIT ?'),
    keepImages: db.prepare('SELECT keep_images FROM digit_settings WHERE user_id = ?').pluck(),
    setKeepImages: db.prepare('INSERT INTO digit_settings (user_id, keep_images) VALUES (?, ?) ON CONFLICT (user_id) DO UPDATE SET keep_images = excluded.keep_images'),
  };
  // Filtered statements differ by which filters are set: prepared once per combination.
  const prepared = new Map<string, ReturnType<Db['prepare']>>();
  const statement = (sql: string) => {
    let found = prepared.get(sql);
    if (!found) prepared.set(sql, (found = db.prepare(sql)));
    return found;
  };

  return {
    /** The highest id ever given; the writer continues from it. */
    lastId: () => statements.lastId.get() as number,
    insert(prediction: NewPrediction): void {
      statements.insert.run({ ...prediction, probabilities: JSON.stringify(prediction.probabilities) });
    },
    findById(userId: number, id: number): Prediction | undefined {
      const row = statements.findById.get(userId, id) as PredictionRow | undefined;
      return row && toPrediction(row);
    },
    /** The user's predictions among `ids`, in the order given; ids that are not theirs are left out. */
    findMany(userId: number, ids: number[]): Prediction[] {
      return ids.flatMap((id) => this.findById(userId, id) ?? []);
    },
    /** Newest first. */
    page(userId: number, filter: PredictionFilter, limit: number, offset: number): Prediction[] {
      const { where, params } = filterClause(userId, filter);
      return (statement(`SELECT ${PREDICTION_COLUMNS} FROM digit_predictions ${where} ORDER BY id DESC LIMIT @limit OFFSET @offset`).all({ ...params, limit, offset }) as PredictionRow[]).map(toPrediction);
    },
    count(userId: number, filter: PredictionFilter): number {
      const { where, params } = filterClause(userId, filter);
      return statement(`SELECT COUNT(*) AS n FROM digit_predictions ${where}`).pluck().get(params) as number;
    },
    /** Up to `limit` rows after id `afterId`, oldest first: exports read the history in such slices, never all at once. */
    slice(userId: number, filter: PredictionFilter, afterId: number, limit: number): Prediction[] {
      const { where, params } = filterClause(userId, filter);
      const sql = `SELECT ${PREDICTION_COLUMNS} FROM digit_predictions ${where ? `${where} AND` : 'WHERE'} id > @afterId ORDER BY id LIMIT @limit`;
      return (statement(sql).all({ ...params, afterId, limit }) as PredictionRow[]).map(toPrediction);
    },
    /** Ids and images of the user's predictions after `afterId`, for deleting all of them in slices. */
    countByUser: () => new Map((statements.countByUser.all() as { userId: number; count: number }[]).map((row) => [row.userId, row.count])),
    idsAfter: (userId: number, afterId: number, limit: number) => statements.idsAfter.all(userId, afterId, limit) as { id: number; storedImageId: number | null }[],
    correct(userId: number, id: number, label: number | null, at: string): void {
      statements.correct.run(label, at, userId, id);
    },
    uncorrect(userId: number, id: number): void {
      statements.uncorrect.run(userId, id);
    },
    remove(userId: number, id: number): void {
      statements.remove.run(userId, id);
    },
    keepImages: (userId: number) => (statements.keepImages.get(userId) ?? 1) === 1,
    setKeepImages(userId: number, keep: boolean): void {
      statements.setKeepImages.run(userId, keep ? 1 : 0);
    },
  };
}

export type PredictionsRepo = ReturnType<typeof createPredictionsRepo>;
