import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import sharp from 'sharp';
import { DIGIT_MEAN, DIGIT_SIDE, DIGIT_STD, prepareDigit, prepareDigitFromGray } from '../../src/ml/digit-image.js';
import { ImageInputError } from '../../src/ml/image-input.js';

const LIMITS = { maxPixels: 10_000_000 };

/** A "4"-like figure with an open top: not symmetric under any rotation or flip, so orientation mistakes show. */
const FOUR_PATH = 'M 30 10 L 12 62 L 58 62 M 46 30 L 46 92';

interface Drawing {
  width: number;
  height: number;
  /** Where the 70x100 glyph box goes and how much it is enlarged. */
  x: number;
  y: number;
  scale: number;
  ink: string;
  paper: string | null;
  strokeWidth?: number;
}

function svgOf({ width, height, x, y, scale, ink, paper, strokeWidth = 9 }: Drawing): Buffer {
  const background = paper ? `<rect width="100%" height="100%" fill="${paper}"/>` : '';
  return Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${background}` +
      `<g transform="translate(${x} ${y}) scale(${scale})"><path d="${FOUR_PATH}" fill="none" stroke="${ink}" ` +
      `stroke-width="${strokeWidth}" stroke-linecap="round" stroke-linejoin="round"/></g></svg>`,
  );
}

async function png(drawing: Drawing): Promise<Uint8Array> {
  return new Uint8Array(await sharp(svgOf(drawing)).png().toBuffer());
}

const darkOnWhite: Drawing = { width: 300, height: 240, x: 90, y: 40, scale: 1.5, ink: '#111111', paper: '#ffffff' };

/** Back to MNIST ink in [0, 1] so differences read as fractions of full ink. */
function ink(prepared: Float32Array): number[] {
  return Array.from(prepared, (v) => v * DIGIT_STD + DIGIT_MEAN);
}

function meanAbsoluteDifference(a: Float32Array, b: Float32Array): number {
  const inkA = ink(a);
  const inkB = ink(b);
  return inkA.reduce((sum, v, i) => sum + Math.abs(v - inkB[i]!), 0) / inkA.length;
}

function inkBox(prepared: Float32Array) {
  const values = ink(prepared);
  let left = DIGIT_SIDE;
  let right = -1;
  let top = DIGIT_SIDE;
  let bottom = -1;
  let mass = 0;
  let sumX = 0;
  let sumY = 0;
  values.forEach((v, i) => {
    const x = i % DIGIT_SIDE;
    const y = Math.floor(i / DIGIT_SIDE);
    if (v > 0.01) {
      left = Math.min(left, x);
      right = Math.max(right, x);
      top = Math.min(top, y);
      bottom = Math.max(bottom, y);
    }
    mass += v;
    sumX += v * x;
    sumY += v * y;
  });
  return { width: right - left + 1, height: bottom - top + 1, centreX: sumX / mass, centreY: sumY / mass };
}

async function rejection(run: () => Promise<unknown>): Promise<string> {
  try {
    await run();
  } catch (error) {
    assert.ok(error instanceof ImageInputError, `expected an ImageInputError, got ${String(error)}`);
    return error.reason;
  }
  assert.fail('the image was accepted');
}

describe('prepareDigit', () => {
  test('when a digit is drawn dark on white, then it comes out as 784 MNIST-normalised values with bright ink on a zero background', async () => {
    const prepared = await prepareDigit(await png(darkOnWhite), LIMITS);
    assert.equal(prepared.length, DIGIT_SIDE * DIGIT_SIDE);
    const values = ink(prepared);
    assert.ok(Math.abs(values[0]!) < 1e-6, 'the corner is background (0 before normalising)');
    assert.ok(Math.max(...values) > 0.99, 'the strongest ink is full intensity, as in MNIST');
    const inked = values.filter((v) => v > 0.5).length;
    assert.ok(inked > 40 && inked < 300, `a stroke figure covers part of the field, not all of it (${inked} pixels)`);
  });

  test('when the same digit is drawn light on dark, then the result matches the dark-on-light one', async () => {
    const dark = await prepareDigit(await png(darkOnWhite), LIMITS);
    const light = await prepareDigit(await png({ ...darkOnWhite, ink: '#eeeeee', paper: '#1a1a1a' }), LIMITS);
    assert.ok(meanAbsoluteDifference(dark, light) < 0.02, `difference ${meanAbsoluteDifference(dark, light)}`);
  });

  test('when a small digit sits off-centre in a large image, then it is scaled to a 20 px box and centred by mass', async () => {
    const prepared = await prepareDigit(await png({ ...darkOnWhite, width: 900, height: 700, x: 40, y: 520, scale: 0.8 }), LIMITS);
    const box = inkBox(prepared);
    assert.ok(Math.max(box.width, box.height) >= 19 && Math.max(box.width, box.height) <= 21, `longer side ${Math.max(box.width, box.height)}`);
    // MNIST shifted by whole pixels, so the centre of mass lands within half a pixel of (14, 14).
    assert.ok(Math.abs(box.centreX - 14) <= 0.55 && Math.abs(box.centreY - 14) <= 0.55, `centre of mass (${box.centreX}, ${box.centreY})`);
  });

  test('when the digit is drawn on a transparent PNG, then the transparency counts as white paper', async () => {
    const transparent = await png({ ...darkOnWhite, paper: null });
    assert.equal((await sharp(transparent).metadata()).hasAlpha, true);
    const opaque = await prepareDigit(await png(darkOnWhite), LIMITS);
    const prepared = await prepareDigit(transparent, LIMITS);
    assert.ok(meanAbsoluteDifference(prepared, opaque) < 0.01, `difference ${meanAbsoluteDifference(prepared, opaque)}`);
  });

  test('when a JPEG is stored sideways with an EXIF orientation tag, then it gives the same result as the upright JPEG', async () => {
    const upright = sharp(svgOf(darkOnWhite)).flatten({ background: '#ffffff' });
    const uprightJpeg = await upright.clone().jpeg({ quality: 92 }).toBuffer();
    // Orientation 6 tells viewers to turn the stored pixels 90 degrees clockwise, so store them turned the other way.
    const storedSideways = await sharp(await upright.clone().rotate(270).png().toBuffer())
      .jpeg({ quality: 92 })
      .withMetadata({ orientation: 6 })
      .toBuffer();
    const expected = await prepareDigit(new Uint8Array(uprightJpeg), LIMITS);
    const prepared = await prepareDigit(new Uint8Array(storedSideways), LIMITS);
    assert.ok(meanAbsoluteDifference(prepared, expected) < 0.02, `difference ${meanAbsoluteDifference(prepared, expected)}`);
    const sidewaysIgnoringTag = await prepareDigit(new Uint8Array(await upright.clone().rotate(270).jpeg({ quality: 92 }).toBuffer()), LIMITS);
    assert.ok(meanAbsoluteDifference(sidewaysIgnoringTag, expected) > 0.05, 'the figure is not rotation-symmetric, so a missed tag would show');
  });

  test('when a photo has grey paper and a shadow across it, then the digit is isolated as on clean paper', async () => {
    const clean = await prepareDigit(await png(darkOnWhite), LIMITS);
    const shadow = Buffer.from(
      '<svg xmlns="http://www.w3.org/2000/svg" width="300" height="240"><defs><linearGradient id="s">' +
        '<stop offset="0" stop-color="#000" stop-opacity="0"/><stop offset="1" stop-color="#000" stop-opacity="0.45"/>' +
        '</linearGradient></defs><rect width="100%" height="100%" fill="url(#s)"/></svg>',
    );
    const photo = await sharp(svgOf({ ...darkOnWhite, ink: '#303030', paper: '#c8c4bc' }))
      .composite([{ input: shadow }])
      .jpeg({ quality: 85 })
      .toBuffer();
    const prepared = await prepareDigit(new Uint8Array(photo), LIMITS);
    assert.ok(meanAbsoluteDifference(prepared, clean) < 0.04, `difference ${meanAbsoluteDifference(prepared, clean)}`);
  });

  test('when the image is blank, then it is refused as no_ink', async () => {
    const white = await sharp({ create: { width: 200, height: 200, channels: 3, background: '#ffffff' } }).png().toBuffer();
    const grey = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#808080' } }).jpeg().toBuffer();
    assert.equal(await rejection(() => prepareDigit(new Uint8Array(white), LIMITS)), 'no_ink');
    assert.equal(await rejection(() => prepareDigit(new Uint8Array(grey), LIMITS)), 'no_ink');
  });

  test('when a blank grey image has faint noise only, then it is refused as no_ink rather than read as a digit', () => {
    let state = 7;
    const noise = Uint8Array.from({ length: 120 * 90 }, () => {
      state = (state * 1103515245 + 12345) % 2147483648;
      return 200 + (state % 17) - 8;
    });
    assert.throws(() => prepareDigitFromGray({ data: noise, width: 120, height: 90 }), (error: unknown) => error instanceof ImageInputError && error.reason === 'no_ink');
  });
});
