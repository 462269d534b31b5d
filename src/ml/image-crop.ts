import sharp from 'sharp';
import { checkImageHeader, ImageInputError, type DecodeOptions } from './image-input.js';

/** A rectangle in the pixels of the image as it is displayed (after its EXIF orientation is applied). */
export interface CropRect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Narrower or lower crops hold no signature, and the image store refuses images with a side under 8 px. */
export const MIN_CROP_SIDE = 8;

/** The crop does not fit the image; the message says why, in words fit for the user. */
export class CropError extends Error {
  override name = 'CropError';
}

/**
 * Cuts `rect` out of an uploaded image (a phone photo of a whole cheque, say) so that only that region is
 * verified. The image is checked like any upload (type, pixel limit before decoding) and turned upright first, so
 * the rectangle is in the coordinates the user saw. Returns a PNG (lossless: the crop is what the model sees);
 * sharp does the work off the event loop.
 */
export async function cropImage(bytes: Uint8Array, rect: CropRect, { maxPixels }: DecodeOptions): Promise<Buffer> {
  await checkImageHeader(bytes, { maxPixels });
  const image = sharp(bytes, { limitInputPixels: maxPixels, failOn: 'error' });
  let metadata;
  try {
    metadata = await image.metadata();
  } catch {
    throw new ImageInputError('undecodable');
  }
  // Orientations 5-8 turn the picture by 90 degrees.
  const turned = (metadata.orientation ?? 1) >= 5;
  const width = turned ? metadata.height! : metadata.width!;
  const height = turned ? metadata.width! : metadata.height!;
  if (rect.width < MIN_CROP_SIDE || rect.height < MIN_CROP_SIDE) {
    throw new CropError(`The crop must be at least ${MIN_CROP_SIDE}x${MIN_CROP_SIDE} pixels; it is ${rect.width}x${rect.height}.`);
  }
  if (rect.x + rect.width > width || rect.y + rect.height > height) {
    throw new CropError(`The crop ${rect.x},${rect.y},${rect.width},${rect.height} reaches outside the ${width}x${height} image.`);
  }
  try {
    return await image.rotate().extract({ left: rect.x, top: rect.y, width: rect.width, height: rect.height }).png({ compressionLevel: 1 }).toBuffer();
  } catch {
    throw new ImageInputError('undecodable');
  }
}
