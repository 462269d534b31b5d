import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { cropImage, CropError } from '../../src/ml/image-crop.js';
import { decideSignature, deriveInconclusiveBand, inconclusiveBandOf, referenceChecksOf, threeWayFigures } from '../../src/ml/signature-decision.js';
import { csvLine } from '../../src/lib/csv.js';

describe('the three-way signature decision', () => {
  const band = { low: -0.1, high: 0.02 };

  it('when a score is at or above high, then genuine; below low, forged; in between (low included), inconclusive', () => {
    assert.equal(decideSignature(0.02, band), 'genuine');
    assert.equal(decideSignature(0.5, band), 'genuine');
    assert.equal(decideSignature(0.019, band), 'inconclusive');
    assert.equal(decideSignature(-0.1, band), 'inconclusive');
    assert.equal(decideSignature(-0.1001, band), 'forged');
  });

  it('when the band is derived, then at most the rate of forgeries score at or above high and of genuine signatures below low', () => {
    // 20 genuine scores 0.00..0.19 and 20 forgeries -0.15..0.04: 5% of 20 is one of each.
    const genuine = Array.from({ length: 20 }, (_, i) => i / 100);
    const skilled = Array.from({ length: 20 }, (_, i) => -0.15 + i / 100);
    const derived = deriveInconclusiveBand(genuine, skilled, 0.02, 0.05);
    assert.ok(Math.abs(derived.high - 0.035) < 1e-9, `high ${derived.high}: between the two highest forgeries`);
    assert.ok(Math.abs(derived.low - 0.005) < 1e-9, `low ${derived.low}: between the two lowest genuine`);
    const figures = threeWayFigures(genuine, skilled, derived);
    assert.equal(figures.skilled.genuine, 1);
    assert.equal(figures.genuine.forged, 1);
    assert.equal(figures.far_skilled, 0.05);
    assert.equal(figures.frr, 0.05);
    assert.deepEqual([figures.genuine, figures.skilled], [{ genuine: 16, inconclusive: 3, forged: 1 }, { genuine: 1, inconclusive: 3, forged: 16 }]);
    assert.equal(figures.inconclusive_share, 6 / 40);
    assert.equal(figures.accuracy, 32 / 40);
    assert.equal(figures.accuracy_decided, 32 / 34);
  });

  it('when the classes do not overlap, then the band shrinks to the threshold and every answer is decided', () => {
    const derived = deriveInconclusiveBand([0.5, 0.6, 0.7], [-0.5, -0.4], 0);
    assert.deepEqual(derived, { low: 0, high: 0 });
    assert.equal(threeWayFigures([0.5, 0.6], [-0.5], derived).inconclusive_share, 0);
  });

  it('when a card has a band around its threshold, then it is read; a missing band or one beside the threshold is refused', () => {
    assert.deepEqual(inconclusiveBandOf({ decision: { inconclusive_band: [-0.1, 0.02] } }, 0), { low: -0.1, high: 0.02 });
    assert.throws(() => inconclusiveBandOf({}, 0), /has no decision.inconclusive_band/);
    assert.throws(() => inconclusiveBandOf({ decision: { inconclusive_band: [0.1, 0.2] } }, 0), /does not contain its threshold/);
    assert.throws(() => inconclusiveBandOf({ decision: { inconclusive_band: ['a', 1] } }, 0));
    assert.deepEqual(referenceChecksOf({ reference_checks: { near_duplicate_similarity: 0.99, outlier_score_below: -0.2 } }), { nearDuplicateSimilarity: 0.99, outlierScoreBelow: -0.2 });
    assert.throws(() => referenceChecksOf({ reference_checks: { near_duplicate_similarity: 2, outlier_score_below: 0 } }));
  });
});

describe('cropImage', () => {
  it('when a crop lies inside the upright image, then exactly that region comes back, in the coordinates the user saw', async () => {
    // 60x40 stored sideways (EXIF orientation 6): upright it is 40 wide, 60 high.
    const sideways = await sharp({ create: { width: 60, height: 40, channels: 3, background: '#fff' } }).jpeg().withMetadata({ orientation: 6 }).toBuffer();
    const region = await cropImage(sideways, { x: 5, y: 10, width: 30, height: 50 }, { maxPixels: 1e6 });
    const meta = await sharp(region).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ['png', 30, 50]);
    await assert.rejects(cropImage(sideways, { x: 0, y: 0, width: 60, height: 40 }, { maxPixels: 1e6 }), CropError, 'outside the upright image');
    await assert.rejects(cropImage(sideways, { x: 0, y: 0, width: 7, height: 20 }, { maxPixels: 1e6 }), /at least 8x8/);
  });
});

describe('csvLine', () => {
  it('when values hold commas, quotes, line breaks or a formula, then they are quoted and neutralised; numbers stay numbers', () => {
    assert.equal(csvLine(['a,b', 'say "hi"', 'two\nlines', '=SUM(A1)', '-x', -0.25, 3]), '"a,b","say ""hi""","two\nlines",\'=SUM(A1),\'-x,-0.25,3\r\n');
  });
});
