/**
 * Measures the signature model through exactly the production path (prepareSignature -> SignatureModel.embed ->
 * scoreSignature with the card's rule and threshold) on a folder holding `<writer>/genuine/*` and `<writer>/forged/*`.
 * For each writer the first K genuine files (name order, content duplicates removed) are the references; questioned
 * are its other genuine files, its forged files, and every other writer's genuine files (random forgeries).
 *
 *   npm run eval:signatures -- <folder> [--references K] [--writers w001,w002] [--models <dir>] [--max-pixels <n>]
 *
 * Prints per-writer results; the last line is one JSON object for scripts.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadSignatureModel } from '../index.js';
import { evaluateSignatureFolder, type SignatureEvaluation } from '../signature-evaluation.js';

const DEFAULT_MAX_PIXELS = 40_000_000;

const percent = (rate: number) => `${(100 * rate).toFixed(2)}%`;

function report(evaluation: SignatureEvaluation, folder: string, modelVersion: string): void {
  console.log(`signatures model ${modelVersion} on ${folder}: rule ${evaluation.rule}, threshold ${evaluation.threshold}, ${evaluation.references} references`);
  for (const { writer, genuine, skilled, random } of evaluation.writers) {
    console.log(
      `  ${writer}: genuine accepted ${genuine.accepted}/${genuine.n}, skilled forgeries accepted ${skilled.accepted}/${skilled.n}, ` +
        `random forgeries accepted ${random.accepted}/${random.n}`,
    );
  }
  console.log(
    `EER skilled ${percent(evaluation.eer_skilled)}, EER random ${percent(evaluation.eer_random)}; at the threshold: ` +
      `FAR skilled ${percent(evaluation.far_skilled)}, FAR random ${percent(evaluation.far_random)}, FRR ${percent(evaluation.frr)}`,
  );
  const decisions = evaluation.decisions;
  if (decisions) {
    const [low, high] = decisions.inconclusive_band;
    console.log(
      `Three-way decision (inconclusive in [${low}, ${high})): inconclusive ${percent(decisions.inconclusive_share)}, accuracy ${percent(decisions.accuracy)}, ` +
        `on the decided ${percent(decisions.accuracy_decided)}; skilled forgeries decided genuine ${percent(decisions.far_skilled)}, genuine decided forged ${percent(decisions.frr)}`,
    );
  }
  const { writers: _perWriter, questioned: _perFile, ...summary } = evaluation;
  console.log(JSON.stringify({ ...summary, model_version: modelVersion }));
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      references: { type: 'string', default: '5' },
      writers: { type: 'string' },
      models: { type: 'string', default: path.resolve(import.meta.dirname, '../../../models') },
      'max-pixels': { type: 'string', default: String(DEFAULT_MAX_PIXELS) },
    },
  });
  const folder = positionals[0];
  const references = Number(values.references);
  if (!folder || positionals.length > 1 || !Number.isInteger(references) || references < 2) {
    console.error('usage: npm run eval:signatures -- <folder of <writer>/genuine and <writer>/forged> [--references K>=2] [--writers a,b,c] [--models <dir>] [--max-pixels <n>]');
    process.exitCode = 2;
    return;
  }
  const model = await loadSignatureModel(values.models, { workers: 1, intraOpNumThreads: 1 });
  try {
    const evaluation = await evaluateSignatureFolder(folder, model, {
      references,
      writers: values.writers?.split(',').map((w) => w.trim()).filter(Boolean),
      maxPixels: Number(values['max-pixels']),
      onSkip: (file, reason) => console.warn(`skipped ${file}: ${reason}`),
    });
    report(evaluation, folder, model.card.version);
  } finally {
    await model.close();
  }
}

await main();
