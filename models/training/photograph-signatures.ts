/**
 * Makes "phone photo" copies of a signature set's writers (src/ml/signature-photos.ts says how): the references stay
 * scans, every questioned file is photographed. Then measure them with eval:signatures.
 *
 *   npx tsx models/training/photograph-signatures.ts <set folder> <output folder> [--writers w010,w011] [--references 5] [--seed 1]
 */
import { parseArgs } from 'node:util';
import { photographWriters } from '../../src/ml/signature-photos.js';

const { values: options, positionals } = parseArgs({
  allowPositionals: true,
  options: { writers: { type: 'string' }, references: { type: 'string', default: '5' }, seed: { type: 'string', default: '1' } },
});
const [setDir, outDir] = positionals;
if (!setDir || !outDir) {
  console.error('usage: npx tsx models/training/photograph-signatures.ts <set folder> <output folder> [--writers a,b] [--references 5] [--seed 1]');
  process.exit(2);
}
const writers = options.writers?.split(',').map((name) => name.trim());
const made = await photographWriters(setDir, outDir, { writers, references: Number(options.references), seed: Number(options.seed) });
console.log(`${made} files photographed into ${outDir}`);
