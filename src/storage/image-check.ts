import { createHash } from 'node:crypto';
import sharp from 'sharp';
import { sniffImageType, type ImageType } from '../ml/image-input.js';
import { MalformedImageError, stripMetadata } from './metadata/index.js';

/** Why the store refused a file. Codes are part of the API (error.fields of a refused upload). */
export type ImageRefusalReason =
  | 'empty'
  | 'unsupported_type'
  | 'polyglot'
  | 'undecodable'
  | 'too_many_pixels'
  | 'too_many_frames'
  | 'bad_dimensions';

export class ImageRefusal extends Error {
  constructor(
    readonly reason: ImageRefusalReason,
    message: string,
  ) {
    super(message);
    this.name = 'ImageRefusal';
  }
}

export interface ImageLimits {
  /** Pixels of one frame, checked from the header before anything is decoded. */
  maxPixels: number;
}

/** Animations beyond this are refused: every frame is decoded to check it, and hundreds cost seconds. */
export const MAX_FRAMES = 100;
/** Each side at least this long: thinner images cannot be shown, thumbnailed or read by any feature. */
export const MIN_SIDE = 8;
/** Longer side at most this many times the shorter (a 20000x1 strip is no picture). */
export const MAX_ASPECT_RATIO = 50;
/** Thumbnails: WebP, longer side 320 px, made once when the image is stored. */
export const THUMBNAIL_SIDE = 320;
/**
 * WebP effort 2 rather than libwebp's default 4: 2-4 ms less CPU for every image stored (10.0 against 12.2 ms for a
 * 1000x400 signature PNG's whole thumbnail, 27.8 against 31.8 ms for a 12 MP JPEG) for files 5-7% larger (1.4 KB
 * against 1.3 KB; 3.6 against 3.5 KB). Measured 2026-12-02, 15 rounds each.
 */
const THUMBNAIL_WEBP = { quality: 80, effort: 2 };
/** Re-encoding happens only to apply an EXIF orientation, and then at this JPEG/WebP quality (the issue asks >= 92). */
export const REENCODE_QUALITY = 95;

/** What the store keeps of an accepted image. */
export interface CheckedImage {
  /** The stored bytes: metadata removed (losslessly), orientation applied. */
  bytes: Buffer;
  type: ImageType;
  width: number;
  height: number;
  /** Frames of an animation; 1 for a still image. */
  frames: number;
  thumbnail: Buffer;
  /** Of the stored bytes: the image's identity within a user's store. */
  sha256: string;
}

export const MIME_TYPES: Record<ImageType, string> = {
  png: 'image/png',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
  gif: 'image/gif',
};

const startsWith = (bytes: Uint8Array, signature: string, offset = 0) =>
  bytes.length >= offset + signature.length && [...signature].every((c, i) => bytes[offset + i] === c.charCodeAt(0));

/** A message that names what the file is when we recognise it, so the user knows what to do instead. */
function unsupportedTypeMessage(bytes: Uint8Array): string {
  const text = Buffer.from(bytes.subarray(0, 512)).toString('latin1').replace(/^\uFEFF|^\xEF\xBB\xBF/, '').trimStart().toLowerCase();
  if (startsWith(bytes, 'II*\0') || startsWith(bytes, 'MM\0*')) return 'TIFF images are not supported. Save the image as PNG or JPEG and upload that.';
  if (startsWith(bytes, 'BM')) return 'BMP images are not supported. Save the image as PNG and upload that.';
  if (startsWith(bytes, 'ftyp', 4)) {
    const brand = Buffer.from(bytes.subarray(8, 12)).toString('latin1');
    if (/^(hei[cx]|hev[cx]|mif1|msf1|avif|avis)$/.test(brand)) {
      return 'HEIC/HEIF and AVIF photos are not supported. On an iPhone choose Settings > Camera > Formats > Most Compatible, or export the photo as JPEG.';
    }
  }
  if (startsWith(bytes, '%PDF')) return 'PDF documents are not supported. Export the page as a PNG or JPEG image.';
  if (text.includes('<svg')) return 'SVG drawings are not accepted because they can carry scripts. Export the drawing as PNG.';
  if (text.startsWith('<')) return 'The file is HTML or XML text, not an image.';
  return 'The file is not a PNG, JPEG, WebP or GIF image (its content was checked, not its name).';
}

// Markup a browser would act on. Phone photos carry XMP (<x:xmpmeta>, <rdf:RDF>), which is not matched here.
const MARKUP = /<(?:script|html|iframe|body|object|embed|svg)[\s>/]|<!doctype\s+html|<\?php/i;

/**
 * A polyglot is an image that is also a page or a script (HTML appended after PNG's IEND, or in a text
 * chunk). Stripping would drop most of it, but such a file is an attack, not a picture: it is refused.
 */
function hasMarkup(bytes: Uint8Array): boolean {
  return MARKUP.test(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1'));
}

async function readHeader(bytes: Uint8Array) {
  try {
    // limitInputPixels: false only for reading the header; the limit is checked here, before any decoding.
    const { width, height, pages, orientation } = await sharp(bytes, { limitInputPixels: false }).metadata();
    if (!width || !height) throw new Error('no dimensions');
    return { width, height, frames: pages ?? 1, orientation: orientation ?? 1 };
  } catch {
    throw new ImageRefusal('undecodable', 'The image could not be read; the file may be damaged or incomplete.');
  }
}

function checkDimensions(width: number, height: number, frames: number, { maxPixels }: ImageLimits): void {
  if (width * height > maxPixels) {
    throw new ImageRefusal(
      'too_many_pixels',
      `The image is too large: ${width}x${height} pixels; the limit is ${(maxPixels / 1e6).toLocaleString('en')} million pixels.`,
    );
  }
  if (frames > MAX_FRAMES) throw new ImageRefusal('too_many_frames', `The animation has ${frames} frames; at most ${MAX_FRAMES} are accepted.`);
  // Every frame is decoded to check it: an animation's frames together stay within the limit of one image.
  if (width * height * frames > maxPixels) {
    throw new ImageRefusal(
      'too_many_pixels',
      `The animation is too large: ${frames} frames of ${width}x${height} pixels; the limit is ${(maxPixels / 1e6).toLocaleString('en')} million pixels in all.`,
    );
  }
  if (Math.min(width, height) < MIN_SIDE || Math.max(width, height) > MAX_ASPECT_RATIO * Math.min(width, height)) {
    throw new ImageRefusal(
      'bad_dimensions',
      `The image is ${width}x${height} pixels; each side must be at least ${MIN_SIDE} pixels and at most ${MAX_ASPECT_RATIO} times the other.`,
    );
  }
}

/** Applies the EXIF orientation by re-encoding; the only case in which the stored pixels differ from the upload's. */
async function reencodeUpright(bytes: Uint8Array, type: ImageType, maxPixels: number): Promise<Buffer> {
  const upright = sharp(bytes, { limitInputPixels: maxPixels, failOn: 'truncated' }).rotate().keepIccProfile();
  if (type === 'jpeg') return upright.jpeg({ quality: REENCODE_QUALITY, chromaSubsampling: '4:4:4' }).toBuffer();
  if (type === 'webp') return upright.webp({ quality: REENCODE_QUALITY }).toBuffer();
  return upright.png({ compressionLevel: 9 }).toBuffer();
}

/**
 * Decodes the whole image (every frame of an animation) to prove it is intact, and makes the thumbnail
 * from the first frame in the same pass over the file.
 */
async function decodeAndThumbnail(bytes: Buffer, frames: number, maxPixels: number): Promise<Buffer> {
  try {
    // stats() streams over every frame without keeping the decoded pixels.
    if (frames > 1) await sharp(bytes, { limitInputPixels: maxPixels, failOn: 'truncated', pages: -1 }).stats();
    return await sharp(bytes, { limitInputPixels: maxPixels, failOn: 'truncated' })
      .resize(THUMBNAIL_SIDE, THUMBNAIL_SIDE, { fit: 'inside', withoutEnlargement: true })
      .webp(THUMBNAIL_WEBP)
      .toBuffer();
  } catch {
    throw new ImageRefusal('undecodable', 'The image could not be read; the file may be damaged or incomplete.');
  }
}

/**
 * Everything the store checks and does to an upload before a byte is written: type by magic bytes, no
 * markup, dimensions and frames from the header, metadata removed, orientation applied, every pixel decoded,
 * thumbnail made, sha256 taken. Throws ImageRefusal with a message fit to show the user.
 */
export async function checkImage(input: Uint8Array, limits: ImageLimits): Promise<CheckedImage> {
  if (input.length === 0) throw new ImageRefusal('empty', 'The file is empty.');
  const type = sniffImageType(input);
  if (!type) throw new ImageRefusal('unsupported_type', unsupportedTypeMessage(input));
  if (hasMarkup(input)) {
    throw new ImageRefusal('polyglot', 'The file is an image with HTML or script hidden inside it, so it was refused. Export the picture again from an image editor.');
  }
  const header = await readHeader(input);
  checkDimensions(header.width, header.height, header.frames, limits);

  // GIF has no EXIF. An animation is not turned: libvips would turn the strip of frames, not each frame.
  const upright = header.orientation === 1 || type === 'gif' || header.frames > 1;
  let bytes: Buffer;
  try {
    // Rotating reads the orientation from the EXIF block, so it works on the original; its output is stripped too.
    bytes = Buffer.from(stripMetadata(upright ? input : await reencodeUpright(input, type, limits.maxPixels), type));
  } catch (err) {
    if (err instanceof MalformedImageError) throw new ImageRefusal('undecodable', err.message);
    throw new ImageRefusal('undecodable', 'The image could not be read; the file may be damaged or incomplete.');
  }
  const thumbnail = await decodeAndThumbnail(bytes, header.frames, limits.maxPixels);
  // Orientations 5-8 turn the picture by 90 degrees.
  const [width, height] = upright || header.orientation < 5 ? [header.width, header.height] : [header.height, header.width];
  return { bytes, type, width, height, frames: header.frames, thumbnail, sha256: createHash('sha256').update(bytes).digest('hex') };
}
