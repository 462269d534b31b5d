import type { Db } from '../../db/database.js';
import type { SignatureDecision } from '../../ml/index.js';
import type { Truth } from './verifications.repo.js';

export interface LabelledVerification {
  score: number;
  decision: SignatureDecision;
  threshold: number;
  bandLow: number;
  bandHigh: number;
  truth: Truth;
  modelVersion: string;
}

/**
 * Read-only: every verification whose true outcome was recorded, with the score and decision the model gave, for
 * evaluating the signature model (src/features/models). Scores only: no images, no user data.
 */
export function createLabelledVerificationsReader(db: Db) {
  const byVersion = db.prepare<[string], LabelledVerification>(
    `SELECT score, decision, threshold, band_low AS bandLow, band_high AS bandHigh, truth, model_version AS modelVersion
     FROM signature_verifications WHERE truth IS NOT NULL AND model_version = ? ORDER BY id`,
  );
  return {
    /** The labelled verifications answered by this model version. */
    forVersion: (version: string): LabelledVerification[] => byVersion.all(version),
  };
}
