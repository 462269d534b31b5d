/**
 * The decision rule of signature verification: compares the embedding of a questioned signature with the embeddings
 * of K reference signatures of the claimed writer. Pure arithmetic, mirrored line for line by `score` and
 * `equal_error_rate` in models/training/train_signatures.py, which chose the rule and the threshold on validation writers.
 */

import { countBelow } from '../lib/sorted.js';

/**
 * - 'mean': mean cosine similarity to the references.
 * - 'max': the largest cosine similarity to any reference.
 * - 'normalised-mean': mean cosine similarity to the references minus the mean pairwise similarity among the
 *   references, so a writer whose own signatures vary a lot is not rejected for it (0 = as close to the
 *   references as they are to each other).
 */
export type ScoringRule = 'mean' | 'max' | 'normalised-mean';

export const SCORING_RULES: readonly ScoringRule[] = ['mean', 'max', 'normalised-mean'];

export interface SignatureScore {
  /** Higher = more likely genuine; comparable with the threshold of the same model and rule only. */
  score: number;
  /** score >= threshold. */
  genuine: boolean;
  threshold: number;
  rule: ScoringRule;
  /** Cosine similarity of the questioned signature to each reference, in the order given. */
  similarities: number[];
  /** Mean pairwise cosine similarity among the references: how consistent the writer's references are. */
  referenceAgreement: number;
}

/** Embeddings must be L2-normalised (the model does it in its graph), so a dot product is the cosine similarity. */
export function scoreSignature(
  questioned: Float32Array,
  references: Float32Array[],
  threshold: number,
  rule: ScoringRule = 'normalised-mean',
): SignatureScore {
  if (references.length < 2) throw new RangeError(`scoreSignature needs at least 2 references, got ${references.length}.`);
  for (const reference of references) {
    if (reference.length !== questioned.length) {
      throw new RangeError(`Embedding sizes differ: questioned ${questioned.length}, reference ${reference.length}.`);
    }
  }
  const similarities = references.map((reference) => dot(questioned, reference));
  const referenceAgreement = meanPairwiseSimilarity(references);
  const mean = similarities.reduce((sum, s) => sum + s, 0) / similarities.length;
  const score = rule === 'max' ? Math.max(...similarities) : rule === 'mean' ? mean : mean - referenceAgreement;
  return { score, genuine: score >= threshold, threshold, rule, similarities, referenceAgreement };
}

/** The rule a model card names under scoring.rule; throws when the card names none or an unknown one. */
export function scoringRuleOf(card: { readonly [field: string]: unknown }): ScoringRule {
  const rule = (card['scoring'] as { rule?: unknown } | undefined)?.rule;
  if (!SCORING_RULES.includes(rule as ScoringRule)) throw new Error(`The model card names no known scoring rule (scoring.rule = ${String(rule)}).`);
  return rule as ScoringRule;
}

/** The cosine similarity of two L2-normalised embeddings. */
export function dot(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i]! * b[i]!;
  return sum;
}

function meanPairwiseSimilarity(embeddings: Float32Array[]): number {
  let sum = 0;
  let pairs = 0;
  for (let i = 0; i < embeddings.length; i++) {
    for (let j = i + 1; j < embeddings.length; j++) {
      sum += dot(embeddings[i]!, embeddings[j]!);
      pairs++;
    }
  }
  return sum / pairs;
}

export interface ErrorRates {
  /** Share of forgeries accepted (score >= threshold). */
  far: number;
  /** Share of genuine signatures rejected (score < threshold). */
  frr: number;
}

export function errorRatesAt(threshold: number, genuine: number[], impostor: number[]): ErrorRates {
  return {
    far: impostor.filter((s) => s >= threshold).length / impostor.length,
    frr: genuine.filter((s) => s < threshold).length / genuine.length,
  };
}

/**
 * Equal error rate over one global threshold: among every observed score taken as the threshold, the one where
 * FAR and FRR are closest (the lowest such threshold on ties); returns their mean and that threshold.
 */
export function equalErrorRate(genuine: number[], impostor: number[]): { eer: number; threshold: number } {
  const sortedGenuine = Float64Array.from(genuine).sort();
  const sortedImpostor = Float64Array.from(impostor).sort();
  const thresholds = Float64Array.from(new Set([...genuine, ...impostor])).sort();
  let best = { gap: Infinity, eer: 0, threshold: 0 };
  for (const threshold of thresholds) {
    const frr = countBelow(sortedGenuine, threshold) / genuine.length;
    const far = 1 - countBelow(sortedImpostor, threshold) / impostor.length;
    const gap = Math.abs(far - frr);
    if (gap < best.gap) best = { gap, eer: (far + frr) / 2, threshold };
  }
  return { eer: best.eer, threshold: best.threshold };
}
