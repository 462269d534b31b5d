import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { ImageInputError } from '../../src/ml/image-input.js';
import { evenOutLight } from '../../src/ml/paper-light.js';
import { blurSigma1, inkMapToPng, prepareSignature, signatureFitOf, SIGNATURE_SIDE, sqrtAspectFrame } from '../../src/ml/signature-image.js';

const LIMITS = { maxPixels: 40_000_000 };

interface Canvas {
  data: Uint8Array;
  width: number;
  height: number;
}

function canvas(width: number, height: number, paper: number): Canvas {
  return { data: new Uint8Array(width * height).fill(paper), width, height };
}

/** A deterministic pseudo-random sequence, so a failing case can be reproduced. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

/**
 * A looping, signature-like stroke inside the box (left, top, width, height), `thickness` px wide, at grey level `ink`.
 */
function drawSignature(target: Canvas, box: { left: number; top: number; width: number; height: number }, ink: number, thickness = 3): void {
  const radius = thickness / 2;
  for (let t = 0; t <= 1; t += 0.0005) {
    const x = box.left + radius + (box.width - 2 * radius) * t;
    const y = box.top + radius + ((box.height - 2 * radius) * (1 + Math.sin(t * 9 * Math.PI) * Math.cos(t * 2.3 * Math.PI))) / 2;
    for (let dy = -radius; dy <= radius; dy++) {
      for (let dx = -radius; dx <= radius; dx++) {
        const px = Math.round(x + dx);
        const py = Math.round(y + dy);
        if (px >= 0 && py >= 0 && px < target.width && py < target.height) target.data[py * target.width + px] = ink;
      }
    }
  }
}

function addNoise(target: Canvas, amplitude: number, seed: number): void {
  const next = random(seed);
  for (let i = 0; i < target.data.length; i++) {
    const noise = (next() + next() + next() - 1.5) * 2 * amplitude;
    target.data[i] = Math.max(0, Math.min(255, Math.round(target.data[i]! + noise)));
  }
}

async function png({ data, width, height }: Canvas): Promise<Uint8Array> {
  return sharp(Buffer.from(data), { raw: { width, height, channels: 1 } }).png().toBuffer();
}

/** The rows and columns of the prepared input that hold ink. */
function inkBox(input: Float32Array): { left: number; right: number; top: number; bottom: number } {
  const box = { left: SIGNATURE_SIDE, right: -1, top: SIGNATURE_SIDE, bottom: -1 };
  for (let y = 0; y < SIGNATURE_SIDE; y++) {
    for (let x = 0; x < SIGNATURE_SIDE; x++) {
      if (input[y * SIGNATURE_SIDE + x]! > 0.1) {
        box.left = Math.min(box.left, x);
        box.right = Math.max(box.right, x);
        box.top = Math.min(box.top, y);
        box.bottom = Math.max(box.bottom, y);
      }
    }
  }
  return box;
}

const inkShare = (input: Float32Array) => input.filter((v) => v > 0.1).length / input.length;

/** Intersection over union of the ink (values above 0.1) of two prepared inputs. */
function inkOverlap(a: Float32Array, b: Float32Array): number {
  let both = 0;
  let either = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i]! > 0.1 && b[i]! > 0.1) both++;
    if (a[i]! > 0.1 || b[i]! > 0.1) either++;
  }
  return both / either;
}

async function rejection(bytes: Uint8Array): Promise<string> {
  try {
    await prepareSignature(bytes, LIMITS);
  } catch (error) {
    if (error instanceof ImageInputError) return error.reason;
    throw error;
  }
  return 'accepted';
}

describe('prepareSignature', () => {
  it('when given dark ink on white paper, then returns 200x200 values in [0, 1] with paper 0 and full-strength ink', async () => {
    const image = canvas(600, 200, 255);
    drawSignature(image, { left: 50, top: 40, width: 500, height: 120 }, 10);
    const input = await prepareSignature(await png(image), LIMITS);
    assert.equal(input.length, SIGNATURE_SIDE * SIGNATURE_SIDE);
    assert.ok(input.every((v) => v >= 0 && v <= 1));
    assert.equal(input[0], 0);
    assert.ok(Math.max(...input) > 0.95);
    assert.ok(inkShare(input) > 0.01 && inkShare(input) < 0.3, `ink share ${inkShare(input)}`);
  });

  it('when the paper is grey and noisy like a photo, then the paper becomes 0 and the strokes match the clean scan', async () => {
    const box = { left: 40, top: 30, width: 520, height: 140 };
    const clean = canvas(600, 200, 255);
    drawSignature(clean, box, 10, 4);
    const photo = canvas(600, 200, 175);
    drawSignature(photo, box, 70, 4);
    addNoise(photo, 12, 7);
    const fromClean = await prepareSignature(await png(clean), LIMITS);
    const fromPhoto = await prepareSignature(await png(photo), LIMITS);
    assert.ok(inkOverlap(fromClean, fromPhoto) > 0.6, `ink overlap ${inkOverlap(fromClean, fromPhoto)}`);
    assert.ok(inkShare(fromPhoto) < 2 * inkShare(fromClean), 'noise on the paper was taken for ink');
  });

  it('when a phone photo has a cast shadow over part of the page and light falling off across it, then neither is taken for ink: the strokes match the clean scan', async () => {
    const box = { left: 120, top: 110, width: 560, height: 180 };
    const clean = canvas(800, 400, 255);
    drawSignature(clean, box, 10, 4);
    const photo = canvas(800, 400, 0);
    for (let y = 0; y < 400; y++) {
      for (let x = 0; x < 800; x++) {
        // Light falls to 75% towards the right; a soft-edged shadow (60%) covers the top left corner, over the strokes.
        const light = (1 - 0.25 * (x / 800)) * (1 - 0.4 / (1 + Math.exp((x + y - 420) / 6)));
        photo.data[y * 800 + x] = Math.round(clean.data[y * 800 + x]! * 0.9 * light);
      }
    }
    addNoise(photo, 3, 11);
    const fromClean = await prepareSignature(await png(clean), LIMITS);
    const fromPhoto = await prepareSignature(await png(photo), LIMITS);
    assert.ok(inkOverlap(fromClean, fromPhoto) > 0.6, `ink overlap ${inkOverlap(fromClean, fromPhoto)}`);
    assert.ok(inkShare(fromPhoto) < 1.5 * inkShare(fromClean), `the shadow was taken for ink: ink share ${inkShare(fromPhoto)} against ${inkShare(fromClean)}`);
  });

  it('when the paper is evenly lit, even under a dense scribble of thick strokes, then the light is left exactly as it was (scans, the training data, are unchanged)', () => {
    const scan = canvas(400, 200, 245);
    for (let k = 0; k < 3; k++) drawSignature(scan, { left: 20 + 10 * k, top: 10 + 5 * k, width: 300, height: 170 }, 20, 8);
    addNoise(scan, 4, 3);
    assert.equal(evenOutLight(scan), scan);
  });

  it('when a small signature sits off-centre in a big frame, then it is cropped, enlarged and centred', async () => {
    const image = canvas(1200, 900, 250);
    drawSignature(image, { left: 20, top: 30, width: 200, height: 50 }, 20);
    const box = inkBox(await prepareSignature(await png(image), LIMITS));
    assert.ok(box.left <= 3 && box.right >= SIGNATURE_SIDE - 4, `spans ${box.left}..${box.right}`);
    const centre = (box.top + box.bottom) / 2;
    assert.ok(Math.abs(centre - (SIGNATURE_SIDE - 1) / 2) <= 3, `vertical centre ${centre}`);
  });

  it('when the signature is four times wider than tall, then fit "contain" (the shipped model) keeps its aspect ratio and fit "fill" stretches it over all 200 rows', async () => {
    const image = canvas(900, 400, 255);
    drawSignature(image, { left: 100, top: 100, width: 640, height: 160 }, 0, 4);
    const filled = inkBox(await prepareSignature(await png(image), { ...LIMITS, fit: 'fill' }));
    assert.ok(filled.top <= 3 && filled.bottom >= SIGNATURE_SIDE - 4 && filled.left <= 3 && filled.right >= SIGNATURE_SIDE - 4, `fill spans ${JSON.stringify(filled)}`);
    const contained = inkBox(await prepareSignature(await png(image), { ...LIMITS, fit: 'contain' }));
    const ratio = (contained.right - contained.left + 1) / (contained.bottom - contained.top + 1);
    assert.ok(Math.abs(ratio - 4) < 0.4, `aspect ratio ${ratio}`);
  });

  it('when the fit is "contain+fill" (3.0.0), then the input is two 200x200 channels: exactly the "contain" input, then exactly the "fill" one', async () => {
    const image = canvas(900, 400, 255);
    drawSignature(image, { left: 100, top: 100, width: 640, height: 160 }, 0, 4);
    const bytes = await png(image);
    const both = await prepareSignature(bytes, { ...LIMITS, fit: 'contain+fill' });
    const plane = SIGNATURE_SIDE * SIGNATURE_SIDE;
    assert.equal(both.length, 2 * plane);
    assert.deepEqual(both.subarray(0, plane), await prepareSignature(bytes, { ...LIMITS, fit: 'contain' }));
    assert.deepEqual(both.subarray(plane), await prepareSignature(bytes, { ...LIMITS, fit: 'fill' }));
  });

  it('when the fit is "sqrt-aspect", then a 4:1 signature fills a centred 2:1 frame (the square root of its aspect ratio), and a tall one a 1:2 frame', async () => {
    assert.deepEqual(sqrtAspectFrame(800, 200), { width: SIGNATURE_SIDE, height: SIGNATURE_SIDE / 2 });
    assert.deepEqual(sqrtAspectFrame(100, 400), { width: SIGNATURE_SIDE / 2, height: SIGNATURE_SIDE });
    assert.deepEqual(sqrtAspectFrame(300, 300), { width: SIGNATURE_SIDE, height: SIGNATURE_SIDE });
    const image = canvas(900, 400, 255);
    drawSignature(image, { left: 100, top: 100, width: 640, height: 160 }, 0, 4);
    const box = inkBox(await prepareSignature(await png(image), { ...LIMITS, fit: 'sqrt-aspect' }));
    const ratio = (box.right - box.left + 1) / (box.bottom - box.top + 1);
    assert.ok(Math.abs(ratio - 2) < 0.25, `aspect ratio ${ratio}`);
    assert.ok(Math.abs((box.top + box.bottom) / 2 - (SIGNATURE_SIDE - 1) / 2) <= 3, `vertical centre of ${JSON.stringify(box)}`);
  });

  it('when a card names its fit, then that is the preparation; a card from before the field (2.0.0) gets "contain", and an unknown fit is refused', () => {
    assert.equal(signatureFitOf({ preprocessing: { fit: 'fill' } }), 'fill');
    assert.equal(signatureFitOf({ preprocessing: { fit: 'sqrt-aspect' } }), 'sqrt-aspect');
    assert.equal(signatureFitOf({ preprocessing: { fit: 'contain+fill' } }), 'contain+fill');
    assert.equal(signatureFitOf({ preprocessing: { steps: [] } }), 'contain');
    assert.equal(signatureFitOf({}), 'contain');
    assert.throws(() => signatureFitOf({ preprocessing: { fit: 'cover' } }), /preprocessing.fit/);
  });

  it('when a speck lies far from the signature, then it does not widen the crop', async () => {
    const image = canvas(1000, 400, 255);
    drawSignature(image, { left: 100, top: 100, width: 400, height: 200 }, 0, 4);
    image.data[380 * 1000 + 950] = 0;
    image.data[380 * 1000 + 951] = 0;
    const box = inkBox(await prepareSignature(await png(image), { ...LIMITS, fit: 'contain' }));
    const ratio = (box.right - box.left + 1) / (box.bottom - box.top + 1);
    assert.ok(Math.abs(ratio - 2) < 0.25, `aspect ratio ${ratio}`);
  });

  it('when the image is blank, then it is refused as no_ink, clean or noisy', async () => {
    assert.equal(await rejection(await png(canvas(500, 300, 255))), 'no_ink');
    const grey = canvas(500, 300, 180);
    addNoise(grey, 10, 3);
    assert.equal(await rejection(await png(grey)), 'no_ink');
  });

  it('when the bytes are not an image, then the decoding error passes through', async () => {
    assert.equal(await rejection(new TextEncoder().encode('not an image at all')), 'unsupported_type');
  });
});

describe('blurSigma1', () => {
  // The training cache was made with sharp's blur(1); the served model must see the same levels, to the last byte.
  it('when given noise, a signature or a one-pixel strip, then it gives exactly the levels of sharp blur(1)', async () => {
    const next = random(7);
    const noise = canvas(641, 479, 0);
    for (let i = 0; i < noise.data.length; i++) noise.data[i] = Math.floor(next() * 256);
    const signature = canvas(1000, 400, 236);
    drawSignature(signature, { left: 80, top: 60, width: 820, height: 260 }, 40, 4);
    const strips = [canvas(1, 9, 0), canvas(9, 1, 0), canvas(2, 3, 0)].map((strip) => {
      for (let i = 0; i < strip.data.length; i++) strip.data[i] = Math.floor(next() * 256);
      return strip;
    });
    for (const image of [noise, signature, ...strips]) {
      const expected = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 1 } }).blur(1).extractChannel(0).raw().toBuffer();
      const blurred = blurSigma1(image);
      assert.deepEqual([blurred.width, blurred.height], [image.width, image.height]);
      assert.ok(Buffer.from(blurred.data).equals(expected), `${image.width}x${image.height}: the levels differ from sharp's`);
    }
  });
});

describe('inkMapToPng', () => {
  it('when an ink map is encoded, then it is a 200x200 grey PNG that decodes to exactly its levels (0-255)', async () => {
    const image = canvas(600, 200, 255);
    drawSignature(image, { left: 50, top: 40, width: 500, height: 120 }, 60);
    const inkMap = await prepareSignature(await png(image), LIMITS);
    const encoded = inkMapToPng(inkMap);
    const { width, height, channels } = await sharp(encoded).metadata();
    assert.deepEqual([width, height, channels], [SIGNATURE_SIDE, SIGNATURE_SIDE, 1]);
    const data = await sharp(encoded).extractChannel(0).raw().toBuffer();
    assert.deepEqual([...data], Array.from(inkMap, (v) => Math.round(255 * v)));
  });

  it('when the ink map has two channels ("contain+fill"), then the PNG shows the first, the ink with its proportions kept', async () => {
    const image = canvas(600, 200, 255);
    drawSignature(image, { left: 50, top: 40, width: 500, height: 120 }, 60);
    const bytes = await png(image);
    const both = await prepareSignature(bytes, { ...LIMITS, fit: 'contain+fill' });
    assert.deepEqual(inkMapToPng(both), inkMapToPng(await prepareSignature(bytes, { ...LIMITS, fit: 'contain' })));
    assert.throws(() => inkMapToPng(new Float32Array(100)), /values per channel/);
  });
});
