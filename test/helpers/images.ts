/**
 * Image files made by code for the store and library tests: good ones, and the hostile ones the store must
 * refuse (truncated, disguised, polyglot, bombs, lying headers, endless animations, degenerate sizes).
 */
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { afterSoi, exifWithGps, jpegSegment, pngChunk, pngChunks, pngFrom, rawAnimation, rawImage } from '../storage/helpers/containers.js';

export { exifWithGps };

/** A PNG with detail in it; `seed` makes each one different. */
export const pngImage = (width = 64, height = 48, seed = 1) => rawImage(width, height, 3, seed).png().toBuffer();

export const jpegImage = (width = 64, height = 48, seed = 1) => rawImage(width, height, 3, seed).jpeg({ quality: 90 }).toBuffer();

export const webpImage = (width = 64, height = 48, seed = 1) => rawImage(width, height, 3, seed).webp({ quality: 90 }).toBuffer();

export const gifAnimation = (frames: number, width = 32, height = 32) => rawAnimation(width, height, frames).gif({ loop: 0 }).toBuffer();

/** A JPEG as a phone writes it: an Exif block with the camera make and a GPS position. */
export async function jpegWithGps(width = 64, height = 48): Promise<Buffer> {
  return afterSoi(await jpegImage(width, height, 3), jpegSegment(0xe1, exifWithGps('Inkwell Test Phone')));
}

/** A JPEG whose EXIF says "rotate 90° clockwise to display" (orientation 6), as phones store portrait photos. */
export const jpegRotated = (width = 64, height = 48) => rawImage(width, height, 3, 5).jpeg().withMetadata({ orientation: 6 }).toBuffer();

/** A PNG whose header claims `width` x `height`, with a few bytes of compressed data: a decompression bomb. */
export function pngBomb(width = 100_000, height = 100_000): Buffer {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 0, 0, 0, 0], 8); // 8-bit grey, deflate, adaptive filter, no interlace
  const rows = deflateSync(Buffer.alloc(1024), { level: 9 });
  return pngFrom([pngChunk('IHDR', header), pngChunk('IDAT', rows), pngChunk('IEND', Buffer.alloc(0))]);
}

/** A PNG whose header says 400x400 while its pixel data holds a 4x4 image: a header that lies about its size. */
export async function pngLyingHeader(): Promise<Buffer> {
  const small = await pngImage(4, 4);
  return pngFrom(
    pngChunks(small).map((chunk) => {
      if (chunk.type !== 'IHDR') return pngChunk(chunk.type, chunk.data);
      const data = Buffer.from(chunk.data);
      data.writeUInt32BE(400, 0);
      data.writeUInt32BE(400, 4);
      return pngChunk('IHDR', data);
    }),
  );
}

/** A valid PNG with an HTML page appended after IEND: opened as HTML, it would run its script. */
export async function pngHtmlPolyglot(): Promise<Buffer> {
  return Buffer.concat([await pngImage(16, 16), Buffer.from('<html><body><script>alert(document.cookie)</script></body></html>')]);
}

export const truncated = (bytes: Buffer, keep = 0.6) => bytes.subarray(0, Math.floor(bytes.length * keep));
