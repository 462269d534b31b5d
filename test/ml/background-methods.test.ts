/** The building blocks of background removal, in-process (no worker, no model). */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { boxMean, findComponents, guidedFilterCoefficients, maxFilter, minFilter, paintComponents, resizePlane } from '../../src/ml/background/filters.js';
import { parseHexColour, resolveOptions } from '../../src/ml/background/options.js';
import { normaliseMask, u2netInput } from '../../src/ml/background/photo.js';
import { fitBackgroundModel } from '../../src/ml/background/border-model.js';
import { seededRandom } from '../../src/lib/random.js';
import { makeImage, maskIoU } from '../../src/ml/background/synthetic.js';
import { inkLevels } from '../../src/ml/background/document.js';
import { decodeToRgb } from '../../src/ml/image-input.js';

function randomPlane(width: number, height: number, seed: number, levels = 256): Uint8Array {
  const random = seededRandom(seed);
  return Uint8Array.from({ length: width * height }, () => Math.floor(random() * levels));
}

describe('filters', () => {
  test('boxMean equals the mean over the window clipped at the edges', () => {
    const [w, h, r] = [13, 9, 2];
    const src = Float32Array.from(randomPlane(w, h, 1));
    const out = boxMean(src, w, h, r);
    for (const [x, y] of [[0, 0], [6, 4], [12, 8], [1, 7]] as const) {
      let sum = 0;
      let n = 0;
      for (let yy = Math.max(0, y - r); yy <= Math.min(h - 1, y + r); yy++) for (let xx = Math.max(0, x - r); xx <= Math.min(w - 1, x + r); xx++) (sum += src[yy * w + xx]!), n++;
      assert.ok(Math.abs(out[y * w + x]! - sum / n) < 1e-3);
    }
  });

  test('maxFilter and minFilter equal the max and min over the square window', () => {
    const [w, h, r] = [11, 7, 2];
    const src = randomPlane(w, h, 2);
    const max = maxFilter(src, w, h, r);
    const min = minFilter(src, w, h, r);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        let hi = 0;
        let lo = 255;
        for (let yy = Math.max(0, y - r); yy <= Math.min(h - 1, y + r); yy++) {
          for (let xx = Math.max(0, x - r); xx <= Math.min(w - 1, x + r); xx++) (hi = Math.max(hi, src[yy * w + xx]!)), (lo = Math.min(lo, src[yy * w + xx]!));
        }
        assert.equal(max[y * w + x], hi);
        assert.equal(min[y * w + x], lo);
      }
    }
  });

  test('components: a ring is one foreground region whose hole is a background region off the border', () => {
    const [w, h] = [9, 9];
    const ring = new Uint8Array(w * h);
    for (let y = 2; y <= 6; y++) for (let x = 2; x <= 6; x++) ring[y * w + x] = y === 2 || y === 6 || x === 2 || x === 6 ? 1 : 0;
    ring[0] = 1; // a speck in the corner
    const objects = findComponents(ring, w, h, { threshold: 1 });
    assert.equal(objects.count, 2);
    assert.deepEqual([...objects.area].sort((a, b) => a - b), [1, 16]);
    const holes = findComponents(ring, w, h, { threshold: 1, invert: true, diagonal: false });
    assert.equal(holes.count, 2, 'outside and hole');
    const hole = [...holes.area.keys()].find((label) => holes.touchesBorder[label] === 0)!;
    assert.equal(holes.area[hole], 9);
    paintComponents(ring, w, holes, (label) => label === hole, 1);
    assert.equal(ring[4 * w + 4], 1, 'the hole is filled');
  });

  test('diagonal neighbours join only with 8-connectivity', () => {
    const mask = Uint8Array.from([1, 0, 0, 1]);
    assert.equal(findComponents(mask, 2, 2, { threshold: 1, diagonal: true }).count, 1);
    assert.equal(findComponents(mask, 2, 2, { threshold: 1, diagonal: false }).count, 2);
  });

  test('the guided filter reproduces an input that is a linear function of the guide, and a constant', () => {
    const [w, h] = [24, 16];
    const guide = [0, 1, 2].map((c) => Float32Array.from(randomPlane(w, h, 10 + c), (v) => v / 255)) as [Float32Array, Float32Array, Float32Array];
    const p = Float32Array.from(guide[0], (v, i) => 0.5 * v - 0.25 * guide[2][i]! + 0.1);
    const { ar, ag, ab, b } = guidedFilterCoefficients(guide, p, w, h, 3, 1e-6);
    for (const i of [0, 50, 200, w * h - 1]) {
      const q = ar[i]! * guide[0][i]! + ag[i]! * guide[1][i]! + ab[i]! * guide[2][i]! + b[i]!;
      assert.ok(Math.abs(q - p[i]!) < 0.02, `pixel ${i}: ${q} vs ${p[i]}`);
    }
    const constant = guidedFilterCoefficients(guide, new Float32Array(w * h).fill(0.7), w, h, 3, 1e-3);
    assert.ok(Math.abs(constant.b[17]! - 0.7) < 1e-4 && Math.abs(constant.ar[17]!) < 1e-4);
  });

  test('resizePlane keeps a constant and interpolates between pixel centres', () => {
    assert.deepEqual([...resizePlane(new Float32Array(4).fill(3), 2, 2, 5, 3)], new Array(15).fill(3));
    const up = resizePlane(Float32Array.from([0, 1]), 2, 1, 4, 1);
    assert.deepEqual([...up], [0, 0.25, 0.75, 1]);
  });
});

describe('options', () => {
  test('defaults: white background, strength 50, original ink', () => {
    assert.deepEqual(resolveOptions({ mode: 'document', output: 'color' }), { mode: 'document', output: 'color', color: [255, 255, 255], strength: 50, ink: 'original' });
    assert.deepEqual(parseHexColour('#0a0B0c'), [10, 11, 12]);
    assert.throws(() => parseHexColour('0a0b0c'), RangeError);
    assert.throws(() => resolveOptions({ mode: 'document', output: 'mask', strength: -1 }), RangeError);
  });
});

describe('methods', () => {
  test('u2net input: resized to 320x320, divided by the maximum, ImageNet-normalised, CHW', async () => {
    const data = new Uint8Array(40 * 30 * 3);
    for (let i = 0; i < 40 * 30; i++) data.set([100, 50, 200], i * 3);
    const input = await u2netInput({ data, width: 40, height: 30 });
    assert.equal(input.length, 3 * 320 * 320);
    const expected = [(100 / 200 - 0.485) / 0.229, (50 / 200 - 0.456) / 0.224, (200 / 200 - 0.406) / 0.225];
    for (let c = 0; c < 3; c++) assert.ok(Math.abs(input[c * 320 * 320 + 1234]! - expected[c]!) < 1e-3, `channel ${c}`);
  });

  test('the network map is min-max normalised', () => {
    assert.deepEqual([...normaliseMask(Float32Array.from([0.2, 0.4, 0.6]))].map((v) => Math.round(v * 100)), [0, 50, 100]);
  });

  test('the border model: plain and gradient backdrops fit, a textured one does not', async () => {
    const kinds: Record<string, boolean> = {};
    for (const [category, index] of [['plain', 1], ['gradient', 2], ['textured', 0]] as const) {
      const sample = await makeImage(category, 11, index);
      const model = await fitBackgroundModel(await decodeToRgb(sample.file, { maxPixels: 1e7 }));
      kinds[category] = model.fits;
    }
    assert.deepEqual(kinds, { plain: true, gradient: true, textured: false });
  });

  test('ink levels: the paper noise sets the floor; more strength raises it and removes larger specks', () => {
    const histogram = new Float64Array(256);
    for (let d = 0; d < 12; d++) histogram[d] = 1e5; // paper: darkness 0-11
    for (let d = 150; d < 200; d++) histogram[d] = 1e3; // ink
    const gentle = inkLevels(histogram, 1.25e6, 0);
    const strong = inkLevels(histogram, 1.25e6, 100);
    assert.ok(gentle.transparentBelow > 11 && gentle.transparentBelow < 40, `floor ${gentle.transparentBelow}`);
    assert.ok(strong.transparentBelow > gentle.transparentBelow && strong.speckArea > gentle.speckArea);
    assert.ok(gentle.opaqueFrom > gentle.transparentBelow && gentle.opaqueFrom < 200);
  });

  test('maskIoU: identical masks score 1, disjoint 0', () => {
    const truth = Uint8Array.from([1, 1, 0, 0]);
    assert.equal(maskIoU(Uint8Array.from([255, 255, 0, 0]), truth), 1);
    assert.equal(maskIoU(Uint8Array.from([0, 0, 255, 255]), truth), 0);
    assert.equal(maskIoU(Uint8Array.from([255, 127, 0, 0]), truth), 0.5);
  });

  test('the generated set is the same for the same seed and different for another', async () => {
    const a = await makeImage('signature', 3, 0, { width: 300, height: 200 });
    const b = await makeImage('signature', 3, 0, { width: 300, height: 200 });
    const c = await makeImage('signature', 4, 0, { width: 300, height: 200 });
    assert.deepEqual(a.truth, b.truth);
    assert.ok(Buffer.from(a.file).equals(Buffer.from(b.file)));
    assert.notDeepEqual(a.truth, c.truth);
  });
});
