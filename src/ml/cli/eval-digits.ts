/**
 * Measures the digit model through exactly the production path (prepareDigit -> DigitModel.classify) on a folder
 * of labelled images: every file named like `scan17_4.png` (the digit after the last underscore) counts.
 *
 *   npm run eval:digits -- <folder> [--models <dir>] [--max-pixels <n>]
 *
 * Prints per-digit accuracy and the most frequent confusions; the last line is one JSON object for scripts.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ImageInputError, loadDigitModel, prepareDigit, type DigitModel } from '../index.js';

const LABELLED_NAME = /_(\d)\.[^.]+$/;
const BATCH = 64;
const DEFAULT_MAX_PIXELS = 40_000_000;

interface Sample {
  file: string;
  label: number;
}

interface DigitEvaluation {
  /** Percent of the classified images whose top digit is the label. */
  accuracy: number;
  /** Images classified (rejected ones excluded). */
  n: number;
  correct: number;
  /** Percent correct when every rejected image counts as an error. */
  accuracy_counting_rejected_as_errors: number;
  rejected: Record<string, number>;
  /** accuracy is null for a digit without images. */
  per_digit: Record<string, { n: number; accuracy: number | null }>;
  confusions: Record<string, number>;
}

async function labelledSamples(folder: string): Promise<Sample[]> {
  const names = (await readdir(folder)).sort();
  return names.flatMap((name) => {
    const match = LABELLED_NAME.exec(name);
    return match ? [{ file: path.join(folder, name), label: Number(match[1]) }] : [];
  });
}

async function prepare(sample: Sample, maxPixels: number): Promise<Float32Array | string> {
  try {
    return await prepareDigit(await readFile(sample.file), { maxPixels });
  } catch (error) {
    if (error instanceof ImageInputError) return error.reason;
    if ((error as NodeJS.ErrnoException).code) return 'unreadable_file';
    throw error;
  }
}

const percent = (part: number, whole: number) => (whole === 0 ? 0 : Math.round((10000 * part) / whole) / 100);

async function evaluateDigits(model: DigitModel, samples: Sample[], maxPixels: number): Promise<DigitEvaluation> {
  const perDigit = Array.from({ length: 10 }, () => ({ n: 0, correct: 0 }));
  const rejected: Record<string, number> = {};
  const confusions: Record<string, number> = {};
  for (let start = 0; start < samples.length; start += BATCH) {
    const batch = samples.slice(start, start + BATCH);
    const prepared = await Promise.all(batch.map((sample) => prepare(sample, maxPixels)));
    const accepted = batch.filter((_, i) => typeof prepared[i] !== 'string');
    for (const outcome of prepared) if (typeof outcome === 'string') rejected[outcome] = (rejected[outcome] ?? 0) + 1;
    const predictions = await model.classify(prepared.filter((p): p is Float32Array => typeof p !== 'string'));
    predictions.forEach((prediction, i) => {
      const { label } = accepted[i]!;
      perDigit[label]!.n++;
      if (prediction.digit === label) perDigit[label]!.correct++;
      else confusions[`${label}->${prediction.digit}`] = (confusions[`${label}->${prediction.digit}`] ?? 0) + 1;
    });
  }
  const n = perDigit.reduce((sum, d) => sum + d.n, 0);
  const correct = perDigit.reduce((sum, d) => sum + d.correct, 0);
  const rejectedCount = Object.values(rejected).reduce((a, b) => a + b, 0);
  return {
    accuracy: percent(correct, n),
    n,
    correct,
    accuracy_counting_rejected_as_errors: percent(correct, n + rejectedCount),
    rejected,
    per_digit: Object.fromEntries(perDigit.map((d, digit) => [String(digit), { n: d.n, accuracy: d.n === 0 ? null : percent(d.correct, d.n) }])),
    confusions: Object.fromEntries(Object.entries(confusions).sort((a, b) => b[1] - a[1])),
  };
}

function report(evaluation: DigitEvaluation, folder: string, modelVersion: string): void {
  console.log(`digits model ${modelVersion} on ${folder}`);
  for (const [digit, { n, accuracy }] of Object.entries(evaluation.per_digit)) {
    console.log(accuracy === null ? `  digit ${digit}: no images` : `  digit ${digit}: ${accuracy.toFixed(2)}% of ${n}`);
  }
  const rejectedCount = Object.values(evaluation.rejected).reduce((a, b) => a + b, 0);
  console.log(`overall: ${evaluation.accuracy.toFixed(2)}% of ${evaluation.n} classified (${evaluation.correct} correct)`);
  if (rejectedCount > 0) {
    console.log(`rejected before classification: ${rejectedCount} ${JSON.stringify(evaluation.rejected)}; ` +
      `counting them as errors: ${evaluation.accuracy_counting_rejected_as_errors.toFixed(2)}%`);
  }
  const top = Object.entries(evaluation.confusions).slice(0, 10);
  if (top.length > 0) console.log(`most frequent confusions (label->predicted): ${top.map(([k, v]) => `${k} x${v}`).join(', ')}`);
  console.log(JSON.stringify({ ...evaluation, model_version: modelVersion }));
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      models: { type: 'string', default: path.resolve(import.meta.dirname, '../../../models') },
      'max-pixels': { type: 'string', default: String(DEFAULT_MAX_PIXELS) },
    },
  });
  const folder = positionals[0];
  if (!folder || positionals.length > 1) {
    console.error('usage: npm run eval:digits -- <folder of images named like name_<digit>.png> [--models <dir>] [--max-pixels <n>]');
    process.exitCode = 2;
    return;
  }
  const samples = await labelledSamples(folder);
  if (samples.length === 0) {
    console.error(`${folder}: no images named like <name>_<digit>.<ext>`);
    process.exitCode = 2;
    return;
  }
  const model = await loadDigitModel(values.models, { workers: 1, intraOpNumThreads: 1 });
  try {
    report(await evaluateDigits(model, samples, Number(values['max-pixels'])), folder, model.card.version);
  } finally {
    await model.close();
  }
}

await main();
