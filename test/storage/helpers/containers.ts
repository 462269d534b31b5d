/**
 * Builders for the metadata tests: segments, chunks and blocks spliced into images made by sharp, written
 * from the format specifications so that each test knows exactly which bytes it added.
 */
import { crc32 } from 'node:zlib';
import sharp from 'sharp';

/** Deterministic pixels with detail in them (so that JPEG data has 0xFF bytes to stuff), 0-255 per channel. */
export function pattern(width: number, height: number, channels: number, seed = 1): Buffer {
  const pixels = Buffer.alloc(width * height * channels);
  let state = seed >>> 0;
  for (let i = 0; i < pixels.length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0; // Numerical Recipes LCG
    const x = (i / channels) % width;
    pixels[i] = (x * 4 + (state >>> 26)) & 0xff;
  }
  return pixels;
}

export const rawImage = (width: number, height: number, channels: 3 | 4 = 3, seed = 1) =>
  sharp(pattern(width, height, channels, seed), { raw: { width, height, channels } });

/** Frames of `pattern`, each different, stacked for sharp's animated output. */
export const rawAnimation = (width: number, height: number, frames: number) =>
  sharp(Buffer.concat(Array.from({ length: frames }, (_, i) => pattern(width, height, 4, i + 7))), {
    raw: { width, height: height * frames, channels: 4, pageHeight: height },
  });

const ascii = (text: string) => Buffer.from(text, 'latin1');
const u16be = (value: number) => Buffer.from([value >> 8, value & 0xff]);
const u32be = (value: number) => {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32BE(value);
  return bytes;
};

// ---- JPEG

export function jpegSegment(marker: number, payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from([0xff, marker]), u16be(payload.length + 2), payload]);
}

/** Inserts segments right after SOI. */
export const afterSoi = (jpeg: Buffer, ...segments: Buffer[]) => Buffer.concat([jpeg.subarray(0, 2), ...segments, jpeg.subarray(2)]);

/** Positions of every SOS marker (0xFFDA cannot occur inside entropy-coded data: a data 0xFF is followed by 0x00). */
export function sosPositions(jpeg: Buffer): number[] {
  const positions: number[] = [];
  for (let at = jpeg.indexOf(Buffer.from([0xff, 0xda])); at >= 0; at = jpeg.indexOf(Buffer.from([0xff, 0xda]), at + 2)) positions.push(at);
  return positions;
}

/**
 * An APP1 Exif segment's payload: a big-endian TIFF with IFD0 (Make, and a pointer to the GPS IFD) and a GPS
 * IFD holding a latitude (Exif 2.32, sections 4.5.4 and 4.6.6).
 */
export function exifWithGps(make = 'Inkwell Test Camera'): Buffer {
  const makeBytes = Buffer.concat([ascii(make), Buffer.from([0])]);
  const ifd0 = 8;
  const makeAt = ifd0 + 2 + 2 * 12 + 4;
  const gpsIfd = makeAt + makeBytes.length;
  const rationalsAt = gpsIfd + 2 + 2 * 12 + 4;
  const tiff = Buffer.alloc(rationalsAt + 24);
  tiff.write('MM', 0, 'latin1');
  tiff.writeUInt16BE(42, 2);
  tiff.writeUInt32BE(ifd0, 4);
  const entry = (at: number, tag: number, type: number, count: number, value: number | Buffer) => {
    tiff.writeUInt16BE(tag, at);
    tiff.writeUInt16BE(type, at + 2);
    tiff.writeUInt32BE(count, at + 4);
    if (typeof value === 'number') tiff.writeUInt32BE(value, at + 8);
    else value.copy(tiff, at + 8);
  };
  tiff.writeUInt16BE(2, ifd0);
  entry(ifd0 + 2, 0x010f, 2, makeBytes.length, makeAt); // Make, ASCII
  entry(ifd0 + 14, 0x8825, 4, 1, gpsIfd); // GPSInfo IFD pointer, LONG
  makeBytes.copy(tiff, makeAt);
  tiff.writeUInt16BE(2, gpsIfd);
  entry(gpsIfd + 2, 0x0001, 2, 2, Buffer.from('N\0\0\0', 'latin1')); // GPSLatitudeRef
  entry(gpsIfd + 14, 0x0002, 5, 3, rationalsAt); // GPSLatitude: 3 RATIONALs
  [51, 1, 30, 1, 2612, 100].forEach((value, i) => tiff.writeUInt32BE(value, rationalsAt + 4 * i));
  return Buffer.concat([ascii('Exif\0\0'), tiff]);
}

/** An APP13 payload: a Photoshop image resource block 0x0404 holding IPTC IIM (a caption). */
export function photoshopIptc(caption: string): Buffer {
  const text = ascii(caption);
  const iptc = Buffer.concat([Buffer.from([0x1c, 0x02, 0x00, 0x00, 0x02, 0x00, 0x04]), Buffer.from([0x1c, 0x02, 0x78]), u16be(text.length), text]);
  const padded = iptc.length % 2 ? Buffer.concat([iptc, Buffer.from([0])]) : iptc;
  return Buffer.concat([ascii('Photoshop 3.0\0'), ascii('8BIM'), u16be(0x0404), Buffer.from([0, 0]), u32be(iptc.length), padded]);
}

/** An APP2 payload: a Multi-Picture Format index (CIPA DC-007) with an empty IFD; only its identifier matters here. */
export const mpfIndex = () => Buffer.concat([ascii('MPF\0'), ascii('MM'), u16be(42), u32be(8), u16be(0), u32be(0)]);

/** An APP0 JFIF payload with an RGB thumbnail of the given size. */
export function jfifWithThumbnail(width: number, height: number): Buffer {
  const header = Buffer.from([...ascii('JFIF\0'), 1, 2, 1, 0, 72, 0, 72, width, height]);
  return Buffer.concat([header, Buffer.alloc(3 * width * height, 0x80)]);
}

/**
 * A baseline grayscale JPEG with a restart interval, written by hand (T.81 annex F) because sharp cannot set
 * one. Every 8x8 block is flat (DC only, quantiser 1), and neighbouring blocks alternate between dark and light:
 * the large DC differences use long runs of 1 bits, so the data holds stuffed 0xFF00 pairs as well as RSTn.
 */
export function jpegWithRestarts(width: number, height: number, restartInterval: number): Buffer {
  const dcBits = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0]; // T.81 table K.3
  const dcValues = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
  const dcCodes = canonicalCodes(dcBits, dcValues);
  const acBits = [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]; // one symbol: EOB, code "0"
  const bytes: number[] = [];
  let accumulator = 0;
  let count = 0;
  const put = (code: number, length: number) => {
    for (let i = length - 1; i >= 0; i--) {
      accumulator = (accumulator << 1) | ((code >> i) & 1);
      if (++count === 8) {
        bytes.push(accumulator);
        if (accumulator === 0xff) bytes.push(0x00);
        accumulator = 0;
        count = 0;
      }
    }
  };
  const padToByte = () => {
    while (count !== 0) put(1, 1);
  };
  const blocksAcross = width / 8;
  const blocks = blocksAcross * (height / 8);
  let predictor = 0;
  for (let m = 0; m < blocks; m++) {
    if (m > 0 && m % restartInterval === 0) {
      padToByte();
      bytes.push(0xff, 0xd0 + ((m / restartInterval - 1) % 8));
      predictor = 0;
    }
    const row = Math.floor(m / blocksAcross);
    const level = (m + row) % 2 ? 250 - (m % 7) * 3 : 5 + (m % 5) * 4;
    const dc = 8 * (level - 128);
    const diff = dc - predictor;
    predictor = dc;
    const category = diff === 0 ? 0 : Math.floor(Math.log2(Math.abs(diff))) + 1;
    const code = dcCodes.get(category)!;
    put(code.code, code.length);
    if (category > 0) put(diff > 0 ? diff : diff + (1 << category) - 1, category);
    put(0, 1); // EOB: no AC coefficients
  }
  padToByte();
  return Buffer.concat([
    Buffer.from([0xff, 0xd8]),
    jpegSegment(0xdb, Buffer.from([0x00, ...new Array<number>(64).fill(1)])),
    jpegSegment(0xc0, Buffer.from([8, ...u16be(height), ...u16be(width), 1, 1, 0x11, 0])),
    jpegSegment(0xc4, Buffer.from([0x00, ...dcBits, ...dcValues])),
    jpegSegment(0xc4, Buffer.from([0x10, ...acBits, 0x00])),
    jpegSegment(0xdd, u16be(restartInterval)),
    jpegSegment(0xda, Buffer.from([1, 1, 0x00, 0, 63, 0])),
    Buffer.from(bytes),
    Buffer.from([0xff, 0xd9]),
  ]);
}

function canonicalCodes(bits: number[], values: number[]): Map<number, { code: number; length: number }> {
  const codes = new Map<number, { code: number; length: number }>();
  let code = 0;
  let k = 0;
  bits.forEach((count, i) => {
    for (let j = 0; j < count; j++) codes.set(values[k++]!, { code: code++, length: i + 1 });
    code <<= 1;
  });
  return codes;
}

// ---- PNG

export interface PngChunk {
  type: string;
  /** The whole chunk: length, type, data, CRC. */
  bytes: Buffer;
  data: Buffer;
}

export function pngChunk(type: string, data: Buffer): Buffer {
  const typeAndData = Buffer.concat([ascii(type), data]);
  return Buffer.concat([u32be(data.length), typeAndData, u32be(crc32(typeAndData))]);
}

export function pngChunks(png: Buffer): PngChunk[] {
  const chunks: PngChunk[] = [];
  for (let at = 8; at < png.length; ) {
    const length = png.readUInt32BE(at);
    chunks.push({ type: png.toString('latin1', at + 4, at + 8), bytes: png.subarray(at, at + 12 + length), data: png.subarray(at + 8, at + 8 + length) });
    at += 12 + length;
  }
  return chunks;
}

export const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
export const pngFrom = (chunks: Buffer[]) => Buffer.concat([PNG_SIGNATURE, ...chunks]);

/** A tEXt/zTXt/iTXt body: keyword, NUL, then the rest as given. */
export const textChunk = (type: 'tEXt' | 'iTXt', keyword: string, text: string) =>
  pngChunk(type, Buffer.concat([ascii(`${keyword}\0`), type === 'iTXt' ? Buffer.from([0, 0, 0, 0]) : Buffer.alloc(0), Buffer.from(text, type === 'iTXt' ? 'utf8' : 'latin1')]));

// ---- WebP

export interface RiffChunk {
  type: string;
  /** The whole chunk with its header and pad byte. */
  bytes: Buffer;
  data: Buffer;
}

export function webpChunk(type: string, data: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header.write(type, 0, 'latin1');
  header.writeUInt32LE(data.length, 4);
  return Buffer.concat([header, data, data.length % 2 ? Buffer.from([0]) : Buffer.alloc(0)]);
}

export function webpChunks(webp: Buffer, from = 12, to = 8 + webp.readUInt32LE(4)): RiffChunk[] {
  const chunks: RiffChunk[] = [];
  for (let at = from; at < to; ) {
    const size = webp.readUInt32LE(at + 4);
    const end = at + 8 + size + (size % 2);
    chunks.push({ type: webp.toString('latin1', at, at + 4), bytes: webp.subarray(at, end), data: webp.subarray(at + 8, at + 8 + size) });
    at = end;
  }
  return chunks;
}

export function webpFrom(chunks: Buffer[]): Buffer {
  const body = Buffer.concat([ascii('WEBP'), ...chunks]);
  const header = Buffer.alloc(8);
  header.write('RIFF', 0, 'latin1');
  header.writeUInt32LE(body.length, 4);
  return Buffer.concat([header, body]);
}

// ---- GIF

/** Data split into sub-blocks of at most 255 bytes, with the terminator. */
export function subBlocks(data: Buffer): Buffer {
  const parts: Buffer[] = [];
  for (let at = 0; at < data.length; at += 255) {
    const piece = data.subarray(at, at + 255);
    parts.push(Buffer.from([piece.length]), piece);
  }
  return Buffer.concat([...parts, Buffer.from([0])]);
}

export const gifComment = (text: string) => Buffer.concat([Buffer.from([0x21, 0xfe]), subBlocks(ascii(text))]);

export const gifApplication = (identifier: string, data: Buffer) => Buffer.concat([Buffer.from([0x21, 0xff, 11]), ascii(identifier), subBlocks(data)]);

/**
 * XMP in GIF (XMP specification part 3, 1.1.2): the packet is written raw, followed by a 258-byte "magic
 * trailer" that lets a reader walking sub-blocks land on the terminator wherever the text sent it.
 */
export function gifXmp(packet: string): Buffer {
  const trailer = Buffer.from([0x01, ...Array.from({ length: 256 }, (_, i) => 255 - i), 0x00]);
  return Buffer.concat([Buffer.from([0x21, 0xff, 11]), ascii('XMP DataXMP'), Buffer.from(packet, 'utf8'), trailer]);
}

/** A plain text extension (GIF89a section 25): a text grid drawn over the image. */
export const gifPlainText = (text: string) =>
  Buffer.concat([Buffer.from([0x21, 0x01, 12, 0, 0, 0, 0, 64, 0, 16, 0, 8, 16, 1, 0]), subBlocks(ascii(text))]);

/** Where the blocks start: after the header, logical screen descriptor and global colour table. */
export function gifBlocksStart(gif: Buffer): number {
  const packed = gif[10]!;
  return 13 + (packed & 0x80 ? 3 << ((packed & 7) + 1) : 0);
}
