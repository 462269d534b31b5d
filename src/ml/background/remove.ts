/**
 * One background-removal job from file bytes to encoded result: decode (with the pixel limit checked from the
 * header first), the mode's method, then the requested output. Runs in the background worker
 * (background-worker.ts); `segment` runs the U²-Net session there.
 */
import sharp, { type OutputInfo } from 'sharp';
import { checkImageHeader, decodeToRgb, ImageInputError, type RgbImage } from '../image-input.js';
import { extractInk } from './document.js';
import type { BackgroundResult, ResolvedOptions } from './options.js';
import { normaliseMask, refineMask, repairWithPlainBackground, u2netInput, U2NET_SIZE } from './photo.js';
import { fitBackgroundModel } from './border-model.js';
import { plainCutout, unmixEdges } from './plain.js';

/** Runs U²-Net: float32 [3, 320, 320] in, its 320x320 map out. */
export type Segmenter = (input: Float32Array) => Promise<Float32Array>;

export const JPEG_QUALITY = 92;

interface Cut {
  /** RGB under the alpha; may be the decoded image itself (it is overwritten when encoding). */
  rgb: Uint8Array;
  alpha: Uint8Array;
  method: string;
}

async function documentCut(image: RgbImage, options: ResolvedOptions): Promise<Cut> {
  const ink = await extractInk(image, { strength: options.strength, ink: options.ink });
  const colour = options.ink === 'original' ? 'ink colour kept' : `ink recoloured ${options.ink}`;
  const desk = ink.desk ? '; desk around the sheet removed' : '';
  return { rgb: ink.rgb, alpha: ink.alpha, method: `Document ink: lighting flattened, paper removed, ${colour} (strength ${options.strength})${desk}` };
}

async function plainCut(image: RgbImage): Promise<Cut> {
  const { alpha, model, shadows } = await plainCutout(image);
  if (model.fits) unmixEdges(image, alpha, model);
  const kind = model.kind === 'plain' ? 'plain colour' : 'colour gradient';
  const shadowNote = shadows ? ', cast shadows removed' : '';
  const warning = model.fits ? '' : '; the border is not a plain colour, so the result may be poor (try photo mode)';
  return { rgb: image.data, alpha, method: `Plain-background cut-out (border fitted as a ${kind}${shadowNote})${warning}` };
}

async function photoCut(image: RgbImage, segment: Segmenter): Promise<Cut> {
  const mask = normaliseMask(await segment(await u2netInput(image)));
  const alpha = await refineMask(image, mask, U2NET_SIZE);
  const model = await fitBackgroundModel(image);
  if (!model.fits) return { rgb: image.data, alpha, method: 'U²-Net (u2netp) mask, refined along edges' };
  await repairWithPlainBackground(image, alpha, model);
  unmixEdges(image, alpha, model);
  const kind = model.kind === 'plain' ? 'plain colour' : 'colour gradient';
  return { rgb: image.data, alpha, method: `U²-Net (u2netp) mask, refined along edges; plain-background repair (${kind})` };
}

const asBytes = (buffer: Buffer) => new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.length);

/** Encodes rgb + alpha as the requested output; `rgb` is overwritten for 'color'. */
async function encode(cut: Cut, width: number, height: number, options: Pick<ResolvedOptions, 'output' | 'color'>): Promise<Omit<BackgroundResult, 'method'>> {
  const raw = (channels: 1 | 3) => ({ raw: { width, height, channels }, limitInputPixels: false as const });
  if (options.output === 'mask') {
    // A 1-channel raw image comes out of sharp as 3 channels unless told it is grey.
    const png = await sharp(cut.alpha, raw(1)).toColourspace('b-w').png().toBuffer();
    return { bytes: asBytes(png), type: 'png', width, height };
  }
  const { rgb, alpha } = cut;
  if (options.output === 'color') {
    const [r, g, b] = options.color;
    for (let i = 0, n = width * height; i < n; i++) {
      const a = alpha[i]!;
      if (a === 255) continue;
      const o = i * 3;
      rgb[o] = (rgb[o]! * a + r * (255 - a) + 127) / 255;
      rgb[o + 1] = (rgb[o + 1]! * a + g * (255 - a) + 127) / 255;
      rgb[o + 2] = (rgb[o + 2]! * a + b * (255 - a) + 127) / 255;
    }
    const jpeg = await sharp(rgb, raw(3)).jpeg({ quality: JPEG_QUALITY }).toBuffer();
    return { bytes: asBytes(jpeg), type: 'jpeg', width, height };
  }
  // Fully transparent pixels carry no colour: zeros compress better and leak nothing of the removed background.
  for (let i = 0, n = width * height; i < n; i++) if (alpha[i] === 0) rgb.fill(0, i * 3, i * 3 + 3);
  const png = await sharp(rgb, raw(3)).joinChannel(Buffer.from(alpha.buffer, alpha.byteOffset, alpha.length), raw(1)).png().toBuffer();
  return { bytes: asBytes(png), type: 'png', width, height };
}

export async function removeBackground(file: Uint8Array, options: ResolvedOptions, context: { maxPixels: number; segment: Segmenter }): Promise<BackgroundResult> {
  const image = await decodeToRgb(file, { maxPixels: context.maxPixels });
  const cut =
    options.mode === 'document' ? await documentCut(image, options) : options.mode === 'plain' ? await plainCut(image) : await photoCut(image, context.segment);
  if (image.alpha) {
    // What the file already made transparent stays transparent.
    for (let i = 0; i < cut.alpha.length; i++) cut.alpha[i] = Math.min(cut.alpha[i]!, image.alpha[i]!);
  }
  const encoded = await encode(cut, image.width, image.height, options);
  return { ...encoded, method: cut.method };
}

/** Turns another tool's transparent cut-out into the requested output. */
export async function convertCutout(
  file: Uint8Array,
  options: Pick<ResolvedOptions, 'output' | 'color'>,
  context: { maxPixels: number },
): Promise<BackgroundResult> {
  await checkImageHeader(file, { maxPixels: context.maxPixels });
  let decoded: { data: Buffer; info: OutputInfo };
  try {
    decoded = await sharp(file, { limitInputPixels: context.maxPixels, failOn: 'error' })
      .rotate()
      .toColourspace('srgb')
      .ensureAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
  } catch {
    throw new ImageInputError('undecodable');
  }
  const { data, info } = decoded;
  if (info.channels !== 4) throw new ImageInputError('undecodable');
  const { width, height } = info;
  const n = width * height;
  const rgb = new Uint8Array(n * 3);
  const alpha = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    rgb[i * 3] = data[i * 4]!;
    rgb[i * 3 + 1] = data[i * 4 + 1]!;
    rgb[i * 3 + 2] = data[i * 4 + 2]!;
    alpha[i] = data[i * 4 + 3]!;
  }
  const encoded = await encode({ rgb, alpha, method: '' }, width, height, options);
  return { ...encoded, method: "The provider's cut-out" };
}
