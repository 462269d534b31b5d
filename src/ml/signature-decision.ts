/**
 * The three-way decision of signature verification: a score from scoreSignature is `genuine`, `forged`, or, within
 * a band around the threshold where the model is unreliable, `inconclusive` (refer it to a person). The band comes
 * from the model card (`decision.inconclusive_band`); `deriveInconclusiveBand` is how it was derived from the
 * held-out evaluation (`npm run band:signatures`, models/README.md).
 */

export type SignatureDecision = 'genuine' | 'forged' | 'inconclusive';

/** Scores in [low, high) are inconclusive; at or above high genuine; below low forged. low <= threshold <= high. */
export interface InconclusiveBand {
  low: number;
  high: number;
}

export function decideSignature(score: number, band: InconclusiveBand): SignatureDecision {
  if (score >= band.high) return 'genuine';
  if (score < band.low) return 'forged';
  return 'inconclusive';
}

/**
 * The band a model card states under decision.inconclusive_band ([low, high]). Throws when the card has none or
 * when it does not contain the threshold (the decision would then contradict the threshold); the message is a
 * fragment that follows the card's name ("<card> has no ...").
 */
export function inconclusiveBandOf(card: { readonly [field: string]: unknown }, threshold: number): InconclusiveBand {
  const band = (card['decision'] as { inconclusive_band?: unknown } | undefined)?.inconclusive_band;
  if (!Array.isArray(band) || band.length !== 2 || !band.every((value) => typeof value === 'number' && Number.isFinite(value))) {
    throw new Error('has no decision.inconclusive_band ([low, high])');
  }
  const [low, high] = band as [number, number];
  if (!(low <= threshold && threshold <= high)) {
    throw new Error(`has a decision.inconclusive_band [${low}, ${high}] that does not contain its threshold ${threshold}`);
  }
  return { low, high };
}

/** How new references are checked (models/signatures.json, reference_checks); both lead to warnings, not refusals. */
export interface ReferenceChecks {
  /** A reference at least this similar (cosine) to another of the signer's is a near-duplicate. */
  nearDuplicateSimilarity: number;
  /** A reference scoring below this against the signer's other references (leave one out) is an outlier. */
  outlierScoreBelow: number;
}

/** The card's reference_checks; throws (a fragment following the card's name, as above) when it has none. */
export function referenceChecksOf(card: { readonly [field: string]: unknown }): ReferenceChecks {
  const checks = card['reference_checks'] as { near_duplicate_similarity?: unknown; outlier_score_below?: unknown } | undefined;
  const similarity = checks?.near_duplicate_similarity;
  const outlier = checks?.outlier_score_below;
  if (typeof similarity !== 'number' || typeof outlier !== 'number' || !(similarity > 0 && similarity <= 1)) {
    throw new Error('has no reference_checks ({near_duplicate_similarity in (0, 1], outlier_score_below})');
  }
  return { nearDuplicateSimilarity: similarity, outlierScoreBelow: outlier };
}

/**
 * The narrowest band outside which decided answers stay within `maxRate` errors on these scores: `high` is the
 * lowest score at which at most maxRate of the skilled forgeries are accepted, `low` the highest score below which
 * at most maxRate of the genuine signatures fall. In between, both FAR and FRR would exceed maxRate. Each edge sits
 * midway between the two observed scores it separates; the band is widened to contain the threshold.
 */
export function deriveInconclusiveBand(genuine: number[], skilled: number[], threshold: number, maxRate = 0.05): InconclusiveBand {
  if (genuine.length === 0 || skilled.length === 0) throw new RangeError('deriveInconclusiveBand needs genuine and skilled-forgery scores.');
  // The `accepted` highest forgeries may score >= high; the next one must not.
  const forgeries = [...skilled].sort((a, b) => b - a);
  const accepted = Math.floor(maxRate * forgeries.length);
  let high = -Infinity;
  if (accepted === 0) high = forgeries[0]! + 1e-9;
  else if (accepted < forgeries.length) {
    high = (forgeries[accepted - 1]! + forgeries[accepted]!) / 2;
    if (high <= forgeries[accepted]!) high = forgeries[accepted]! + 1e-9; // a tie: the midpoint would accept both
  }
  // The `rejected` lowest genuine signatures may score < low; the next one must not.
  const genuineScores = [...genuine].sort((a, b) => a - b);
  const rejected = Math.floor(maxRate * genuineScores.length);
  let low = Infinity;
  if (rejected === 0) low = genuineScores[0]!;
  else if (rejected < genuineScores.length) low = (genuineScores[rejected - 1]! + genuineScores[rejected]!) / 2;
  return { low: Math.min(low, threshold), high: Math.max(high, threshold) };
}

export interface DecisionCounts {
  genuine: number;
  inconclusive: number;
  forged: number;
}

export interface ThreeWayFigures {
  inconclusive_band: [number, number];
  /** What the genuine signatures and the skilled forgeries were decided as. */
  genuine: DecisionCounts;
  skilled: DecisionCounts;
  /** Share of all questioned signatures (genuine and skilled forgeries) decided inconclusive. */
  inconclusive_share: number;
  /** Correct decisions among all questioned; an inconclusive answer counts as not correct. */
  accuracy: number;
  /** Correct decisions among the decided ones (inconclusive left out). */
  accuracy_decided: number;
  /** Skilled forgeries decided genuine, and genuine signatures decided forged, among all of each. */
  far_skilled: number;
  frr: number;
}

export function countDecisions(scores: number[], band: InconclusiveBand): DecisionCounts {
  const counts: DecisionCounts = { genuine: 0, inconclusive: 0, forged: 0 };
  for (const score of scores) counts[decideSignature(score, band)]++;
  return counts;
}

/** The figures of the three-way decision on genuine and skilled-forgery scores. */
export function threeWayFigures(genuine: number[], skilled: number[], band: InconclusiveBand): ThreeWayFigures {
  const g = countDecisions(genuine, band);
  const s = countDecisions(skilled, band);
  const total = genuine.length + skilled.length;
  const correct = g.genuine + s.forged;
  const decided = total - g.inconclusive - s.inconclusive;
  return {
    inconclusive_band: [band.low, band.high],
    genuine: g,
    skilled: s,
    inconclusive_share: (g.inconclusive + s.inconclusive) / total,
    accuracy: correct / total,
    accuracy_decided: decided === 0 ? 0 : correct / decided,
    far_skilled: s.genuine / skilled.length,
    frr: g.forged / genuine.length,
  };
}
