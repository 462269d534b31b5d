import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { DIGIT_MEAN, DIGIT_STD, prepareDigit } from '../../src/ml/digit-image.js';
import { loadDigitModel, type DigitModel } from '../../src/ml/index.js';
import { assertTargetsFollowFromCard, type CardTargets } from '../helpers/card-targets.js';
import { DRAWN_DIGITS } from '../helpers/digits.js';
import { hasShippedModel, readShippedCard, shippedModelsDir } from '../helpers/ml-models.js';
import { seededRandom } from '../../src/lib/random.js';
import { DEFAULT_DATASETS_DIR, MNIST_RENDER_SEED, mnistTestFilesPresent, readMnistTest, renderDarkOnLight } from './helpers/mnist.js';

/*
 * The shipped digit model on the 10,000 MNIST test images, checked against the figures its card claims:
 * once straight from the IDX pixels (ONNX Runtime must reproduce what PyTorch measured at training time),
 * and once rendered as users send digits and taken through the production path.
 */

const datasetsDir = process.env.INKWELL_DATASETS_DIR ?? DEFAULT_DATASETS_DIR;
const modelMissing = hasShippedModel('digits') ? false : 'models/digits.onnx or models/digits.json is missing';
const skipReason = modelMissing || (mnistTestFilesPresent(datasetsDir) ? false : `MNIST test files not found in ${path.join(datasetsDir, 'mnist')} (set INKWELL_DATASETS_DIR)`);
if (skipReason) console.log(`skipping the digit model tests: ${skipReason}`);

interface DigitCard {
  evaluation: {
    mnist_test: { accuracy: number; n: number };
    production_path: { accuracy: number; n: number; render_seed: number };
    validation?: { set: string; accuracy: number; n: number; correct: number; per_digit_accuracy: Record<string, number> };
    targets?: CardTargets;
  };
  file: { sha256: string };
}
const card = modelMissing ? null : readShippedCard<DigitCard>('digits');

/** The shipped model, loaded before the enclosing describe's tests and closed after them. */
function useShippedDigitModel(): () => DigitModel {
  let model: DigitModel | undefined;
  before(async () => {
    model = await loadDigitModel(shippedModelsDir, { workers: 1, intraOpNumThreads: 1 });
  });
  after(() => model?.close());
  return () => model!;
}

const BATCH = 64;

function accuracy(predicted: number[], labels: Uint8Array): number {
  return (100 * predicted.filter((digit, i) => digit === labels[i]).length) / predicted.length;
}

describe('the shipped digit model', { skip: skipReason }, () => {
  const model = useShippedDigitModel();

  test("when the raw MNIST test images are classified with ONNX Runtime, then the accuracy is the card's training-time figure", async () => {
    const set = readMnistTest(datasetsDir);
    const predicted: number[] = [];
    for (let start = 0; start < set.count; start += BATCH) {
      const images = [];
      for (let i = start; i < Math.min(set.count, start + BATCH); i++) {
        images.push(Float32Array.from(set.images.subarray(i * 784, (i + 1) * 784), (v) => (v / 255 - DIGIT_MEAN) / DIGIT_STD));
      }
      predicted.push(...(await model().classify(images)).map((p) => p.digit));
    }
    const measured = accuracy(predicted, set.labels);
    assert.equal(set.count, card!.evaluation.mnist_test.n);
    assert.ok(Math.abs(measured - card!.evaluation.mnist_test.accuracy) <= 0.02, `ONNX Runtime ${measured.toFixed(2)}%, card ${card!.evaluation.mnist_test.accuracy}%`);
  });

  test("when MNIST test digits arrive as enlarged, off-centre dark-on-light PNGs, then the production path keeps the card's accuracy", async () => {
    const set = readMnistTest(datasetsDir);
    const random = seededRandom(MNIST_RENDER_SEED);
    assert.equal(card!.evaluation.production_path.render_seed, MNIST_RENDER_SEED, 'the card was measured on the same renders');
    const predicted: number[] = [];
    for (let start = 0; start < set.count; start += BATCH) {
      const indices = Array.from({ length: Math.min(BATCH, set.count - start) }, (_, k) => start + k);
      // renderDarkOnLight draws its random numbers before its first await, so the renders do not depend on timing.
      const pngs = await Promise.all(indices.map((i) => renderDarkOnLight(set, i, random)));
      const images = await Promise.all(pngs.map((png) => prepareDigit(png, { maxPixels: 1_000_000 })));
      predicted.push(...(await model().classify(images)).map((p) => p.digit));
    }
    const measured = accuracy(predicted, set.labels);
    console.log(`production path on ${set.count} rendered MNIST test images: ${measured.toFixed(2)}%`);
    assert.ok(
      Math.abs(measured - card!.evaluation.production_path.accuracy) <= 0.3,
      `production path ${measured.toFixed(2)}%, card ${card!.evaluation.production_path.accuracy}%`,
    );
  });
});

function drawing(path: string, { width, height, placement, stroke, ink, paper }: { width: number; height: number; placement: string; stroke: number; ink: string; paper: string | null }) {
  const background = paper ? `<rect width="100%" height="100%" fill="${paper}"/>` : '';
  return Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${background}<g transform="${placement}">` +
      `<path d="${path}" fill="none" stroke="${ink}" stroke-width="${stroke}" stroke-linecap="round" stroke-linejoin="round"/></g></svg>`,
  );
}

describe('the shipped digit model on drawn digits', { skip: modelMissing }, () => {
  const model = useShippedDigitModel();

  test("when the card states the input normalisation, then it is the one prepareDigit applies", () => {
    const { preprocessing } = model().card as unknown as { preprocessing: { mean: number; std: number } };
    assert.deepEqual([preprocessing.mean, preprocessing.std], [DIGIT_MEAN, DIGIT_STD]);
  });

  async function read(images: Buffer[]): Promise<number[]> {
    const prepared = await Promise.all(images.map((image) => prepareDigit(new Uint8Array(image), { maxPixels: 1_000_000 })));
    return (await model().classify(prepared)).map((p) => p.digit);
  }

  for (const stroke of [4, 10, 18]) {
    test(`when each digit is drawn on a transparent canvas with a ${stroke} px brush, then all ten are read correctly`, async () => {
      const pngs = await Promise.all(
        DRAWN_DIGITS.map((path) =>
          sharp(drawing(path, { width: 280, height: 280, placement: 'translate(70 60) scale(1.4)', stroke, ink: '#000', paper: null })).png().toBuffer(),
        ),
      );
      assert.deepEqual(await read(pngs), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    });
  }

  test('when each digit is photographed small on grey paper under a shadow, then all ten are read correctly', async () => {
    const shadow = Buffer.from(
      '<svg xmlns="http://www.w3.org/2000/svg" width="640" height="480"><defs><linearGradient id="s" x2="1" y2="1">' +
        '<stop offset="0" stop-color="#000" stop-opacity="0"/><stop offset="1" stop-color="#000" stop-opacity="0.5"/>' +
        '</linearGradient></defs><rect width="100%" height="100%" fill="url(#s)"/></svg>',
    );
    const photos = await Promise.all(
      DRAWN_DIGITS.map((path) =>
        sharp(drawing(path, { width: 640, height: 480, placement: 'translate(380 200) rotate(8) scale(1.1)', stroke: 6, ink: '#2a2a40', paper: '#d8d0c0' }))
          .composite([{ input: shadow }])
          .blur(1.2)
          .jpeg({ quality: 75 })
          .toBuffer(),
      ),
    );
    assert.deepEqual(await read(photos), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });
});

/*
 * The validation set of real handwriting (pendigits-canvas: 30 people's pen strokes drawn as a canvas draws them)
 * through the production path, against the card's figures. It is never trained on; see its README.
 */
const validationDir = path.join(datasetsDir, 'digits-validation', 'pendigits-canvas');
const validationSkip =
  modelMissing ||
  (existsSync(validationDir) ? false : `validation set not found in ${validationDir} (set INKWELL_DATASETS_DIR)`) ||
  (card?.evaluation.validation ? false : 'models/digits.json has no evaluation.validation figures to check');
if (validationSkip) console.log(`skipping the digit model's validation-set test: ${validationSkip}`);

describe('the shipped digit model on the validation set', { skip: validationSkip }, () => {
  const model = useShippedDigitModel();

  test("when the pendigits-canvas drawings go through the production path, then the accuracy overall and per digit is the card's", async () => {
    const files = readdirSync(validationDir).filter((name) => /_\d\.png$/.test(name)).sort();
    const labels = Uint8Array.from(files, (name) => Number(/_(\d)\.png$/.exec(name)![1]));
    const predicted: number[] = [];
    for (let start = 0; start < files.length; start += BATCH) {
      const batch = files.slice(start, start + BATCH);
      const images = await Promise.all(batch.map((name) => prepareDigit(readFileSync(path.join(validationDir, name)), { maxPixels: 1_000_000 })));
      predicted.push(...(await model().classify(images)).map((p) => p.digit));
    }
    const validation = card!.evaluation.validation!;
    assert.equal(validation.set, 'pendigits-canvas');
    assert.equal(files.length, validation.n);
    const correct = predicted.filter((digit, i) => digit === labels[i]).length;
    console.log(`production path on ${files.length} pendigits-canvas drawings: ${accuracy(predicted, labels).toFixed(2)}%`);
    assert.ok(Math.abs(correct - validation.correct) <= 3, `${correct} correct, card ${validation.correct}`);
    for (let digit = 0; digit <= 9; digit++) {
      const mine = predicted.filter((_, i) => labels[i] === digit);
      const measured = accuracy(mine, labels.filter((label) => label === digit));
      assert.ok(Math.abs(measured - validation.per_digit_accuracy[digit]!) <= 0.5, `digit ${digit}: ${measured.toFixed(2)}%, card ${validation.per_digit_accuracy[digit]}%`);
    }
  });
});

describe("the digit card's account of issue 13's targets", { skip: modelMissing || (card?.evaluation.targets ? false : 'the card states no targets') }, () => {
  test('when a reader looks up how far the model is from each target, then every verdict follows from the figures the card measured', () => {
    assertTargetsFollowFromCard(card!, card!.evaluation.targets!);
    const weakest = Math.min(...Object.values(card!.evaluation.validation!.per_digit_accuracy));
    assert.ok(card!.evaluation.targets!.checks.some((check) => check.name.includes('weakest digit') && check.measured === weakest), 'the weakest digit is not the one judged');
  });
});
