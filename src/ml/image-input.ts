import sharp from 'sharp';
import { readPlainPngAsGray } from './png.js';

/** Why an input image was refused. Each reason has a message fit to show a user. */
export type ImageRejection = 'unsupported_type' | 'undecodable' | 'too_many_pixels' | 'no_ink';

const messages: Record<ImageRejection, string> = {
  unsupported_type: 'The file is not a PNG, JPEG, WebP or GIF image.',
  undecodable: 'The image could not be read; the file may be damaged or incomplete.',
  too_many_pixels: 'The image is too large.',
  no_ink: 'The image looks blank: no handwriting was found in it.',
};

export class ImageInputError extends Error {
  constructor(
    readonly reason: ImageRejection,
    detail?: string,
  ) {
    super(detail ? `${messages[reason]} ${detail}` : messages[reason]);
    this.name = 'ImageInputError';
  }
}

export type ImageType = 'png' | 'jpeg' | 'webp' | 'gif';

/** Identifies an image by its magic bytes; the file name and the client's content type are never trusted. */
export function sniffImageType(bytes: Uint8Array): ImageType | null {
  const startsWith = (signature: number[], offset = 0) =>
    bytes.length >= offset + signature.length && signature.every((b, i) => bytes[offset + i] === b);
  if (startsWith([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'png';
  if (startsWith([0xff, 0xd8, 0xff])) return 'jpeg';
  if (startsWith([0x52, 0x49, 0x46, 0x46]) && startsWith([0x57, 0x45, 0x42, 0x50], 8)) return 'webp';
  if (startsWith([0x47, 0x49, 0x46, 0x38])) return 'gif';
  return null;
}

/** A single-channel 8-bit image, row-major, 0 = black. */
export interface GrayImage {
  data: Uint8Array;
  width: number;
  height: number;
}

export interface DecodeOptions {
  /** Refuse images with more pixels than this before decoding them (decompression bombs). */
  maxPixels: number;
}

/**
 * Checks an uploaded file before decoding it: its type by magic bytes, then its pixel count from the header, so
 * a decompression bomb is refused before any pixel is decoded. Returns the (unrotated) size and whether it has alpha.
 */
export async function checkImageHeader(bytes: Uint8Array, { maxPixels }: DecodeOptions): Promise<{ width: number; height: number; hasAlpha: boolean }> {
  if (!sniffImageType(bytes)) throw new ImageInputError('unsupported_type');
  let width: number | undefined;
  let height: number | undefined;
  let hasAlpha: boolean | undefined;
  try {
    ({ width, height, hasAlpha } = await sharp(bytes, { limitInputPixels: false }).metadata());
  } catch {
    throw new ImageInputError('undecodable');
  }
  if (!width || !height) throw new ImageInputError('undecodable');
  if (width * height > maxPixels) {
    throw new ImageInputError('too_many_pixels', `It has ${width}x${height} pixels; the limit is ${maxPixels.toLocaleString('en')} pixels.`);
  }
  return { width, height, hasAlpha: hasAlpha ?? false };
}

/**
 * Decodes an uploaded image the same way for every model: type checked by magic bytes, pixel count
 * bounded, EXIF orientation applied, transparency composited on white, converted to grayscale.
 * Animated GIFs and multi-page images use their first frame. Plain 8-bit grey PNGs (what the drawing pad sends)
 * are read without sharp, to the same grey levels (see png.ts).
 */
export async function decodeToGray(bytes: Uint8Array, { maxPixels }: DecodeOptions): Promise<GrayImage> {
  const plain = sniffImageType(bytes) === 'png' ? readPlainPngAsGray(bytes, maxPixels) : null;
  if (plain) return plain;
  await checkImageHeader(bytes, { maxPixels });
  try {
    const { data, info } = await sharp(bytes, { limitInputPixels: maxPixels, failOn: 'error' })
      .rotate()
      .flatten({ background: '#ffffff' })
      .grayscale()
      .raw()
      .toBuffer({ resolveWithObject: true });
    // grayscale() can still leave an alpha-free multi-channel buffer for some inputs; keep the first channel.
    if (info.channels === 1) return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
    const gray = new Uint8Array(info.width * info.height);
    for (let i = 0; i < gray.length; i++) gray[i] = data[i * info.channels]!;
    return { data: gray, width: info.width, height: info.height };
  } catch {
    throw new ImageInputError('undecodable');
  }
}

/** An 8-bit sRGB image, 3 bytes per pixel, row-major; `alpha` (1 byte per pixel) only when the file had transparency. */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
  alpha?: Uint8Array;
}

/**
 * Decodes an uploaded image to sRGB with the same checks as decodeToGray (type, pixel limit before decoding,
 * orientation, first frame). Transparent pixels are composited on white in `data`; the file's own alpha is
 * returned beside it, so a caller can keep what the file already made transparent.
 */
export async function decodeToRgb(bytes: Uint8Array, { maxPixels }: DecodeOptions): Promise<RgbImage> {
  const { hasAlpha } = await checkImageHeader(bytes, { maxPixels });
  try {
    const decoder = sharp(bytes, { limitInputPixels: maxPixels, failOn: 'error' }).rotate().toColourspace('srgb');
    if (!hasAlpha) {
      const { data, info } = await decoder.removeAlpha().raw().toBuffer({ resolveWithObject: true });
      return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
    }
    const { data, info } = await decoder.ensureAlpha().raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 4) throw new Error(`expected RGBA, got ${info.channels} channels`);
    const pixels = info.width * info.height;
    const alpha = new Uint8Array(pixels);
    // Composite on white in place (RGBA -> RGB in the same buffer: the write index never passes the read index).
    for (let i = 0, o = 0; i < pixels; i++, o += 3) {
      const a = data[i * 4 + 3]!;
      alpha[i] = a;
      const paper = 255 * (255 - a);
      data[o] = (data[i * 4]! * a + paper + 127) / 255;
      data[o + 1] = (data[i * 4 + 1]! * a + paper + 127) / 255;
      data[o + 2] = (data[i * 4 + 2]! * a + paper + 127) / 255;
    }
    return { data: new Uint8Array(data.buffer, data.byteOffset, pixels * 3), width: info.width, height: info.height, alpha };
  } catch {
    throw new ImageInputError('undecodable');
  }
}
