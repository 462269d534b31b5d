/**
 * Writes the MNIST test images as users would send them (dark ink on white, enlarged, off-centre PNGs), named
 * `<index>_<label>.png`, for `npm run eval:digits`. The same seeded renders are what test/ml/digit-model.test.ts
 * classifies, so the card's production-path figure and the test measure the same images.
 *
 *   npx tsx models/training/render-mnist-test.ts <out folder> [--data ../shared/datasets] [--count 10000]
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { seededRandom } from '../../src/lib/random.js';
import { DEFAULT_DATASETS_DIR, MNIST_RENDER_SEED, readMnistTest, renderDarkOnLight } from '../../test/ml/helpers/mnist.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { data: { type: 'string', default: DEFAULT_DATASETS_DIR }, count: { type: 'string', default: '10000' } },
});
const outDir = positionals[0];
if (!outDir) {
  console.error('usage: npx tsx models/training/render-mnist-test.ts <out folder> [--data <datasets folder>] [--count <n>]');
  process.exit(2);
}
const set = readMnistTest(values.data);
const count = Math.min(set.count, Number(values.count));
const random = seededRandom(MNIST_RENDER_SEED);
await mkdir(outDir, { recursive: true });
for (let index = 0; index < count; index++) {
  const png = await renderDarkOnLight(set, index, random);
  await writeFile(path.join(outDir, `${String(index).padStart(5, '0')}_${set.labels[index]}.png`), png);
}
console.log(`wrote ${count} PNGs to ${outDir}`);
