import { Readable } from 'node:stream';
import { toPredictionJson } from './prediction-json.js';
import type { Prediction } from './predictions.repo.js';

const PROBABILITY_COLUMNS = Array.from({ length: 10 }, (_, d) => `p${d}`);
export const CSV_HEADER = ['id', 'created_at', 'source', 'file_name', 'digit', 'confidence', ...PROBABILITY_COLUMNS, 'model_version', 'label', 'corrected_at', 'has_image'];

/**
 * One CSV field. Quoted when it holds a separator, a quote or a line break; text a spreadsheet would run as a
 * formula (starting with = + - @, a tab or a carriage return) is prefixed with ' (file names are the user's).
 */
function csvField(value: string | number | boolean | null): string {
  if (value === null) return '';
  if (typeof value !== 'string') return String(value);
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}

function csvRow(prediction: Prediction): string {
  const { correction } = prediction;
  return [
    prediction.id,
    prediction.createdAt,
    prediction.source,
    prediction.fileName,
    prediction.digit,
    prediction.confidence,
    ...prediction.probabilities,
    prediction.modelVersion,
    correction ? (correction.label ?? 'not_a_digit') : null,
    correction?.correctedAt ?? null,
    prediction.storedImageId !== null,
  ]
    .map(csvField)
    .join(',');
}

/** The history as CSV (label: a digit, not_a_digit, or empty while unreviewed), one slice of rows at a time. */
export function predictionsCsv(slices: AsyncIterable<Prediction[]>): Readable {
  return Readable.from(
    (async function* () {
      yield `${CSV_HEADER.join(',')}\r\n`;
      for await (const slice of slices) yield slice.map((prediction) => `${csvRow(prediction)}\r\n`).join('');
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
