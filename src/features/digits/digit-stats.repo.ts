import type { Db } from '../../db/database.js';
import { PREDICTION_COLUMNS, toPrediction, type Prediction, type PredictionRow } from './predictions.repo.js';

/** Counts of reviewed predictions per (true label, predicted digit); label null = "not a digit". */
export interface PairCount {
  label: number | null;
  digit: number;
  n: number;
}

export interface ConfidenceBinCount {
  /** 0..9: confidence in [bin / 10, (bin + 1) / 10), the last bin including 1. */
  bin: number;
  n: number;
  /** Of the reviewed ones with a digit label: read right and read wrong. */
  right: number;
  wrong: number;
}

export interface DayCount {
  /** YYYY-MM-DD (UTC). */
  day: string;
  n: number;
  reviewed: number;
}

/**
 * The analytics' SQL. `userId` null reads every user's predictions (the admin's system-wide view). Everything
 * is aggregated in SQLite, so a page never holds the predictions themselves.
 */
export function createDigitStatsRepo(db: Db) {
  const scoped = (userId: number | null) => (userId === null ? '' : 'user_id = @userId AND');
  const cache = new Map<string, ReturnType<Db['prepare']>>();
  const all = <T>(sql: string, params: Record<string, unknown>): T[] => {
    let statement = cache.get(sql);
    if (!statement) cache.set(sql, (statement = db.prepare(sql)));
    return statement.all(params) as T[];
  };
  const only = (userId: number | null) => (userId === null ? {} : { userId });

  return {
    totals(userId: number | null): { predictions: number; reviewed: number } {
      return all<{ predictions: number; reviewed: number }>(
        `SELECT COUNT(*) AS predictions, COUNT(corrected_at) AS reviewed FROM digit_predictions WHERE ${scoped(userId)} 1`,
        only(userId),
      )[0]!;
    },
    /** Predictions per UTC day since `since` (an ISO day); days without any are left out. */
    perDay: (userId: number | null, since: string) =>
      all<DayCount>(
        `SELECT substr(created_at, 1, 10) AS day, COUNT(*) AS n, COUNT(corrected_at) AS reviewed FROM digit_predictions
         WHERE ${scoped(userId)} created_at >= @since GROUP BY day ORDER BY day`,
        { ...only(userId), since },
      ),
    /** The reviewed predictions as (true label, predicted digit) pairs. */
    pairs: (userId: number | null) =>
      all<PairCount>(`SELECT label, digit, COUNT(*) AS n FROM digit_predictions WHERE ${scoped(userId)} corrected_at IS NOT NULL GROUP BY label, digit`, only(userId)),
    confidenceBins: (userId: number | null) =>
      all<ConfidenceBinCount>(
        `SELECT MIN(CAST(confidence * 10 AS INTEGER), 9) AS bin, COUNT(*) AS n,
           COUNT(CASE WHEN label = digit THEN 1 END) AS right, COUNT(CASE WHEN label <> digit THEN 1 END) AS wrong
         FROM digit_predictions WHERE ${scoped(userId)} 1 GROUP BY bin ORDER BY bin`,
        only(userId),
      ),
    /** The least confident predictions not yet reviewed: what is most worth a look. */
    reviewQueue: (userId: number, below: number, limit: number): Prediction[] =>
      all<PredictionRow>(
        `SELECT ${PREDICTION_COLUMNS} FROM digit_predictions WHERE user_id = @userId AND corrected_at IS NULL AND confidence < @below ORDER BY confidence LIMIT @limit`,
        { userId, below, limit },
      ).map(toPrediction),
  };
}

export type DigitStatsRepo = ReturnType<typeof createDigitStatsRepo>;
