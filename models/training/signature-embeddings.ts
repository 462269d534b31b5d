/**
 * Embeds every signature of both training sets through the production path (embedSignatureFolder: prepareSignature,
 * then the shipped model in ONNX Runtime) and writes them to one JSON file, for compare_signature_scoring.py: scoring
 * rules can then be compared without running the network again.
 *
 *   npx tsx models/training/signature-embeddings.ts [data folder, default ../shared/datasets] [--out file] [--models dir]
 *
 * Output: {"model_version", "sets": {<set>: {<writer>: {"genuine": [[256 floats], ...], "forged": [...]}}}}, files in
 * name order, byte-identical copies within a writer's genuine or forged folder kept once (as the evaluation does).
 * About 4 minutes on the 2-core dev box.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadSignatureModel } from '../../src/ml/index.js';
import { embedSignatureFolder, type EmbeddedFile } from '../../src/ml/signature-evaluation.js';

const SETS = ['bhsig260-bengali', 'sigcomp2011-dutch'] as const;
const MAX_PIXELS = 40_000_000;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    out: { type: 'string', default: 'models/training/.cache/signature-embeddings.json' },
    models: { type: 'string', default: 'models' },
  },
});
const dataDir = positionals[0] ?? '../shared/datasets';
const model = await loadSignatureModel(values.models, { workers: 1, intraOpNumThreads: 1 });
const asLists = (files: EmbeddedFile[]) => files.map((f) => Array.from(f.embedding));
const sets: Record<string, Record<string, { genuine: number[][]; forged: number[][] }>> = {};
try {
  for (const set of SETS) {
    const writers = await embedSignatureFolder(path.join(dataDir, 'signatures', set), model, {
      maxPixels: MAX_PIXELS,
      onSkip: (file, reason) => console.warn(`skipped ${file}: ${reason}`),
    });
    sets[set] = Object.fromEntries(writers.map((w) => [w.writer, { genuine: asLists(w.genuine), forged: asLists(w.forged) }]));
    console.log(`${set}: ${writers.length} writers`);
  }
} finally {
  await model.close();
}
await writeFile(values.out, JSON.stringify({ model_version: model.card.version, sets }));
console.log(`wrote ${values.out}`);
