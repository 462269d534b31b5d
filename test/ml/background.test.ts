import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { ImageInputError, loadBackgroundRemover, ModelLoadError, RemoverBusyError, type BackgroundRemover } from '../../src/ml/index.js';
import { MAX_QUEUED } from '../../src/ml/background/remover.js';
import { makeInkImage } from '../../src/ml/background/synthetic.js';
import { shippedModelsDir } from '../helpers/ml-models.js';
import { copyBackgroundModel, discOnPlain, pixelsOf } from './helpers/background.js';

const MAX_PIXELS = 2_000_000;

/** Threads of this process (the background worker is one of them, besides its onnxruntime threads). */
const threadCount = () => readdirSync('/proc/self/task').length;

async function loadError(load: () => Promise<unknown>): Promise<ModelLoadError> {
  try {
    await load();
  } catch (error) {
    assert.ok(error instanceof ModelLoadError, `expected a ModelLoadError, got ${String(error)}`);
    return error;
  }
  assert.fail('the model loaded although it should not have');
}

async function reasonOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ImageInputError, `expected an ImageInputError, got ${String(error)}`);
    return error.reason;
  }
  assert.fail('the image was accepted');
}

describe('loading the background model', () => {
  test('models/u2netp.onnx matches the sha256 in its card', () => {
    const card = JSON.parse(readFileSync(path.join(shippedModelsDir, 'u2netp.json'), 'utf8')) as { file: { sha256: string; bytes: number } };
    const bytes = readFileSync(path.join(shippedModelsDir, 'u2netp.onnx'));
    assert.equal(createHash('sha256').update(bytes).digest('hex'), card.file.sha256);
    assert.equal(bytes.length, card.file.bytes);
  });

  test('when the .onnx bytes differ from the card, then loading fails naming both files', async () => {
    const scratch = copyBackgroundModel();
    after(() => scratch.remove());
    const bytes = readFileSync(path.join(scratch.dir, 'u2netp.onnx'));
    bytes[bytes.length - 1]! ^= 0xff;
    scratch.writeModel(bytes);
    const error = await loadError(() => loadBackgroundRemover({ modelsDir: scratch.dir, maxPixels: MAX_PIXELS }));
    assert.match(error.message, /u2netp\.onnx does not match the sha256 in .*u2netp\.json/);
  });

  test('when the card gives another output shape, then loading fails before starting a worker', async () => {
    const scratch = copyBackgroundModel();
    after(() => scratch.remove());
    const card = scratch.readCard();
    card.output.shape = [1, 1, 160, 160];
    scratch.writeCard(card);
    const error = await loadError(() => loadBackgroundRemover({ modelsDir: scratch.dir, maxPixels: MAX_PIXELS }));
    assert.match(error.message, /background removal needs \[1,3,320,320\] and \[1,1,320,320\]/);
  });

  test('when the card has a digit-style output shape, then the mask-model card check names the field', async () => {
    const scratch = copyBackgroundModel();
    after(() => scratch.remove());
    const card = scratch.readCard();
    card.output.shape = [1, 10];
    scratch.writeCard(card);
    const error = await loadError(() => loadBackgroundRemover({ modelsDir: scratch.dir, maxPixels: MAX_PIXELS }));
    assert.match(error.message, /u2netp\.json is not a valid model card: output\.shape/);
  });

  test('when the card names an output the graph does not have, then the worker reports it by file name', async () => {
    const scratch = copyBackgroundModel();
    after(() => scratch.remove());
    const card = scratch.readCard();
    card.output.name = 'mask';
    scratch.writeCard(card);
    const error = await loadError(() => loadBackgroundRemover({ modelsDir: scratch.dir, maxPixels: MAX_PIXELS }));
    assert.match(error.message, /u2netp\.onnx has inputs \[input\.1\] and outputs \[1959, .*promises input "input\.1" and output "mask"/);
  });
});

describe('the background remover', () => {
  let remover: BackgroundRemover;
  before(async () => {
    remover = await loadBackgroundRemover({ modelsDir: shippedModelsDir, maxPixels: MAX_PIXELS });
  });
  after(() => remover.close());

  test('photo mode: transparent is an RGBA PNG of the same size, with the object opaque and the background clear', async () => {
    const file = await discOnPlain(320, 240);
    const result = await remover.remove(file, { mode: 'photo', output: 'transparent' });
    assert.equal(result.type, 'png');
    assert.deepEqual([result.width, result.height], [320, 240]);
    assert.match(result.method, /U²-Net \(u2netp\).*plain-background repair/);
    const { data, fileChannels } = await pixelsOf(result.bytes);
    assert.equal(fileChannels, 4);
    const alphaAt = (x: number, y: number) => data[(y * 320 + x) * 4 + 3]!;
    assert.equal(alphaAt(160, 120), 255, 'the disc centre is opaque');
    assert.equal(alphaAt(5, 5), 0, 'the corner is transparent');
    // The drop shadow (below right of the disc, outside it) is background.
    assert.equal(alphaAt(160 + 82, 120 + 30), 0, 'the shadow is transparent');
  });

  test('color output is a JPEG on the given colour; mask output is a one-channel PNG of the alpha', async () => {
    const file = await discOnPlain(320, 240);
    const color = await remover.remove(file, { mode: 'photo', output: 'color', color: '#00ff00' });
    assert.equal(color.type, 'jpeg');
    const c = await pixelsOf(color.bytes);
    assert.equal(c.fileChannels, 3);
    const [r, g, b] = [c.data[0]!, c.data[1]!, c.data[2]!];
    assert.ok(r < 20 && g > 235 && b < 20, `the corner should be green, got ${r},${g},${b}`);
    const centre = (120 * 320 + 160) * 3;
    assert.ok(c.data[centre]! > 150 && c.data[centre + 1]! < 90, 'the disc keeps its red');

    const mask = await remover.remove(file, { mode: 'photo', output: 'mask' });
    assert.equal(mask.type, 'png');
    const m = await pixelsOf(mask.bytes);
    assert.equal(m.fileChannels, 1, 'a grayscale PNG, not three equal channels');
    assert.equal(m.data[120 * 320 + 160], 255);
    assert.equal(m.data[0], 0);
  });

  test('plain mode cuts out the disc without the network and says how the border was modelled', async () => {
    const result = await remover.remove(await discOnPlain(320, 240), { mode: 'plain', output: 'mask' });
    assert.match(result.method, /Plain-background cut-out \(border fitted as a plain colour, cast shadows removed\)/);
    const { data } = await pixelsOf(result.bytes);
    assert.equal(data[120 * 320 + 160], 255);
    assert.equal(data[5 * 320 + 5], 0);
    assert.equal(data[(120 + 30) * 320 + 160 + 82], 0, 'the shadow is removed');
  });

  test('document mode: ink can be recoloured black or blue, and the paper is fully transparent', async () => {
    const sample = await makeInkImage('signature', 5, 0, { width: 600, height: 400 });
    for (const [ink, expected] of [
      ['black', [0, 0, 0]],
      ['blue', [20, 50, 160]],
    ] as const) {
      const result = await remover.remove(sample.file, { mode: 'document', output: 'transparent', ink });
      assert.match(result.method, new RegExp(`ink recoloured ${ink}`));
      const { data } = await pixelsOf(result.bytes);
      let opaque = 0;
      for (let i = 0; i < sample.width * sample.height; i++) {
        const a = data[i * 4 + 3]!;
        if (a === 255) {
          opaque++;
          assert.deepEqual([data[i * 4], data[i * 4 + 1], data[i * 4 + 2]], expected);
        }
        if (a === 0) assert.deepEqual([data[i * 4], data[i * 4 + 1], data[i * 4 + 2]], [0, 0, 0], 'transparent pixels carry no colour');
      }
      assert.ok(opaque > 500, `only ${opaque} opaque ink pixels`);
    }
  });

  test('document mode, original ink: laid on white, the cut-out reproduces the flattened page (no grey halo)', async () => {
    const sample = await makeInkImage('scan', 5, 1, { width: 600, height: 400 });
    const result = await remover.remove(sample.file, { mode: 'document', output: 'color', color: '#ffffff' });
    const { data } = await pixelsOf(result.bytes);
    // Far from the ink, the page is pure white: paper texture and tint are gone.
    let notWhite = 0;
    let paper = 0;
    for (let i = 0; i < sample.width * sample.height; i++) {
      if (sample.truth[i]) continue;
      paper++;
      if (data[i * 3]! < 245 || data[i * 3 + 1]! < 245 || data[i * 3 + 2]! < 245) notWhite++;
    }
    assert.ok(notWhite / paper < 0.02, `${((100 * notWhite) / paper).toFixed(1)}% of paper pixels are not white`);
  });

  test('strength: more strength keeps fewer faint pixels', async () => {
    const sample = await makeInkImage('handwriting', 5, 2, { width: 600, height: 400 });
    const visible = async (strength: number) => {
      const { data } = await pixelsOf((await remover.remove(sample.file, { mode: 'document', output: 'mask', strength })).bytes);
      return data.reduce((n, a) => n + (a > 0 ? 1 : 0), 0);
    };
    const [gentle, strong] = [await visible(0), await visible(100)];
    assert.ok(strong < gentle, `strength 100 kept ${strong} pixels, strength 0 kept ${gentle}`);
  });

  test('what the file already made transparent stays transparent', async () => {
    const opaque = await sharp(await discOnPlain(200, 200)).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
    for (let y = 0; y < 200; y++) for (let x = 0; x < 100; x++) opaque.data[(y * 200 + x) * 4 + 3] = 0;
    const file = await sharp(opaque.data, { raw: { width: 200, height: 200, channels: 4 } }).png().toBuffer();
    const { data } = await pixelsOf((await remover.remove(file, { mode: 'photo', output: 'mask' })).bytes);
    assert.equal(data[100 * 200 + 60], 0, 'the left half of the disc was transparent in the file');
    assert.equal(data[100 * 200 + 140], 255);
  });

  test('WebP and GIF files are read like PNG and JPEG', async () => {
    const png = await discOnPlain(160, 120);
    for (const file of [await sharp(png).webp({ quality: 90 }).toBuffer(), await sharp(png).gif().toBuffer()]) {
      const result = await remover.remove(file, { mode: 'photo', output: 'mask' });
      const { data } = await pixelsOf(result.bytes);
      assert.deepEqual([result.width, result.height, data[60 * 160 + 80], data[2 * 160 + 2]], [160, 120, 255, 0]);
    }
  });

  test('bad files are refused with the ImageInputError reasons, the pixel limit before decoding', async () => {
    assert.equal(await reasonOf(remover.remove(new TextEncoder().encode('not an image'), { mode: 'photo', output: 'mask' })), 'unsupported_type');
    const truncated = (await discOnPlain(100, 100)).subarray(0, 200);
    assert.equal(await reasonOf(remover.remove(truncated, { mode: 'document', output: 'mask' })), 'undecodable');
    const large = await sharp({ create: { width: 1500, height: 1500, channels: 3, background: '#ffffff' } }).png().toBuffer();
    assert.equal(await reasonOf(remover.remove(large, { mode: 'plain', output: 'mask' })), 'too_many_pixels');
    assert.equal(await reasonOf(remover.fromCutout(large, { output: 'mask' })), 'too_many_pixels');
  });

  test('invalid options are programming errors: RangeError', async () => {
    const file = await discOnPlain(64, 64);
    await assert.rejects(remover.remove(file, { mode: 'photo', output: 'color', color: 'red' }), RangeError);
    await assert.rejects(remover.remove(file, { mode: 'photo', output: 'color', color: '#12345' }), RangeError);
    await assert.rejects(remover.remove(file, { mode: 'document', output: 'mask', strength: 101 }), RangeError);
    await assert.rejects(remover.remove(file, { mode: 'document', output: 'mask', strength: Number.NaN }), RangeError);
    await assert.rejects(remover.remove(file, { mode: 'video' as never, output: 'mask' }), RangeError);
    await assert.rejects(remover.remove(file, { mode: 'photo', output: 'gif' as never }), RangeError);
    await assert.rejects(remover.remove(file, { mode: 'document', output: 'mask', ink: 'red' as never }), RangeError);
    await assert.rejects(remover.fromCutout(file, { output: 'color', color: '#zzzzzz' }), RangeError);
  });

  test("fromCutout turns a provider's transparent PNG into each output", async () => {
    const rgba = Buffer.alloc(40 * 30 * 4);
    for (let i = 0; i < 40 * 30; i++) rgba.set([200, 40, 40, i % 40 < 20 ? 255 : 0], i * 4);
    const cutout = await sharp(rgba, { raw: { width: 40, height: 30, channels: 4 } }).png().toBuffer();

    const transparent = await remover.fromCutout(cutout, { output: 'transparent' });
    assert.equal(transparent.type, 'png');
    const t = await pixelsOf(transparent.bytes);
    assert.equal(t.fileChannels, 4);
    assert.deepEqual([t.data[3], t.data[(30 * 4) + 3]], [255, 0]);

    const color = await remover.fromCutout(cutout, { output: 'color', color: '#0000ff' });
    assert.equal(color.type, 'jpeg');
    const c = await pixelsOf(color.bytes);
    const right = (10 * 40 + 35) * 3;
    assert.ok(c.data[right + 2]! > 230 && c.data[right]! < 30, 'the transparent half becomes blue');

    const mask = await remover.fromCutout(cutout, { output: 'mask' });
    const m = await pixelsOf(mask.bytes);
    assert.equal(m.fileChannels, 1);
    assert.deepEqual([m.data[0], m.data[35], m.width, m.height], [255, 0, 40, 30]);
  });

  test('concurrent jobs are all answered, each with its own result', async () => {
    const sizes = [
      [120, 90],
      [90, 120],
      [200, 100],
      [64, 64],
    ] as const;
    const files = await Promise.all(sizes.map(([w, h]) => discOnPlain(w, h)));
    const results = await Promise.all(files.map((file, i) => remover.remove(file, { mode: i % 2 ? 'plain' : 'photo', output: 'mask' })));
    results.forEach((result, i) => assert.deepEqual([result.width, result.height], sizes[i]));
  });

  test(`when more than ${MAX_QUEUED} jobs wait, then the extra ones are refused at once with RemoverBusyError and the others are answered`, async () => {
    const file = await discOnPlain(64, 64);
    const settled = await Promise.allSettled(Array.from({ length: MAX_QUEUED + 3 }, () => remover.remove(file, { mode: 'plain', output: 'mask' })));
    const busy = settled.filter((result) => result.status === 'rejected');
    assert.equal(busy.length, 2, 'one job runs, MAX_QUEUED wait, the rest are refused');
    for (const result of busy) assert.ok((result as PromiseRejectedResult).reason instanceof RemoverBusyError);
    assert.equal(settled.filter((result) => result.status === 'fulfilled').length, MAX_QUEUED + 1);
    assert.equal(remover.version, '1.0.0');
  });

  test('the caller keeps its buffer: it is copied, not moved to the worker', async () => {
    const file = await discOnPlain(64, 64);
    const before = Buffer.from(file);
    await remover.remove(file, { mode: 'plain', output: 'mask' });
    assert.equal(file.length, before.length);
    assert.ok(file.equals(before));
  });
});

describe('an idle background remover', () => {
  test('when no job comes for idleReleaseMs, then its worker stops, and the next job starts a new one', async () => {
    const remover = await loadBackgroundRemover({ modelsDir: shippedModelsDir, maxPixels: MAX_PIXELS, idleReleaseMs: 300 });
    try {
      const file = await discOnPlain(64, 64);
      await remover.remove(file, { mode: 'plain', output: 'mask' });
      const workersBefore = threadCount();
      await new Promise((resolve) => setTimeout(resolve, 1000));
      assert.ok(threadCount() < workersBefore, 'the worker thread (and its onnxruntime threads) have gone');
      const again = await remover.remove(file, { mode: 'photo', output: 'mask' });
      assert.deepEqual([again.width, again.height], [64, 64]);
    } finally {
      await remover.close();
    }
  });
});

describe('closing the background remover', () => {
  const ports = () => process.getActiveResourcesInfo().filter((kind) => kind === 'MessagePort').length;

  test('close() finishes the jobs already accepted, then stops the worker; later calls are refused', async () => {
    const portsBefore = ports();
    const remover = await loadBackgroundRemover({ modelsDir: shippedModelsDir, maxPixels: MAX_PIXELS });
    const pending = [remover.remove(await discOnPlain(), { mode: 'photo', output: 'mask' }), remover.remove(await discOnPlain(), { mode: 'plain', output: 'mask' })];
    await remover.close();
    for (const result of await Promise.all(pending)) assert.equal(result.width, 320);
    assert.equal(ports(), portsBefore);
    await assert.rejects(remover.remove(await discOnPlain(), { mode: 'plain', output: 'mask' }), /closed/);
    await remover.close();
  });
});
