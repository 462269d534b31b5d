import { crc32, deflateSync, inflateSync } from 'node:zlib';
import type { GrayImage } from './image-input.js';

/*
 * The digit page's hot path is a small canvas PNG (280x280, grey ink on white). Through sharp, decoding it cost
 * ~3 ms of a 3 ms budget (two native calls, each a trip through libuv's pool and a libvips pipeline); read here
 * with zlib it costs ~0.2 ms. Only the PNGs whose grey levels are certain to be the ones sharp would produce are
 * read here: 8-bit, not interlaced, grey or RGB(A) with equal channels, and no chunk that changes how pixels look
 * (colour profile, EXIF orientation, palette, transparency key, animation). For those, libvips' flatten on white
 * followed by grayscale() was measured to give exactly trunc((v * a + 255 * (255 - a)) / 255) for every value and
 * alpha, and v itself when opaque; test/ml/png.test.ts holds it to that. Everything else returns null and goes
 * through sharp as before.
 */

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
/** Ancillary chunks that only describe or annotate: the pixels sharp decodes are the same with or without them. */
const HARMLESS_CHUNKS = new Set(['tEXt', 'zTXt', 'iTXt', 'pHYs', 'tIME', 'sBIT', 'bKGD', 'sRGB', 'gAMA', 'cHRM']);
/** Colour type -> channels, for the colour types read here (3, palette, is not). */
const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 4: 2, 6: 4 };

interface Header {
  width: number;
  height: number;
  channels: number;
}

/** The header and the concatenated image data, or null for anything this reader leaves to sharp. */
function readChunks(bytes: Uint8Array): { header: Header; data: Uint8Array[] } | null {
  if (bytes.length < 8 || SIGNATURE.some((b, i) => bytes[i] !== b)) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let header: Header | null = null;
  const data: Uint8Array[] = [];
  for (let at = 8; at + 12 <= bytes.length; ) {
    const length = view.getUint32(at);
    const end = at + 12 + length;
    if (end > bytes.length) return null;
    const type = String.fromCharCode(bytes[at + 4]!, bytes[at + 5]!, bytes[at + 6]!, bytes[at + 7]!);
    if (crc32(bytes.subarray(at + 4, at + 8 + length)) !== view.getUint32(at + 8 + length)) return null;
    const body = bytes.subarray(at + 8, at + 8 + length);
    if (type === 'IHDR') {
      if (header || length !== 13) return null;
      const [depth, colourType, compression, filter, interlace] = body.subarray(8, 13);
      const channels = CHANNELS[colourType!];
      if (depth !== 8 || !channels || compression !== 0 || filter !== 0 || interlace !== 0) return null;
      header = { width: view.getUint32(at + 8), height: view.getUint32(at + 12), channels };
    } else if (type === 'IDAT') {
      if (!header) return null;
      data.push(body);
    } else if (type === 'IEND') {
      return header && data.length ? { header, data } : null;
    } else if (!HARMLESS_CHUNKS.has(type)) {
      return null;
    }
    at = end;
  }
  return null;
}

/**
 * Undoes PNG's per-row filters; `rows` holds each row's filter byte followed by its bytes. The row above the
 * first is zeros, as are the bytes left of each row's first pixel; Uint8Array stores wrap modulo 256 as PNG needs.
 */
function unfilter(rows: Uint8Array, height: number, stride: number, bpp: number): Uint8Array | null {
  const out = new Uint8Array(height * stride);
  const zeros = new Uint8Array(stride);
  for (let y = 0; y < height; y++) {
    const filter = rows[y * (stride + 1)]!;
    const src = y * (stride + 1) + 1;
    const row = y * stride;
    // The row above, from its own start: `above[i]` lines up with `out[row + i]`.
    const above = y > 0 ? out.subarray(row - stride, row) : zeros;
    const line = out.subarray(row, row + stride);
    const input = rows.subarray(src, src + stride);
    switch (filter) {
      case 0:
        line.set(input);
        break;
      case 1:
        for (let i = 0; i < bpp; i++) line[i] = input[i]!;
        for (let i = bpp; i < stride; i++) line[i] = input[i]! + line[i - bpp]!;
        break;
      case 2:
        for (let i = 0; i < stride; i++) line[i] = input[i]! + above[i]!;
        break;
      case 3:
        for (let i = 0; i < bpp; i++) line[i] = input[i]! + (above[i]! >> 1);
        for (let i = bpp; i < stride; i++) line[i] = input[i]! + ((line[i - bpp]! + above[i]!) >> 1);
        break;
      case 4:
        // Paeth: with no left or corner neighbour the predictor is the byte above.
        for (let i = 0; i < bpp; i++) line[i] = input[i]! + above[i]!;
        for (let i = bpp; i < stride; i++) {
          const left = line[i - bpp]!;
          const up = above[i]!;
          const corner = above[i - bpp]!;
          const pa = Math.abs(up - corner);
          const pb = Math.abs(left - corner);
          const pc = Math.abs(left + up - 2 * corner);
          line[i] = input[i]! + (pa <= pb && pa <= pc ? left : pb <= pc ? up : corner);
        }
        break;
      default:
        return null;
    }
  }
  return out;
}

const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

/** Grey levels from unfiltered pixels, flattened on white as sharp does; null when a pixel has colour. */
function toGray(pixels: Uint8Array, count: number, channels: number): Uint8Array | null {
  if (channels === 1) return pixels;
  const gray = new Uint8Array(count);
  // A canvas is opaque grey almost everywhere: such an RGBA pixel, read as one little-endian word, is
  // 0xff000000 + v * 0x010101; others take the general path below.
  const words = channels === 4 && LITTLE_ENDIAN && pixels.byteOffset % 4 === 0 ? new Uint32Array(pixels.buffer, pixels.byteOffset, count) : null;
  for (let i = 0, o = 0; i < count; i++, o += channels) {
    if (words) {
      const v = words[i]! & 0xff;
      if (words[i] === (0xff000000 | (v * 0x010101)) >>> 0) {
        gray[i] = v;
        continue;
      }
    }
    const v = pixels[o]!;
    if (channels >= 3 && (pixels[o + 1] !== v || pixels[o + 2] !== v)) return null;
    const alpha = channels === 2 ? pixels[o + 1]! : channels === 4 ? pixels[o + 3]! : 255;
    gray[i] = alpha === 255 ? v : Math.trunc((v * alpha + 255 * (255 - alpha)) / 255);
  }
  return gray;
}

/**
 * Reads a plain 8-bit PNG straight to grey levels, exactly as decodeToGray's sharp pipeline would; null for
 * any PNG it does not take (see the note above), which the caller then decodes with sharp. The pixel limit is
 * checked against the header before anything is inflated, and inflating stops at the size the header allows.
 */
export function readPlainPngAsGray(bytes: Uint8Array, maxPixels: number): GrayImage | null {
  const chunks = readChunks(bytes);
  if (!chunks) return null;
  const { width, height, channels } = chunks.header;
  if (width === 0 || height === 0 || width * height > maxPixels) return null;
  const stride = width * channels;
  const expected = height * (stride + 1);
  let rows: Uint8Array;
  try {
    rows = inflateSync(chunks.data.length === 1 ? chunks.data[0]! : Buffer.concat(chunks.data), { maxOutputLength: expected });
  } catch {
    return null;
  }
  if (rows.length !== expected) return null;
  const pixels = unfilter(rows, height, stride, channels);
  const data = pixels && toGray(pixels, width * height, channels);
  return data ? { data, width, height } : null;
}

const crcOf = (type: string, body: Uint8Array) => crc32(body, crc32(Buffer.from(type, 'latin1')));

function chunk(type: string, body: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(body.length, 0);
  head.write(type, 4, 'latin1');
  const tail = Buffer.alloc(4);
  tail.writeUInt32BE(crcOf(type, body), 0);
  return Buffer.concat([head, body, tail]);
}

/** Encodes 8-bit grey levels as a PNG (for small images such as the 28x28 model input; no native call). */
export function encodeGrayPng({ data, width, height }: GrayImage): Buffer {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 0, 0, 0, 0], 8);
  const rows = Buffer.alloc(height * (width + 1));
  for (let y = 0; y < height; y++) rows.set(data.subarray(y * width, (y + 1) * width), y * (width + 1) + 1);
  return Buffer.concat([Buffer.from(SIGNATURE), chunk('IHDR', header), chunk('IDAT', deflateSync(rows)), chunk('IEND', new Uint8Array(0))]);
}
