/**
 * Embeds every signature of both training sets through the production path (prepareSignature, then the shipped
 * model in ONNX Runtime) and writes them to one JSON file, for compare_signature_scoring.py: scoring rules can then
 * be compared without running the network again.
 *
 *   npx tsx models/training/signature-embeddings.ts [data folder, default ../shared/datasets] [--out file] [--models dir]
 *
 * Output: {"model_version", "sets": {<set>: {<writer>: {"genuine": [[256 floats], ...], "forged": [...]}}}}, files in
 * name order, byte-identical copies within a writer's genuine or forged folder kept once (as the evaluation does).
 * About 4 minutes on the 2-core dev box.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadSignatureModel } from '../../src/ml/index.js';
import { ImageInputError } from '../../src/ml/image-input.js';
import { prepareSignature } from '../../src/ml/signature-image.js';

const SETS = ['bhsig260-bengali', 'sigcomp2011-dutch'] as const;
const KINDS = ['genuine', 'forged'] as const;
const MAX_PIXELS = 40_000_000;
const EMBED_BATCH = 32;

async function sortedEntries(folder: string, directories: boolean): Promise<string[]> {
  const entries = await readdir(folder, { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    throw error;
  });
  return entries.filter((e) => (directories ? e.isDirectory() : e.isFile())).map((e) => e.name).sort();
}

async function preparedInputs(folder: string): Promise<Float32Array[]> {
  const seen = new Set<string>();
  const inputs: Float32Array[] = [];
  for (const name of await sortedEntries(folder, false)) {
    const bytes = await readFile(path.join(folder, name));
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    if (seen.has(sha256)) continue;
    seen.add(sha256);
    try {
      inputs.push(await prepareSignature(bytes, { maxPixels: MAX_PIXELS }));
    } catch (error) {
      if (!(error instanceof ImageInputError)) throw error;
      console.warn(`skipped ${path.join(folder, name)}: ${error.reason}`);
    }
  }
  return inputs;
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    out: { type: 'string', default: 'models/training/.cache/signature-embeddings.json' },
    models: { type: 'string', default: 'models' },
  },
});
const dataDir = positionals[0] ?? '../shared/datasets';
const model = await loadSignatureModel(values.models, { workers: 1, intraOpNumThreads: 1 });
const sets: Record<string, Record<string, Record<string, number[][]>>> = {};
try {
  for (const set of SETS) {
    const root = path.join(dataDir, 'signatures', set);
    sets[set] = {};
    for (const writer of await sortedEntries(root, true)) {
      const kinds: Record<string, number[][]> = {};
      for (const kind of KINDS) {
        const inputs = await preparedInputs(path.join(root, writer, kind));
        kinds[kind] = [];
        for (let start = 0; start < inputs.length; start += EMBED_BATCH) {
          const embeddings = await model.embed(inputs.slice(start, start + EMBED_BATCH));
          kinds[kind].push(...embeddings.map((e) => Array.from(e)));
        }
      }
      sets[set][writer] = kinds;
      console.log(`${set} ${writer}: ${kinds['genuine']!.length} genuine, ${kinds['forged']!.length} forged`);
    }
  }
} finally {
  await model.close();
}
await writeFile(values.out, JSON.stringify({ model_version: model.card.version, sets }));
console.log(`wrote ${values.out}`);
