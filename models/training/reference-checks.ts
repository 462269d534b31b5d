/**
 * Measures what the card's reference_checks rest on, through the production path (prepareSignature, the model in
 * ONNX Runtime, the card's scoring rule), on the validation writers (which choose the two limits) and the held-out
 * writers (which check them) of the card's split:
 *   - near-duplicates: cosine similarity of distinct genuine signatures of one writer (should stay under the limit)
 *     and of the first 3 genuine files to copies of themselves re-encoded as JPEG q75, scaled 0.85, turned 1.5
 *     degrees and given a 10 px margin (should reach it);
 *   - outliers: each of a writer's first 5 genuine files scored against the other 4 (should stay above the limit),
 *     and the first genuine file of every other writer of the same part scored against the 5 (should fall below it).
 *
 *   npx tsx models/training/reference-checks.ts [data folder, default ../shared/datasets] [--models dir]
 *       [--near-duplicate 0.99 --outlier=-0.2 --write]   (a negative value needs the "=")
 *
 * Prints the figures; --write puts the given limits and the figures into the card's reference_checks (the .onnx file
 * and its sha256 are not touched). About 3 minutes on the 2-core dev box.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { loadSignatureModel, scoreSignature, scoringRuleOf } from '../../src/ml/index.js';
import { dot } from '../../src/ml/signature-score.js';
import { embedSignatureFolder, type EmbeddedWriter } from '../../src/ml/signature-evaluation.js';

const SETS = ['bhsig260-bengali', 'sigcomp2011-dutch'] as const;
const PARTS = ['validation', 'test'] as const;
const REFERENCES = 5;
const COPIED = 3;
const MAX_PIXELS = 40_000_000;
/** What the app does with the two limits (src/features/signatures/references.service.ts), for the card. */
const RULE =
  'a new reference whose cosine similarity to another reference of the signer is >= near_duplicate_similarity is kept with a near_duplicate warning; a reference whose score against the signer\'s other references (leave one out, the card\'s scoring rule; needs 2 others) is below outlier_score_below is kept with an outlier warning';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    models: { type: 'string', default: 'models' },
    'near-duplicate': { type: 'string', default: '0.99' },
    outlier: { type: 'string', default: '-0.2' },
    write: { type: 'boolean', default: false },
  },
});
const dataDir = positionals[0] ?? '../shared/datasets';
const nearDuplicate = Number(values['near-duplicate']);
const outlier = Number(values.outlier);
const cardPath = path.join(values.models, 'signatures.json');

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
const sortedOf = (list: number[]) => [...list].sort((a, b) => a - b);

/** What a second scan or a phone copy of the same sheet does to a file. */
async function reencoded(file: string): Promise<Uint8Array> {
  const image = sharp(await readFile(file)).flatten({ background: '#ffffff' });
  const { width = 0 } = await image.metadata();
  return sharp(
    await image
      .resize({ width: Math.round(width * 0.85) })
      .rotate(1.5, { background: '#ffffff' })
      .extend({ top: 10, bottom: 10, left: 10, right: 10, background: '#ffffff' })
      .toBuffer(),
  )
    .jpeg({ quality: 75 })
    .toBuffer();
}

const card = JSON.parse(await readFile(cardPath, 'utf8'));
const model = await loadSignatureModel(values.models, { workers: 1, intraOpNumThreads: 1 });
const rule = scoringRuleOf(model.card);
const figures: Record<string, Record<string, number | string>> = {};
try {
  for (const part of PARTS) {
    const writers: EmbeddedWriter[] = [];
    for (const set of SETS) {
      writers.push(...(await embedSignatureFolder(path.join(dataDir, 'signatures', set), model, { writers: card.split[set][part], maxPixels: MAX_PIXELS })));
    }
    const distinct: number[] = [];
    const copies: number[] = [];
    const genuineLeftOut: number[] = [];
    const otherWriter: number[] = [];
    for (const writer of writers) {
      const embeddings = writer.genuine.map((file) => file.embedding);
      for (let i = 0; i < embeddings.length; i++) for (let j = i + 1; j < embeddings.length; j++) distinct.push(dot(embeddings[i]!, embeddings[j]!));
      const originals = writer.genuine.slice(0, COPIED);
      const copied = await model.embedFiles(await Promise.all(originals.map((file) => reencoded(file.file))));
      copied.forEach((copy, i) => copies.push(dot(copy, originals[i]!.embedding)));
      const references = embeddings.slice(0, REFERENCES);
      references.forEach((reference, i) => {
        genuineLeftOut.push(scoreSignature(reference, references.filter((_, j) => j !== i), 0, rule).score);
      });
      for (const other of writers) {
        if (other !== writer) otherWriter.push(scoreSignature(other.genuine[0]!.embedding, references, 0, rule).score);
      }
    }
    const [d, c] = [sortedOf(distinct), sortedOf(copies)];
    figures[part] = {
      writers: writers.length,
      distinct_pairs: d.length,
      distinct_p99: +quantile(d, 0.99).toFixed(3),
      distinct_p999: +quantile(d, 0.999).toFixed(3),
      distinct_at_or_above_limit: +(distinct.filter((s) => s >= nearDuplicate).length / distinct.length).toFixed(4),
      copies: c.length,
      copies_p5: +quantile(c, 0.05).toFixed(3),
      copies_median: +quantile(c, 0.5).toFixed(3),
      copies_at_or_above_limit: +(copies.filter((s) => s >= nearDuplicate).length / copies.length).toFixed(4),
      genuine_left_out_below_limit: `${genuineLeftOut.filter((s) => s < outlier).length} of ${genuineLeftOut.length}`,
      genuine_left_out_p1: +quantile(sortedOf(genuineLeftOut), 0.01).toFixed(3),
      other_writer_below_limit: `${otherWriter.filter((s) => s < outlier).length} of ${otherWriter.length}`,
      other_writer_p95: +quantile(sortedOf(otherWriter), 0.95).toFixed(3),
    };
    console.log(part, JSON.stringify(figures[part]));
  }
} finally {
  await model.close();
}

if (values.write) {
  const [v, t] = [figures['validation']!, figures['test']!];
  card.reference_checks = {
    near_duplicate_similarity: nearDuplicate,
    outlier_score_below: outlier,
    rule: RULE,
    derivation:
      `chosen on the validation writers, checked on the held-out writers (models/training/reference-checks.ts; K = ${REFERENCES}, content duplicates removed). ` +
      `Distinct genuine signatures of one writer: similarity p99 ${v['distinct_p99']} / ${t['distinct_p99']} (validation / held-out), p99.9 ${v['distinct_p999']} / ${t['distinct_p999']}; ` +
      `the first ${COPIED} genuine files re-encoded as JPEG q75, scaled 0.85, turned 1.5 degrees and given a 10 px margin: similarity to their originals ` +
      `p5 ${v['copies_p5']} / ${t['copies_p5']}, median ${v['copies_median']} / ${t['copies_median']}. Leave-one-out scores of genuine references below ${outlier}: ` +
      `${v['genuine_left_out_below_limit']} / ${t['genuine_left_out_below_limit']}; another writer's genuine signature scored against ${REFERENCES} references below ${outlier}: ` +
      `${v['other_writer_below_limit']} / ${t['other_writer_below_limit']}`,
    figures,
    model_version: model.card.version,
  };
  await writeFile(cardPath, `${JSON.stringify(card, null, 2)}\n`);
  console.log(`wrote reference_checks into ${cardPath}`);
}
