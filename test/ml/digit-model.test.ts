import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DIGIT_MEAN, DIGIT_STD, prepareDigit } from '../../src/ml/digit-image.js';
import { loadDigitModel, type DigitModel } from '../../src/ml/index.js';
import { hasShippedModel, shippedModelsDir } from '../helpers/ml-models.js';
import { DEFAULT_DATASETS_DIR, MNIST_RENDER_SEED, mnistTestFilesPresent, readMnistTest, renderDarkOnLight, seededRandom } from './helpers/mnist.js';

/*
 * The shipped digit model on the 10,000 MNIST test images, checked against the figures its card claims:
 * once straight from the IDX pixels (ONNX Runtime must reproduce what PyTorch measured at training time),
 * and once rendered as users send digits and taken through the production path.
 */

const datasetsDir = process.env.INKWELL_DATASETS_DIR ?? DEFAULT_DATASETS_DIR;
const skipReason = !mnistTestFilesPresent(datasetsDir)
  ? `MNIST test files not found in ${path.join(datasetsDir, 'mnist')} (set INKWELL_DATASETS_DIR)`
  : !hasShippedModel('digits')
    ? 'models/digits.onnx or models/digits.json is missing'
    : false;
if (skipReason) console.log(`skipping the digit model tests: ${skipReason}`);

interface DigitCard {
  evaluation: {
    mnist_test: { accuracy: number; n: number };
    production_path: { accuracy: number; n: number; render_seed: number };
  };
}

const BATCH = 64;

function accuracy(predicted: number[], labels: Uint8Array): number {
  return (100 * predicted.filter((digit, i) => digit === labels[i]).length) / predicted.length;
}

describe('the shipped digit model', { skip: skipReason }, () => {
  let model: DigitModel;
  let card: DigitCard;
  before(async () => {
    card = JSON.parse(readFileSync(path.join(shippedModelsDir, 'digits.json'), 'utf8')) as DigitCard;
    model = await loadDigitModel(shippedModelsDir, { workers: 1, intraOpNumThreads: 1 });
  });
  after(() => model?.close());

  test("when the raw MNIST test images are classified with ONNX Runtime, then the accuracy is the card's training-time figure", async () => {
    const set = readMnistTest(datasetsDir);
    const predicted: number[] = [];
    for (let start = 0; start < set.count; start += BATCH) {
      const images = [];
      for (let i = start; i < Math.min(set.count, start + BATCH); i++) {
        images.push(Float32Array.from(set.images.subarray(i * 784, (i + 1) * 784), (v) => (v / 255 - DIGIT_MEAN) / DIGIT_STD));
      }
      predicted.push(...(await model.classify(images)).map((p) => p.digit));
    }
    const measured = accuracy(predicted, set.labels);
    assert.equal(set.count, card.evaluation.mnist_test.n);
    assert.ok(Math.abs(measured - card.evaluation.mnist_test.accuracy) <= 0.02, `ONNX Runtime ${measured.toFixed(2)}%, card ${card.evaluation.mnist_test.accuracy}%`);
  });

  test("when MNIST test digits arrive as enlarged, off-centre dark-on-light PNGs, then the production path keeps the card's accuracy", async () => {
    const set = readMnistTest(datasetsDir);
    const random = seededRandom(MNIST_RENDER_SEED);
    assert.equal(card.evaluation.production_path.render_seed, MNIST_RENDER_SEED, 'the card was measured on the same renders');
    const predicted: number[] = [];
    for (let start = 0; start < set.count; start += BATCH) {
      const indices = Array.from({ length: Math.min(BATCH, set.count - start) }, (_, k) => start + k);
      // renderDarkOnLight draws its random numbers before its first await, so the renders do not depend on timing.
      const pngs = await Promise.all(indices.map((i) => renderDarkOnLight(set, i, random)));
      const images = await Promise.all(pngs.map((png) => prepareDigit(png, { maxPixels: 1_000_000 })));
      predicted.push(...(await model.classify(images)).map((p) => p.digit));
    }
    const measured = accuracy(predicted, set.labels);
    console.log(`production path on ${set.count} rendered MNIST test images: ${measured.toFixed(2)}%`);
    assert.ok(
      Math.abs(measured - card.evaluation.production_path.accuracy) <= 0.3,
      `production path ${measured.toFixed(2)}%, card ${card.evaluation.production_path.accuracy}%`,
    );
  });
});
