import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { crc32 } from 'node:zlib';
import sharp from 'sharp';
import { decodeToGray, ImageInputError, sniffImageType, type ImageRejection } from '../../src/ml/image-input.js';

const maxPixels = 1_000_000;

async function rejection(bytes: Uint8Array, limit = maxPixels): Promise<ImageRejection> {
  try {
    await decodeToGray(bytes, { maxPixels: limit });
  } catch (error) {
    assert.ok(error instanceof ImageInputError, `expected an ImageInputError, got ${String(error)}`);
    return error.reason;
  }
  assert.fail('the image was accepted');
}

/** A white canvas with a black rectangle, encoded as the given format. */
function drawing(width: number, height: number, box: { left: number; top: number; width: number; height: number }) {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
    <rect width="100%" height="100%" fill="#fff"/>
    <rect x="${box.left}" y="${box.top}" width="${box.width}" height="${box.height}" fill="#000"/></svg>`;
  return sharp(Buffer.from(svg));
}

const mean = (values: Uint8Array) => values.reduce((a, b) => a + b, 0) / values.length;
function region(image: { data: Uint8Array; width: number }, top: number, bottom: number): Uint8Array {
  return image.data.subarray(top * image.width, bottom * image.width);
}

function pngChunk(type: string, data: Buffer): Buffer {
  const typeAndData = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(typeAndData));
  return Buffer.concat([length, typeAndData, crc]);
}

/** A well-formed PNG claiming the given size whose pixel data is an empty zlib stream: decoding its pixels fails. */
function pngWithoutPixels(width: number, height: number): Uint8Array {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 0, 0, 0, 0], 8); // 8-bit grayscale, no interlace
  const emptyZlibStream = Buffer.from([0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', header),
    pngChunk('IDAT', emptyZlibStream),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

describe('decodeToGray', () => {
  test('when the bytes are text, then the type is unsupported', async () => {
    assert.equal(await rejection(new TextEncoder().encode('hello, this is not an image')), 'unsupported_type');
  });

  test('when the bytes are a PDF, then the type is unsupported', async () => {
    assert.equal(await rejection(new TextEncoder().encode('%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n')), 'unsupported_type');
  });

  test('when a PNG is truncated, then it is undecodable', async () => {
    const png = await drawing(120, 80, { left: 10, top: 10, width: 50, height: 30 }).png().toBuffer();
    assert.equal(sniffImageType(png), 'png');
    assert.equal(await rejection(png.subarray(0, Math.floor(png.length / 2))), 'undecodable');
  });

  test('when a JPEG is truncated after its header, then it is undecodable', async () => {
    const jpeg = await drawing(120, 80, { left: 10, top: 10, width: 50, height: 30 }).jpeg().toBuffer();
    assert.equal(await rejection(jpeg.subarray(0, 200)), 'undecodable');
  });

  test('when an image has more pixels than allowed, then it is refused from its header, without decoding', async () => {
    // The header claims 100000 x 100000 but there are no pixels: had it been decoded, the reason would be undecodable.
    assert.equal(await rejection(pngWithoutPixels(100_000, 100_000)), 'too_many_pixels');
    assert.equal(await rejection(pngWithoutPixels(100, 100)), 'undecodable');
    const big = await drawing(1200, 1000, { left: 10, top: 10, width: 50, height: 30 }).png().toBuffer();
    assert.equal(await rejection(big), 'too_many_pixels');
    assert.equal((await decodeToGray(big, { maxPixels: 1200 * 1000 })).width, 1200);
  });

  test('when a PNG is transparent, then it is composited on white', async () => {
    // Left half: opaque black; right half: fully transparent black, which must come out white, not black.
    const width = 40;
    const height = 20;
    const rgba = Buffer.alloc(width * height * 4);
    for (let y = 0; y < height; y++) for (let x = 0; x < width / 2; x++) rgba[(y * width + x) * 4 + 3] = 255;
    const png = await sharp(rgba, { raw: { width, height, channels: 4 } }).png().toBuffer();
    const image = await decodeToGray(png, { maxPixels });
    assert.deepEqual([image.width, image.height, image.data.length], [width, height, width * height]);
    assert.equal(image.data[0], 0);
    assert.equal(image.data[width - 1], 255);
  });

  test('when a JPEG carries an EXIF rotation, then it comes out upright', async () => {
    // Stored 60 wide x 30 high with the ink on the left; orientation 6 means "rotate 90 degrees clockwise to view",
    // so the upright image is 30 wide x 60 high with the ink at the top.
    const jpeg = await drawing(60, 30, { left: 0, top: 0, width: 30, height: 30 }).jpeg().withMetadata({ orientation: 6 }).toBuffer();
    const image = await decodeToGray(jpeg, { maxPixels });
    assert.deepEqual([image.width, image.height], [30, 60]);
    assert.ok(mean(region(image, 0, 25)) < 30, 'the top should be the ink');
    assert.ok(mean(region(image, 35, 60)) > 225, 'the bottom should be paper');
  });

  test('WebP and GIF are read as well as PNG and JPEG', async () => {
    for (const format of ['webp', 'gif'] as const) {
      const bytes = await drawing(40, 40, { left: 0, top: 0, width: 20, height: 40 }).toFormat(format).toBuffer();
      assert.equal(sniffImageType(bytes), format);
      const image = await decodeToGray(bytes, { maxPixels });
      assert.ok(image.data[0]! < 40 && image.data[39]! > 215, `${format}: left ink, right paper`);
    }
  });
});
