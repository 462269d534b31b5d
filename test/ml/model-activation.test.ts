import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { checkModelVersion, loadModels, ModelCheckError, ModelLoadError, type Models } from '../../src/ml/index.js';
import { drawnDigitPng } from '../helpers/digits.js';
import { fixtureModelsDir, noiseImage, shippedModelsDir } from '../helpers/ml-models.js';

/** A version folder holding the shipped (real) digit model: another network than the fixture's, so answers differ. */
function realDigitsDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'inkwell-version-'));
  cpSync(path.join(shippedModelsDir, 'digits.onnx'), path.join(dir, 'digits.onnx'));
  cpSync(path.join(shippedModelsDir, 'digits.json'), path.join(dir, 'digits.json'));
  return dir;
}

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

/** The readings of a readFiles call that read every file (fails the test otherwise). */
async function readAll(models: Models, files: Buffer[]) {
  return (await models.digits.readFiles(files)).map((reading) => {
    if (reading.error) throw reading.error;
    return reading;
  });
}

for (const runner of ['workers', 'main-thread'] as const) {
  describe(`activating another model version (${runner} runner)`, () => {
    let models: Models;
    let real: string;
    let realVersion: string;
    before(async () => {
      models = await loadModels({ modelsDir: fixtureModelsDir, runner, workers: 2, intraOpNumThreads: 1 });
      real = realDigitsDir();
      realVersion = (JSON.parse(readFileSync(path.join(real, 'digits.json'), 'utf8')) as { version: string }).version;
    });
    after(async () => {
      await models.close();
      rmSync(real, { recursive: true, force: true });
    });

    it('when a version is activated while requests are running, then each finishes on the version it started on and says so', async () => {
      const png = await drawnDigitPng(4);
      const [reference] = await readAll(models, [png]);
      assert.equal(reference!.version, '0.0.1-test');
      const inFlight = Array.from({ length: 12 }, () => readAll(models, [png]));
      const activation = models.activate('digits', real, { sha256: sha256(path.join(real, 'digits.onnx')) });
      const afterwards = activation.then(() => readAll(models, [png]));
      const readings = (await Promise.all(inFlight)).flat();
      await activation;
      // Requests made before the switch answered on the old version, with its output.
      for (const reading of readings) {
        assert.equal(reading.version, '0.0.1-test');
        assert.deepEqual(reading.prediction.probabilities, reference!.prediction.probabilities);
      }
      const [next] = await afterwards;
      assert.equal(next!.version, realVersion);
      assert.equal(next!.prediction.digit, 4, 'the real model reads the drawn 4');
      assert.notDeepEqual(next!.prediction.probabilities, reference!.prediction.probabilities);
      assert.equal(models.digits.card.version, realVersion);
      assert.deepEqual(models.versions(), { digits: realVersion, signatures: '0.0.1-test' });
    });

    it('when versions are switched back and forth with requests pending, then every request is answered', async () => {
      const inputs = Array.from({ length: 30 }, (_, i) => noiseImage(784, i));
      const pending = inputs.map((input) => models.digits.classify([input]));
      await models.activate('digits', fixtureModelsDir);
      await models.activate('digits', real);
      await models.activate('digits', fixtureModelsDir);
      const answers = await Promise.all(pending);
      assert.equal(answers.length, 30);
      assert.equal(models.versions().digits, '0.0.1-test');
      assert.equal((await readAll(models, [await drawnDigitPng(1)]))[0]!.version, '0.0.1-test');
    });

    it('when the new version cannot be loaded, then the active one keeps answering and the error says why', async () => {
      const broken = realDigitsDir();
      try {
        writeFileSync(path.join(broken, 'digits.onnx'), readFileSync(path.join(fixtureModelsDir, 'digits.onnx')));
        await assert.rejects(models.activate('digits', broken), (error: Error) => error instanceof ModelLoadError && /does not match the sha256/.test(error.message));
        await assert.rejects(models.activate('digits', real, { sha256: '0'.repeat(64) }), /registry recorded 0{64}/);
        assert.equal(models.versions().digits, '0.0.1-test');
        assert.equal((await models.digits.classify([noiseImage(784, 1)])).length, 1);
      } finally {
        rmSync(broken, { recursive: true, force: true });
      }
    });
  });
}

describe('checking a new version', () => {
  it('when the files are sound, then checkModelVersion gives the card; when the network does not fit its card, then the inference check fails', async () => {
    const card = await checkModelVersion('digits', fixtureModelsDir);
    assert.equal(card.version, '0.0.1-test');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'inkwell-version-'));
    try {
      // The signature network under a digits card whose shapes are a digit model's: it cannot run on 28x28 input.
      cpSync(path.join(fixtureModelsDir, 'signatures.onnx'), path.join(dir, 'digits.onnx'));
      const digits = JSON.parse(readFileSync(path.join(fixtureModelsDir, 'digits.json'), 'utf8')) as Record<string, unknown>;
      writeFileSync(path.join(dir, 'digits.json'), JSON.stringify({ ...digits, output: { name: 'embedding', shape: ['N', 10] }, file: { sha256: sha256(path.join(dir, 'digits.onnx')) } }));
      await assert.rejects(checkModelVersion('digits', dir), (error: Error) => error instanceof ModelCheckError && error.check === 'inference');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
