import assert from 'node:assert/strict';
import { crc32 } from 'node:zlib';
import { describe, test } from 'node:test';
import sharp from 'sharp';
import { encodeGrayPng, readPlainPngAsGray } from '../../src/ml/png.js';
import { seededRandom } from '../../src/lib/random.js';
import { pngBomb, pngLyingHeader, truncated } from '../helpers/images.js';

/** What decodeToGray's sharp pipeline makes of an image: the reference the PNG reader must match exactly. */
async function viaSharp(png: Buffer): Promise<Buffer> {
  const { data, info } = await sharp(png).rotate().flatten({ background: '#ffffff' }).grayscale().raw().toBuffer({ resolveWithObject: true });
  assert.equal(info.channels, 1);
  return data;
}

/** A 256x256 image holding every grey level against every alpha, in `channels` 1-4 (grey, grey+alpha, RGB, RGBA). */
function everyLevelAndAlpha(channels: number): Buffer {
  const pixels = Buffer.alloc(256 * 256 * channels);
  for (let alpha = 0; alpha < 256; alpha++) {
    for (let level = 0; level < 256; level++) {
      const at = (alpha * 256 + level) * channels;
      pixels.fill(level, at, at + Math.min(channels, 3));
      if (channels === 2 || channels === 4) pixels[at + channels - 1] = alpha;
    }
  }
  return pixels;
}

/** Strokes like the drawing pad's: grey ink anti-aliased on white, saved by a PNG encoder with every filter type. */
function canvasLike(seed: number): Buffer {
  const random = seededRandom(seed);
  const path = Array.from({ length: 6 }, () => `${Math.round(40 + random() * 200)} ${Math.round(40 + random() * 200)}`).join(' L ');
  return Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="280" height="280"><rect width="100%" height="100%" fill="#fff"/><path d="M ${path}" stroke="#111" stroke-width="${8 + random() * 12}" fill="none" stroke-linecap="round"/></svg>`);
}

function withChunk(png: Buffer, type: string, body: Buffer): Buffer {
  const chunk = Buffer.alloc(12 + body.length);
  chunk.writeUInt32BE(body.length, 0);
  chunk.write(type, 4, 'latin1');
  body.copy(chunk, 8);
  chunk.writeUInt32BE(crc32(chunk.subarray(4, 8 + body.length)), 8 + body.length);
  return Buffer.concat([png.subarray(0, 33), chunk, png.subarray(33)]);
}

describe('readPlainPngAsGray', () => {
  for (const [channels, kind] of [[1, 'grey'], [2, 'grey with alpha'], [3, 'RGB'], [4, 'RGBA']] as const) {
    test(`when a ${kind} PNG holds every level against every alpha, then the grey levels are exactly sharp's`, async () => {
      const png = await sharp(everyLevelAndAlpha(channels), { raw: { width: 256, height: 256, channels } }).png({ adaptiveFiltering: true }).toBuffer();
      const read = readPlainPngAsGray(png, 1_000_000);
      assert.ok(read, 'read without sharp');
      assert.deepEqual([read.width, read.height], [256, 256]);
      assert.ok(Buffer.from(read.data).equals(await viaSharp(png)));
    });
  }

  test('when drawings are saved with each PNG filter, then the grey levels are exactly sharp\'s', async () => {
    for (let seed = 1; seed <= 12; seed++) {
      const png = await sharp(canvasLike(seed)).ensureAlpha().png({ adaptiveFiltering: seed % 2 === 0, compressionLevel: seed % 10 }).toBuffer();
      const read = readPlainPngAsGray(png, 1_000_000);
      assert.ok(read && Buffer.from(read.data).equals(await viaSharp(png)), `drawing ${seed}`);
    }
  });

  test('when a PNG only annotates its pixels (gamma, text, physical size), then it is still read, and exactly', async () => {
    const png = await sharp(canvasLike(3)).png().toBuffer();
    const gamma = Buffer.alloc(4);
    gamma.writeUInt32BE(100000);
    for (const annotated of [withChunk(png, 'gAMA', gamma), withChunk(png, 'tEXt', Buffer.from('Comment\0hello')), withChunk(png, 'sRGB', Buffer.from([0]))]) {
      const read = readPlainPngAsGray(annotated, 1_000_000);
      assert.ok(read && Buffer.from(read.data).equals(await viaSharp(annotated)));
    }
  });

  test('when a PNG has colour, a palette, a colour profile, 16 bits or interlacing, then it is left to sharp (null)', async () => {
    const drawing = sharp(canvasLike(5));
    const coloured = await sharp(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40"><rect width="40" height="40" fill="#1a237e"/></svg>')).png().toBuffer();
    const cases = {
      colour: coloured,
      palette: await drawing.clone().png({ palette: true }).toBuffer(),
      profile: await drawing.clone().withIccProfile('p3').png().toBuffer(),
      sixteenBits: await drawing.clone().png().toColourspace('rgb16').toBuffer(),
      interlaced: await drawing.clone().png({ progressive: true }).toBuffer(),
    };
    for (const [name, png] of Object.entries(cases)) assert.equal(readPlainPngAsGray(png, 1_000_000), null, name);
  });

  test('when a PNG is damaged, lies about its size or is a bomb, then nothing is inflated beyond its header and sharp decides (null)', async () => {
    const png = await sharp(canvasLike(7)).png().toBuffer();
    const flipped = Buffer.from(png);
    flipped[60] = flipped[60]! ^ 0xff;
    for (const [name, bad] of Object.entries({ truncated: truncated(png), crc: flipped, lying: await pngLyingHeader(), bomb: pngBomb(), text: Buffer.from('not a png') })) {
      assert.equal(readPlainPngAsGray(bad, 50_000_000), null, name);
    }
    assert.equal(readPlainPngAsGray(png, 1000), null, 'over the pixel limit');
  });
});

describe('encodeGrayPng', () => {
  test('when grey levels are encoded, then sharp reads back a one-channel PNG with the same levels', async () => {
    const data = Uint8Array.from({ length: 28 * 28 }, (_, i) => (i * 37) % 256);
    const png = encodeGrayPng({ data, width: 28, height: 28 });
    const meta = await sharp(png).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height, meta.channels], ['png', 28, 28, 1]);
    assert.ok((await sharp(png).extractChannel(0).raw().toBuffer()).equals(Buffer.from(data)));
  });
});
