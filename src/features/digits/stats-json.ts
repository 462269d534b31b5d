import { z } from '../../http/openapi.js';
import type { DigitStats, Rate } from './digit-stats.js';
import { toPredictionJson } from './prediction-json.js';

const RateSchema = z.object({
  n: z.number().int(),
  correct: z.number().int(),
  rate: z.number().nullable(),
  interval_95: z.object({ low: z.number(), high: z.number() }).nullable().openapi({ description: 'Wilson score interval.' }),
});

export const StatsSchema = z
  .object({
    scope: z.enum(['mine', 'all']),
    totals: z.object({ predictions: z.number().int(), reviewed: z.number().int(), confirmed: z.number().int(), corrected: z.number().int(), not_digits: z.number().int() }),
    accuracy: RateSchema.openapi({ description: 'On reviewed predictions whose true label is a digit.' }),
    per_day: z.array(z.object({ day: z.string(), predictions: z.number().int(), reviewed: z.number().int() })),
    confusion_matrix: z.array(z.array(z.number().int())).openapi({ description: 'confusion_matrix[true label][predicted digit].' }),
    not_a_digit: z.array(z.number().int()).openapi({ description: 'Per predicted digit: reviewed as "not a digit".' }),
    per_digit: z.array(RateSchema.extend({ digit: z.number().int() })),
    confidence_histogram: z.array(z.object({ from: z.number(), to: z.number(), predictions: z.number().int(), right: z.number().int(), wrong: z.number().int() })),
    most_confused: z.array(z.object({ label: z.number().int(), predicted: z.number().int(), n: z.number().int() })),
    review_queue: z.array(z.record(z.string(), z.unknown())).openapi({ description: 'The least confident unreviewed predictions (DigitPrediction).' }),
  })
  .openapi('DigitStats');

const rateJson = ({ n, correct, rate, interval }: Rate) => ({ n, correct, rate, interval_95: interval });

export function toStatsJson(stats: DigitStats): z.infer<typeof StatsSchema> {
  const { predictions, reviewed, confirmed, corrected, notDigits } = stats.totals;
  return {
    scope: stats.scope,
    totals: { predictions, reviewed, confirmed, corrected, not_digits: notDigits },
    accuracy: rateJson(stats.accuracy),
    per_day: stats.perDay.map(({ day, n, reviewed: r }) => ({ day, predictions: n, reviewed: r })),
    confusion_matrix: stats.confusion,
    not_a_digit: stats.notDigit,
    per_digit: stats.perDigit.map((row) => ({ digit: row.digit, ...rateJson(row) })),
    confidence_histogram: stats.confidence.map(({ from, to, n, right, wrong }) => ({ from, to, predictions: n, right, wrong })),
    most_confused: stats.confusedPairs.map(({ label, digit, n }) => ({ label, predicted: digit, n })),
    review_queue: stats.reviewQueue.map(toPredictionJson),
  };
}
