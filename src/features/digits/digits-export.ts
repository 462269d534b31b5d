import { Readable } from 'node:stream';
import { csvLine } from '../../lib/csv.js';
import { toPredictionJson } from './prediction-json.js';
import type { Prediction } from './predictions.repo.js';

const PROBABILITY_COLUMNS = Array.from({ length: 10 }, (_, d) => `p${d}`);
export const CSV_HEADER = ['id', 'created_at', 'source', 'file_name', 'digit', 'confidence', ...PROBABILITY_COLUMNS, 'model_version', 'label', 'corrected_at', 'has_image'];

/** One history row; csvLine guards the user's file names against spreadsheet formulas. */
function csvRow(prediction: Prediction): string {
  const { correction } = prediction;
  return csvLine([
    prediction.id,
    prediction.createdAt,
    prediction.source,
    prediction.fileName ?? '',
    prediction.digit,
    prediction.confidence,
    ...prediction.probabilities,
    prediction.modelVersion,
    correction ? (correction.label ?? 'not_a_digit') : '',
    correction?.correctedAt ?? '',
    String(prediction.storedImageId !== null),
  ]);
}

/** The history as CSV (label: a digit, not_a_digit, or empty while unreviewed), one slice of rows at a time. */
export function predictionsCsv(slices: AsyncIterable<Prediction[]>): Readable {
  return Readable.from(
    (async function* () {
      yield `${CSV_HEADER.join(',')}\r\n`;
      for await (const slice of slices) yield slice.map(csvRow).join('');
    })(),
  );
}

/** The history as a JSON array of predictions (the API's shape), one slice of rows at a time. */
export function predictionsJson(slices: AsyncIterable<Prediction[]>): Readable {
  return Readable.from(
    (async function* () {
      let first = true;
      yield '[';
      for await (const slice of slices) {
        yield slice.map((prediction) => `${first ? ((first = false), '\n') : ',\n'}${JSON.stringify(toPredictionJson(prediction))}`).join('');
      }
      yield '\n]\n';
    })(),
  );
}
