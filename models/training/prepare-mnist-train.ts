/**
 * Writes the 60,000 MNIST training images as the app would receive and prepare them, for
 * `train_digits.py --production-copies`: each is rendered as a user sends a digit (dark ink on white, enlarged,
 * off-centre PNG) and taken through prepareDigit, the app's own preparation. The network then also learns what
 * prepareDigit outputs (its threshold, crop, widening and resampling), not only MNIST's own framing.
 *
 *   npx tsx models/training/prepare-mnist-train.ts <out file> [--data ../shared/datasets] [--seed 20261203]
 *
 * Output: 60,000 records of 785 bytes in MNIST order (label, then 28x28 ink levels 0-255, ink bright), the
 * --extra-data format. The training script keeps only the rows of its training split, so the copies of its 5,000
 * validation images are never trained on. The renders vary more than the test renders of render-mnist-test.ts
 * (enlarged 1.5-5x rather than 2-3x, three resampling kernels), so that the network does not learn one renderer.
 */
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { seededRandom } from '../../src/lib/random.js';
import { digitInputLevels, prepareDigit } from '../../src/ml/index.js';
import { DEFAULT_DATASETS_DIR, readMnist, type MnistSet } from '../../test/ml/helpers/mnist.js';

const RECORD = 785;
const KERNELS = ['linear', 'cubic', 'lanczos3'] as const;
/** Images prepared at once: sharp works on its own threads. */
const CONCURRENCY = 8;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { data: { type: 'string', default: DEFAULT_DATASETS_DIR }, seed: { type: 'string', default: '20261203' } },
});
const outFile = positionals[0];
if (!outFile) {
  console.error('usage: npx tsx models/training/prepare-mnist-train.ts <out file> [--data <datasets folder>] [--seed <n>]');
  process.exit(2);
}

/** The random choices are drawn in index order before any image is rendered, so the output does not depend on timing. */
function renderPlan(random: () => number) {
  const side = Math.round(28 * (1.5 + 3.5 * random()));
  const marginX = Math.round(10 + 80 * random());
  const marginY = Math.round(10 + 80 * random());
  return {
    side,
    kernel: KERNELS[Math.floor(random() * KERNELS.length)]!,
    left: Math.floor(random() * marginX),
    top: Math.floor(random() * marginY),
    marginX,
    marginY,
  };
}

async function prepared(set: MnistSet, index: number, plan: ReturnType<typeof renderPlan>): Promise<Uint8Array> {
  const inverted = Buffer.from(set.images.subarray(index * 784, (index + 1) * 784).map((v) => 255 - v));
  const png = await sharp(inverted, { raw: { width: 28, height: 28, channels: 1 } })
    .resize(plan.side, plan.side, { kernel: plan.kernel })
    .extend({ left: plan.left, right: plan.marginX - plan.left, top: plan.top, bottom: plan.marginY - plan.top, background: '#ffffff' })
    .png({ compressionLevel: 1 })
    .toBuffer();
  return digitInputLevels(await prepareDigit(png, { maxPixels: 40_000_000 }));
}

const set = readMnist(values.data, 'train');
const random = seededRandom(Number(values.seed));
const plans = Array.from({ length: set.count }, () => renderPlan(random));
const out = Buffer.alloc(set.count * RECORD);
let next = 0;
const started = Date.now();
await Promise.all(
  Array.from({ length: CONCURRENCY }, async () => {
    for (let index = next++; index < set.count; index = next++) {
      out[index * RECORD] = set.labels[index]!;
      out.set(await prepared(set, index, plans[index]!), index * RECORD + 1);
      if (index % 10_000 === 9_999) console.log(`${index + 1} of ${set.count} (${Math.round((Date.now() - started) / 1000)} s)`);
    }
  }),
);
await writeFile(outFile, out);
console.log(`wrote ${set.count} prepared digits to ${outFile}`);
