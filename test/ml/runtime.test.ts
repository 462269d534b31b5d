import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { ImageInputError, loadDigitModel, loadModels, loadSignatureModel, ModelLoadError, prepareDigit, prepareSignature, signatureFitOf, type Models } from '../../src/ml/index.js';
import { MAX_BATCH } from '../../src/ml/onnx-runner.js';
import { copyFixtureModels, fixtureModelsDir, hasShippedModel, noiseImage, shippedModelsDir } from '../helpers/ml-models.js';

const DIGIT_SIZE = 28 * 28;
const SIGNATURE_SIZE = 200 * 200;

async function loadError(load: () => Promise<unknown>): Promise<ModelLoadError> {
  try {
    await load();
  } catch (error) {
    assert.ok(error instanceof ModelLoadError, `expected a ModelLoadError, got ${String(error)}`);
    return error;
  }
  assert.fail('the model loaded although it should not have');
}

function assertRowsClose(actual: ArrayLike<number>, expected: ArrayLike<number>) {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < actual.length; i++) assert.ok(Math.abs(actual[i]! - expected[i]!) < 1e-5, `value ${i}: ${actual[i]} != ${expected[i]}`);
}

describe('loading a model', () => {
  const models = copyFixtureModels();
  after(() => models.remove());

  test('when the card is missing, then the error names the card', async () => {
    const error = await loadError(() => loadDigitModel(path.join(models.dir, 'nowhere')));
    assert.match(error.message, /nowhere[/\\]digits\.json is missing/);
  });

  test('when the .onnx file is missing, then the error names it', async () => {
    const scratch = copyFixtureModels();
    after(() => scratch.remove());
    rmSync(path.join(scratch.dir, 'signatures.onnx'));
    const error = await loadError(() => loadSignatureModel(scratch.dir));
    assert.match(error.message, /signatures\.onnx is missing/);
    assert.equal(path.basename(error.file), 'signatures.onnx');
  });

  test('when the card is not JSON, then the error names the card', async () => {
    const scratch = copyFixtureModels();
    after(() => scratch.remove());
    writeFileSync(path.join(scratch.dir, 'digits.json'), '{ "name": "digits", ');
    const error = await loadError(() => loadDigitModel(scratch.dir));
    assert.match(error.message, /digits\.json is not valid JSON/);
  });

  test('when the signature card has no inconclusive band, then the app\'s loadModels refuses it and the eval loader reads it without one', async () => {
    const scratch = copyFixtureModels();
    after(() => scratch.remove());
    const card = scratch.readCard('signatures');
    delete card.decision;
    scratch.writeCard('signatures', card);
    const error = await loadError(() => loadModels({ modelsDir: scratch.dir, workers: 1 }));
    assert.match(error.message, /signatures\.json has no decision\.inconclusive_band/);
    const model = await loadSignatureModel(scratch.dir, { workers: 1 });
    assert.equal(model.inconclusiveBand, null);
    await model.close();
  });

  test('when the card lacks the sha256, then the error names the card and the field', async () => {
    const scratch = copyFixtureModels();
    after(() => scratch.remove());
    const card = scratch.readCard('digits');
    card.file = { bytes: 1 };
    scratch.writeCard('digits', card);
    const error = await loadError(() => loadDigitModel(scratch.dir));
    assert.match(error.message, /digits\.json is not a valid model card: file\.sha256/);
  });

  test('when the .onnx bytes differ from the card, then the sha256 mismatch names both files', async () => {
    const scratch = copyFixtureModels();
    after(() => scratch.remove());
    const bytes = readFileSync(path.join(scratch.dir, 'digits.onnx'));
    bytes[bytes.length - 1]! ^= 0xff;
    scratch.writeModel('digits', bytes);
    const error = await loadError(() => loadDigitModel(scratch.dir));
    assert.match(error.message, /digits\.onnx does not match the sha256 in .*digits\.json: the file hashes to [0-9a-f]{64}/);
  });

  test('when the .onnx file is not an ONNX model (but matches its card), then a worker reports it by file name', async () => {
    const scratch = copyFixtureModels();
    after(() => scratch.remove());
    scratch.writeModel('signatures', new TextEncoder().encode('this is not a protobuf'), { updateCard: true });
    const error = await loadError(() => loadSignatureModel(scratch.dir, { workers: 1 }));
    assert.match(error.message, /signatures\.onnx is not a loadable ONNX model/);
    assert.equal(path.basename(error.file), 'signatures.onnx');
  });

  test('when the card names an input the graph does not have, then loading fails', async () => {
    const scratch = copyFixtureModels();
    after(() => scratch.remove());
    const card = scratch.readCard('digits') as { input: { name: string } };
    card.input.name = 'pixels';
    scratch.writeCard('digits', card);
    const error = await loadError(() => loadDigitModel(scratch.dir, { runner: 'main-thread' }));
    assert.match(error.message, /digits\.onnx has inputs \[image\].*promises input "pixels"/);
  });

  test('when the signature card has no threshold, then loading fails', async () => {
    const scratch = copyFixtureModels();
    after(() => scratch.remove());
    const card = scratch.readCard('signatures');
    delete card.threshold;
    scratch.writeCard('signatures', card);
    const error = await loadError(() => loadSignatureModel(scratch.dir));
    assert.match(error.message, /has no "threshold"/);
  });

  test('when one of the two models is broken, then loadModels fails and starts nothing', async () => {
    const scratch = copyFixtureModels();
    after(() => scratch.remove());
    const ports = () => process.getActiveResourcesInfo().filter((kind) => kind === 'MessagePort').length;
    const portsBefore = ports();
    scratch.writeModel('digits', new Uint8Array([1, 2, 3]), { updateCard: true });
    await loadError(() => loadModels({ modelsDir: scratch.dir, workers: 2 }));
    assert.equal(ports(), portsBefore);
  });
});

describe('inference in the worker pool', () => {
  let models: Models;
  before(async () => {
    models = await loadModels({ modelsDir: fixtureModelsDir, workers: 2 });
  });
  after(() => models.close());

  test('versions() reports the card versions', () => {
    assert.deepEqual(models.versions(), { digits: '0.0.1-test', signatures: '0.0.1-test' });
    assert.equal(models.signatures.threshold, 0.5);
  });

  test('a digit prediction is the argmax of ten probabilities that sum to 1', async () => {
    const [prediction] = await models.digits.classify([noiseImage(DIGIT_SIZE, 1)]);
    assert.ok(prediction);
    assert.equal(prediction.probabilities.length, 10);
    assert.ok(Math.abs(prediction.probabilities.reduce((a, b) => a + b) - 1) < 1e-5);
    assert.equal(prediction.confidence, Math.max(...prediction.probabilities));
    assert.equal(prediction.probabilities[prediction.digit], prediction.confidence);
  });

  test('a batch gives the same answers as one image at a time, in order, across chunk boundaries', async () => {
    const images = Array.from({ length: MAX_BATCH + 6 }, (_, i) => noiseImage(SIGNATURE_SIZE, i));
    const batch = await models.signatures.embed(images);
    assert.equal(batch.length, images.length);
    for (const i of [0, 1, MAX_BATCH - 1, MAX_BATCH, images.length - 1]) {
      const [single] = await models.signatures.embed([images[i]!]);
      assertRowsClose(batch[i]!, single!);
    }
    assert.notDeepEqual(batch[0], batch[1], 'different images should embed differently');
  });

  test('embeddings are L2-normalised', async () => {
    const [embedding] = await models.signatures.embed([noiseImage(SIGNATURE_SIZE, 3)]);
    assert.ok(Math.abs(Math.hypot(...embedding!) - 1) < 1e-5);
  });

  test('many concurrent calls on both models are all answered with their own results', async () => {
    const digitImages = Array.from({ length: 24 }, (_, i) => noiseImage(DIGIT_SIZE, 100 + i));
    const signatureImages = Array.from({ length: 8 }, (_, i) => noiseImage(SIGNATURE_SIZE, 200 + i));
    const expectedDigits = await models.digits.classify(digitImages);
    const expectedSignatures = await models.signatures.embed(signatureImages);
    const [digits, signatures] = await Promise.all([
      Promise.all(digitImages.map((image) => models.digits.classify([image]))),
      Promise.all(signatureImages.map((image) => models.signatures.embed([image]))),
    ]);
    digits.forEach(([prediction], i) => assertRowsClose(prediction!.probabilities, expectedDigits[i]!.probabilities));
    signatures.forEach(([embedding], i) => assertRowsClose(embedding!, expectedSignatures[i]!));
  });

  test('an image of the wrong size is refused', async () => {
    await assert.rejects(models.digits.classify([new Float32Array(100)]), RangeError);
  });

  test('an empty batch gives an empty answer', async () => {
    assert.deepEqual(await models.digits.classify([]), []);
  });

  test('the main-thread runner gives the same answers as the worker pool', async () => {
    const image = noiseImage(DIGIT_SIZE, 7);
    const onMainThread = await loadDigitModel(fixtureModelsDir, { runner: 'main-thread' });
    after(() => onMainThread.close());
    const [expected] = await models.digits.classify([image]);
    const [actual] = await onMainThread.classify([image]);
    assertRowsClose(actual!.probabilities, expected!.probabilities);
  });
});

/** Black pen strokes on white paper, as a PNG file. */
function penDrawing(width: number, height: number, path: string): Promise<Buffer> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><rect width="100%" height="100%" fill="#fff"/>
    <path d="${path}" fill="none" stroke="#000" stroke-width="${Math.max(3, width / 20)}" stroke-linecap="round"/></svg>`;
  return sharp(Buffer.from(svg)).png().toBuffer();
}

describe('image files prepared and run in the workers', () => {
  let models: Models;
  before(async () => {
    models = await loadModels({ modelsDir: fixtureModelsDir, workers: 2, maxPixels: 1_000_000 });
  });
  after(() => models.close());

  test('classifyFiles gives what prepareDigit followed by classify gives', async () => {
    const files = [await penDrawing(200, 200, 'M 60 40 L 140 40 L 80 170'), await penDrawing(300, 300, 'M 150 40 L 150 260')];
    const expected = await models.digits.classify(await Promise.all(files.map((file) => prepareDigit(file, { maxPixels: 1_000_000 }))));
    const actual = await models.digits.classifyFiles(files);
    actual.forEach((prediction, i) => assertRowsClose(prediction.probabilities, expected[i]!.probabilities));
  });

  test('embedFiles gives what prepareSignature followed by embed gives', async () => {
    const file = await penDrawing(600, 200, 'M 40 150 C 120 20, 200 190, 300 100 S 480 40, 560 150');
    const [expected] = await models.signatures.embed([await prepareSignature(file, { maxPixels: 1_000_000, fit: signatureFitOf(models.signatures.card) })]);
    const [actual] = await models.signatures.embedFiles([file]);
    assertRowsClose(actual!, expected!);
  });

  test('embedFilesWithInkMaps gives the same embeddings and, beside them, the ink maps prepareSignature makes', async () => {
    const files = [
      await penDrawing(600, 200, 'M 40 150 C 120 20, 200 190, 300 100 S 480 40, 560 150'),
      await penDrawing(500, 300, 'M 30 200 L 250 60 L 470 240'),
    ];
    const results = await models.signatures.embedFilesWithInkMaps(files);
    const embeddings = await models.signatures.embedFiles(files);
    for (const [i, file] of files.entries()) {
      assertRowsClose(results[i]!.embedding, embeddings[i]!);
      assert.deepEqual(results[i]!.inkMap, await prepareSignature(file, { maxPixels: 1_000_000, fit: signatureFitOf(models.signatures.card) }));
    }
  });

  test('a signature card that names its fit gets that preparation in the workers; an unknown fit is refused at load', async () => {
    const scratch = copyFixtureModels();
    after(() => scratch.remove());
    const card = scratch.readCard('signatures');
    scratch.writeCard('signatures', { ...card, preprocessing: { ...(card.preprocessing as object), fit: 'fill' } });
    const filled = await loadSignatureModel(scratch.dir);
    after(() => filled.close());
    const wide = await penDrawing(800, 200, 'M 40 150 C 160 20, 300 190, 420 100 S 640 40, 760 150');
    const [result] = await filled.embedFilesWithInkMaps([wide]);
    assert.deepEqual(result!.inkMap, await prepareSignature(wide, { maxPixels: 1_000_000, fit: 'fill' }));
    assert.notDeepEqual(result!.inkMap, await prepareSignature(wide, { maxPixels: 1_000_000, fit: 'contain' }));
    scratch.writeCard('signatures', { ...card, preprocessing: { fit: 'cover' } });
    await assert.rejects(loadSignatureModel(scratch.dir), (error: unknown) => error instanceof ModelLoadError && /preprocessing\.fit/.test(error.message));
  });

  test('a refused file comes back from the worker as an ImageInputError with its reason', async () => {
    const drawn = await penDrawing(200, 200, 'M 60 40 L 140 40 L 80 170');
    const blank = await sharp({ create: { width: 100, height: 100, channels: 3, background: '#ffffff' } }).png().toBuffer();
    const reasonOf = (promise: Promise<unknown>) =>
      promise.then(
        () => assert.fail('the file was accepted'),
        (error: unknown) => {
          assert.ok(error instanceof ImageInputError, `expected an ImageInputError, got ${String(error)}`);
          return error.reason;
        },
      );
    assert.equal(await reasonOf(models.digits.classifyFiles([drawn, new TextEncoder().encode('not an image')])), 'unsupported_type');
    assert.equal(await reasonOf(models.signatures.embedFiles([blank])), 'no_ink');
    const large = await sharp({ create: { width: 1100, height: 1000, channels: 3, background: '#ffffff' } }).png().toBuffer();
    assert.equal(await reasonOf(models.digits.classifyFiles([large])), 'too_many_pixels', 'the limit given to loadModels applies');
    assert.equal(await reasonOf(models.digits.classifyFiles([drawn], { maxPixels: 100 })), 'too_many_pixels', 'a limit given per call wins');
  });

  test('readFiles answers each file on its own: a refused file in the middle gets its reason, the others their prediction and input', async () => {
    const files = [await penDrawing(200, 200, 'M 60 40 L 140 40 L 80 170'), new TextEncoder().encode('not an image'), await penDrawing(300, 300, 'M 150 40 L 150 260')];
    const readings = await models.digits.readFiles(files);
    assert.equal(readings.length, 3);
    assert.equal(readings[1]!.error?.reason, 'unsupported_type');
    const expected = await models.digits.classifyFiles([files[0]!, files[2]!]);
    for (const [reading, want] of [[readings[0]!, expected[0]!], [readings[2]!, expected[1]!]] as const) {
      assert.ok(!reading.error);
      assertRowsClose(reading.prediction.probabilities, want.probabilities);
      assert.deepEqual(reading.input, await prepareDigit(files[readings.indexOf(reading)]!, { maxPixels: 1_000_000 }));
    }
  });

  test('when many single-file reads wait at once, then they are run together and each still gets its own answer', async () => {
    const shapes = ['M 60 40 L 140 40 L 80 170', 'M 100 30 L 100 170', 'M 40 60 C 40 0 160 0 150 60 L 40 170 L 160 170', 'M 50 50 L 150 150 M 150 50 L 50 150'];
    const files = await Promise.all(Array.from({ length: 40 }, (_, i) => penDrawing(200 + i, 200, shapes[i % shapes.length]!)));
    const expected = await models.digits.classifyFiles(files);
    const blank = await sharp({ create: { width: 100, height: 100, channels: 3, background: '#ffffff' } }).png().toBuffer();
    const [readings, refused] = await Promise.all([Promise.all(files.map((file) => models.digits.readFiles([file]))), models.digits.readFiles([blank, files[0]!])]);
    readings.forEach(([reading], i) => {
      assert.ok(reading && !reading.error);
      assertRowsClose(reading.prediction.probabilities, expected[i]!.probabilities);
    });
    assert.equal(refused[0]!.error?.reason, 'no_ink');
    assert.ok(!refused[1]!.error);
  });
});

describe('closing', () => {
  const ports = () => process.getActiveResourcesInfo().filter((kind) => kind === 'MessagePort').length;

  test('close() answers the requests already made, then stops the workers; later calls are refused', async () => {
    const portsBefore = ports();
    const models = await loadModels({ modelsDir: fixtureModelsDir, workers: 2 });
    assert.ok(ports() > portsBefore, 'the workers should hold message ports while running');
    const pending = models.signatures.embed(Array.from({ length: 10 }, (_, i) => noiseImage(SIGNATURE_SIZE, i)));
    await models.close();
    assert.equal((await pending).length, 10);
    assert.equal(ports(), portsBefore);
    await assert.rejects(models.digits.classify([noiseImage(DIGIT_SIZE, 1)]), /closed/);
    await models.close();
  });
});

describe('the shipped models', () => {
  const shippedCard = (name: string) =>
    JSON.parse(readFileSync(path.join(shippedModelsDir, `${name}.json`), 'utf8')) as { version: string; input: { shape: (number | string)[] }; file: { sha256: string } };
  const sha256Of = (name: string) => createHash('sha256').update(readFileSync(path.join(shippedModelsDir, `${name}.onnx`))).digest('hex');

  test('models/digits.onnx matches its card, loads and classifies', { skip: !hasShippedModel('digits') && 'models/digits.onnx is not there yet' }, async () => {
    assert.equal(sha256Of('digits'), shippedCard('digits').file.sha256);
    const model = await loadDigitModel(shippedModelsDir, { workers: 1 });
    after(() => model.close());
    assert.equal(model.card.version, shippedCard('digits').version);
    const [prediction] = await model.classify([noiseImage(DIGIT_SIZE, 1)]);
    assert.equal(prediction!.probabilities.length, 10);
  });

  test('models/signatures.onnx matches its card, loads and embeds', { skip: !hasShippedModel('signatures') && 'models/signatures.onnx is not there yet' }, async () => {
    assert.equal(sha256Of('signatures'), shippedCard('signatures').file.sha256);
    const model = await loadSignatureModel(shippedModelsDir, { workers: 1 });
    after(() => model.close());
    assert.equal(model.card.version, shippedCard('signatures').version);
    // One 200x200 channel per fit the card names (3.0.0: two).
    const [, ...sample] = shippedCard('signatures').input.shape as number[];
    const [embedding] = await model.embed([noiseImage(sample.reduce((a, b) => a * b, 1), 1)]);
    assert.ok(Math.abs(Math.hypot(...embedding!) - 1) < 1e-4);
  });
});
