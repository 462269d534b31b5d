import { wilsonInterval } from '../../lib/wilson.js';
import type { DigitStatsRepo } from './digit-stats.repo.js';
import type { Prediction } from './predictions.repo.js';

export const DIGITS: readonly number[] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
/** Days shown in "predictions over time", today included. */
export const DAYS_SHOWN = 30;
/** Unreviewed predictions below this confidence are queued for review, least confident first. */
export const REVIEW_BELOW = 0.9;
export const REVIEW_QUEUE_LENGTH = 12;
export const CONFUSED_PAIRS_SHOWN = 5;

export interface Rate {
  n: number;
  correct: number;
  /** correct / n, or null without any. */
  rate: number | null;
  /** 95% Wilson interval of the rate. */
  interval: { low: number; high: number } | null;
}

export interface DigitStats {
  /** 'all': every user's predictions (administrators); the review queue is then empty, since images are their owners' only. */
  scope: 'mine' | 'all';
  totals: { predictions: number; reviewed: number; confirmed: number; corrected: number; notDigits: number };
  /** On the reviewed predictions whose true label is a digit ("not a digit" ones are counted apart). */
  accuracy: Rate;
  perDay: { day: string; n: number; reviewed: number }[];
  /** confusion[true label][predicted digit]; `notDigit[predicted digit]` for drawings marked as not a digit. */
  confusion: number[][];
  notDigit: number[];
  /** Per true label: how often the model read it right (recall). */
  perDigit: (Rate & { digit: number })[];
  confidence: { from: number; to: number; n: number; right: number; wrong: number }[];
  confusedPairs: { label: number; digit: number; n: number }[];
  reviewQueue: Prediction[];
}

function rate(correct: number, n: number): Rate {
  return { n, correct, rate: n ? correct / n : null, interval: wilsonInterval(correct, n) };
}

/** The days from DAYS_SHOWN - 1 days ago to today (UTC), as YYYY-MM-DD. */
function lastDays(now: Date): string[] {
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  return Array.from({ length: DAYS_SHOWN }, (_, i) => new Date(today - (DAYS_SHOWN - 1 - i) * 86_400_000).toISOString().slice(0, 10));
}

/** The analytics of one user's predictions, or (userId null) of everyone's. */
export function computeDigitStats(repo: DigitStatsRepo, userId: number | null, now = new Date()): DigitStats {
  const totals = repo.totals(userId);
  const confusion = DIGITS.map(() => DIGITS.map(() => 0));
  const notDigit = DIGITS.map(() => 0);
  for (const { label, digit, n } of repo.pairs(userId)) {
    if (label === null) notDigit[digit] = n;
    else confusion[label]![digit] = n;
  }
  const diagonal = DIGITS.reduce((sum, d) => sum + confusion[d]![d]!, 0);
  const labelled = confusion.flat().reduce((sum, n) => sum + n, 0);
  const notDigits = notDigit.reduce((sum, n) => sum + n, 0);

  const days = lastDays(now);
  const counted = new Map(repo.perDay(userId, days[0]!).map((row) => [row.day, row]));
  const bins = new Map(repo.confidenceBins(userId).map((row) => [row.bin, row]));

  return {
    scope: userId === null ? 'all' : 'mine',
    totals: { predictions: totals.predictions, reviewed: totals.reviewed, confirmed: diagonal, corrected: labelled - diagonal + notDigits, notDigits },
    accuracy: rate(diagonal, labelled),
    perDay: days.map((day) => ({ day, n: counted.get(day)?.n ?? 0, reviewed: counted.get(day)?.reviewed ?? 0 })),
    confusion,
    notDigit,
    perDigit: DIGITS.map((digit) => ({ digit, ...rate(confusion[digit]![digit]!, confusion[digit]!.reduce((sum, n) => sum + n, 0)) })),
    confidence: DIGITS.map((bin) => ({ from: bin / 10, to: (bin + 1) / 10, n: bins.get(bin)?.n ?? 0, right: bins.get(bin)?.right ?? 0, wrong: bins.get(bin)?.wrong ?? 0 })),
    confusedPairs: DIGITS.flatMap((label) => DIGITS.filter((digit) => digit !== label && confusion[label]![digit]! > 0).map((digit) => ({ label, digit, n: confusion[label]![digit]! })))
      .sort((a, b) => b.n - a.n || a.label - b.label || a.digit - b.digit)
      .slice(0, CONFUSED_PAIRS_SHOWN),
    reviewQueue: userId === null ? [] : repo.reviewQueue(userId, REVIEW_BELOW, REVIEW_QUEUE_LENGTH),
  };
}
