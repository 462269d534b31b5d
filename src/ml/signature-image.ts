import sharp from 'sharp';
import { decodeToGray, ImageInputError, type DecodeOptions, type GrayImage } from './image-input.js';
import { evenOutLight } from './paper-light.js';
import { encodeGrayPng } from './png.js';

/** The model sees SIGNATURE_SIDE x SIGNATURE_SIDE; models/signatures.json records the same number. */
export const SIGNATURE_SIDE = 200;
/** Bigger photos are shrunk to this longer side first: it bounds the work and is above the scan resolution of both training sets. */
const WORKING_SIDE = 1600;
/** The smoothing before thresholding; it fills the speckle of grey paper so Otsu splits ink from paper rather than paper from paper. */
const BLUR_SIGMA = 1;
/** Ink and paper closer than this many grey levels are sensor or JPEG noise on blank paper, not writing. */
const MIN_INK_CONTRAST = 40;
/** Fewer ink pixels than this (at working resolution) is a dot or a speck, not a signature. */
const MIN_INK_PIXELS = 30;
/** The share of ink pixels cut from each side of the bounding box, so isolated specks far from the signature do not widen it. */
const SPECK_TAIL = 0.005;
/** Ink darker than this percentile of the ink pixels counts as full strength, so pale ballpoint and black marker look alike. */
const FULL_INK_PERCENTILE = 0.05;

/**
 * How the cropped ink becomes 200x200 (the card's preprocessing.fit). 'contain' keeps the aspect ratio and pads, so a
 * 1000x250 signature becomes a 200x50 strip with strokes about a pixel wide: what 1.0.0 and 2.0.0 were trained on (their
 * cards name no fit). 'fill' stretches each axis on its own, so a wide signature keeps 200 rows of detail;
 * 'sqrt-aspect' keeps the square root of the aspect ratio. 'contain+fill' (3.0.0) gives both 'contain' and 'fill' as two
 * channels: networks reading the first keep a signature's proportions, those reading the second its detail. A model
 * trained on any of them can be uploaded as a version and is then prepared as its card says (models/README.md has
 * what each gave).
 */
export const SINGLE_SIGNATURE_FITS = ['contain', 'fill', 'sqrt-aspect'] as const;
export const SIGNATURE_FITS = [...SINGLE_SIGNATURE_FITS, 'contain+fill'] as const;
export type SignatureFit = (typeof SIGNATURE_FITS)[number];
export type SingleFit = (typeof SINGLE_SIGNATURE_FITS)[number];

/** The fits whose channels make up a fit's input, in channel order. */
const channelFits = (fit: SignatureFit): SingleFit[] => fit.split('+') as SingleFit[];
/** How many 200x200 channels a fit's input has (the model card's input shape is [N, channels, 200, 200]). */
export const signatureChannels = (fit: SignatureFit): number => channelFits(fit).length;

export const isSignatureFit = (value: unknown): value is SignatureFit => SIGNATURE_FITS.includes(value as SignatureFit);
export const isSingleSignatureFit = (value: unknown): value is SingleFit => SINGLE_SIGNATURE_FITS.includes(value as SingleFit);

/** The fit a signature model card asks for; cards from before the field existed were trained on 'contain'. */
export function signatureFitOf(card: { readonly [field: string]: unknown }): SignatureFit {
  const fit = (card['preprocessing'] as { fit?: unknown } | undefined)?.fit;
  if (fit === undefined) return 'contain';
  if (isSignatureFit(fit)) return fit;
  throw new RangeError(`preprocessing.fit must be one of ${SIGNATURE_FITS.map((name) => `"${name}"`).join(', ')}, got ${JSON.stringify(fit)}.`);
}

/** Decodes an uploaded image and brings it to the model's input: 40,000 floats per channel, Cx200x200, paper 0, ink up to 1. */
export async function prepareSignature(bytes: Uint8Array, options: DecodeOptions & { fit?: SignatureFit }): Promise<Float32Array> {
  return prepareSignatureFromGray(await decodeToGray(bytes, options), options.fit);
}

/**
 * Brings a grayscale image of one signature (dark ink on light paper, any size and position) to the model's input.
 * The steps, also written in models/signatures.json:
 *  1. shrink to a longer side of at most 1600 px (sharp, lanczos3);
 *  2. Gaussian blur, sigma 1 px (sharp's blur(1), reproduced in blurSigma1);
 *  2b. uneven light evened out (a phone photo's shadow or vignetting; evenOutLight in paper-light.ts); evenly lit
 *     images, every scan of the training sets among them, are left as they are, so the model's inputs did not change;
 *  3. global Otsu threshold T on the blurred levels; no_ink when the mean levels of the two classes differ by
 *     less than 40 or fewer than 30 pixels are ink;
 *  4. ink strength per pixel = clamp((T - level) / (T - L5), 0, 1) where level < T, else 0, with L5 the 5th percentile
 *     of the ink levels;
 *  5. crop to the bounding box of the ink, leaving out 0.5% of the ink pixels on each side (specks);
 *  6. quantise to 8 bits, resize to 200x200 (sharp, lanczos3): with fit 'fill' each axis stretched on its own; with
 *     'sqrt-aspect' into a frame whose longer side is 200 and whose aspect ratio is the square root of the crop's
 *     (4:1 becomes 2:1), centred, padded with 0; with 'contain' keeping the aspect ratio, centred, padded with 0;
 *     with 'contain+fill' both of those, one after the other (two channels);
 *  7. divide by 255.
 * Throws ImageInputError('no_ink') when nothing that looks like writing is found.
 */
export async function prepareSignatureFromGray(image: GrayImage, fit: SignatureFit = 'contain'): Promise<Float32Array> {
  const working = evenOutLight(await shrinkAndBlur(image));
  const threshold = inkThreshold(working);
  const { strength, box } = inkStrengthAndBox(working, threshold);
  const fits = channelFits(fit);
  const channels = await Promise.all(fits.map((single) => fitInk(strength, working, box, single)));
  const plane = SIGNATURE_SIDE * SIGNATURE_SIDE;
  const input = new Float32Array(fits.length * plane);
  channels.forEach((fitted, channel) => {
    for (let i = 0; i < plane; i++) input[channel * plane + i] = fitted[i]! / 255;
  });
  return input;
}

/** Step 6 for one fit: the cropped ink strength as 200x200 bytes. */
async function fitInk(strength: Uint8Array, working: GrayImage, box: Box, fit: SingleFit): Promise<Buffer> {
  const side = SIGNATURE_SIDE;
  const cropped = sharp(strength, { raw: { width: working.width, height: working.height, channels: 1 } }).extract({
    left: box.left,
    top: box.top,
    width: box.width,
    height: box.height,
  });
  if (fit === 'sqrt-aspect') {
    const frame = sqrtAspectFrame(box.width, box.height);
    cropped.resize(frame.width, frame.height, { fit: 'fill', kernel: 'lanczos3' }).extend({
      top: Math.floor((side - frame.height) / 2),
      bottom: Math.ceil((side - frame.height) / 2),
      left: Math.floor((side - frame.width) / 2),
      right: Math.ceil((side - frame.width) / 2),
      background: { r: 0, g: 0, b: 0 },
    });
  } else cropped.resize(side, side, { fit, background: { r: 0, g: 0, b: 0 }, kernel: 'lanczos3' });
  return cropped.extractChannel(0).raw().toBuffer();
}

/** The frame 'sqrt-aspect' fits a width x height crop into: its longer side 200, its aspect ratio the square root of the crop's. */
export function sqrtAspectFrame(width: number, height: number): { width: number; height: number } {
  const side = SIGNATURE_SIDE;
  const shorter = Math.max(1, Math.round(side / Math.sqrt(Math.max(width, height) / Math.min(width, height))));
  return width >= height ? { width: side, height: shorter } : { width: shorter, height: side };
}

/**
 * An ink map as prepareSignature returns it, as a 200x200 8-bit greyscale PNG (ink light on black, as the model sees
 * it); of a two-channel input, the first channel (for 'contain+fill' the ink with its proportions kept, the one a
 * user can judge a crop by). Encoded here with zlib (0.4 ms, about 1.4 KB) rather than by sharp (1.9 ms and 2.7 KB,
 * most of it the trip through libvips).
 */
export function inkMapToPng(inkMap: Float32Array): Buffer {
  const side = SIGNATURE_SIDE;
  const plane = side * side;
  if (inkMap.length === 0 || inkMap.length % plane !== 0) throw new RangeError(`An ink map has ${plane} values per channel, got ${inkMap.length}.`);
  const levels = Buffer.alloc(plane);
  for (let i = 0; i < plane; i++) levels[i] = Math.round(255 * Math.min(1, Math.max(0, inkMap[i]!)));
  return encodeGrayPng({ data: levels, width: side, height: side });
}

/** Steps 1 and 2: the image at working size, blurred. */
async function shrinkAndBlur(image: GrayImage): Promise<GrayImage> {
  const { data, width, height } = image;
  if (Math.max(width, height) <= WORKING_SIDE) return blurSigma1(image);
  // Shrinking and blurring stay one sharp pipeline: blurring sharp's shrunk output here gives other levels at a few pixels.
  const { data: blurred, info } = await sharp(data, { raw: { width, height, channels: 1 } })
    .resize(WORKING_SIDE, WORKING_SIDE, { fit: 'inside', kernel: 'lanczos3' })
    .blur(BLUR_SIGMA)
    .extractChannel(0)
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(blurred.buffer, blurred.byteOffset, blurred.length), width: info.width, height: info.height };
}

/**
 * sharp's blur(BLUR_SIGMA = 1), computed here: it was the largest step of the preparation (5 ms of CPU in sharp for
 * a 1000x400 image, a fraction of that here). libvips builds the integer Gaussian [12, 20, 12] / 44 for sigma 1
 * (min_ampl 0.2) and applies it in fixed point as [35, 58, 35] / 128, rounded, rows first, then columns, edge pixels
 * repeated. The result is sharp's, byte for byte (test/ml/signature-image.test.ts checks it against sharp), so the
 * training cache and the served model still see the same ink maps.
 */
export function blurSigma1({ data, width, height }: GrayImage): GrayImage {
  const rows = new Uint8Array(data.length);
  for (let y = 0; y < height; y++) {
    const start = y * width;
    const end = start + width - 1;
    if (width === 1) {
      rows[start] = data[start]!;
      continue;
    }
    rows[start] = (93 * data[start]! + 35 * data[start + 1]! + 64) >> 7;
    for (let i = start + 1; i < end; i++) rows[i] = (35 * (data[i - 1]! + data[i + 1]!) + 58 * data[i]! + 64) >> 7;
    rows[end] = (35 * data[end - 1]! + 93 * data[end]! + 64) >> 7;
  }
  const blurred = new Uint8Array(data.length);
  for (let y = 0; y < height; y++) {
    const above = Math.max(0, y - 1) * width;
    const row = y * width;
    const below = Math.min(height - 1, y + 1) * width;
    for (let x = 0; x < width; x++) blurred[row + x] = (35 * (rows[above + x]! + rows[below + x]!) + 58 * rows[row + x]! + 64) >> 7;
  }
  return { data: blurred, width, height };
}

interface Threshold {
  /** Levels below this are ink. */
  level: number;
  /** Levels at or below this are ink at full strength. */
  fullInk: number;
}

function inkThreshold({ data }: GrayImage): Threshold {
  // Integer counts and an indexed loop: a Float64Array and for-of took 2-5 times longer, on every pixel of the image.
  const counts = new Uint32Array(256);
  for (let i = 0; i < data.length; i++) counts[data[i]!]!++;
  const level = otsuThreshold(counts);
  let ink = 0;
  let inkSum = 0;
  let paperSum = 0;
  for (let l = 0; l < 256; l++) {
    if (l < level) {
      ink += counts[l]!;
      inkSum += l * counts[l]!;
    } else paperSum += l * counts[l]!;
  }
  const paper = data.length - ink;
  if (ink < MIN_INK_PIXELS || paper === 0 || paperSum / paper - inkSum / ink < MIN_INK_CONTRAST) {
    throw new ImageInputError('no_ink');
  }
  const fullInkRank = FULL_INK_PERCENTILE * ink;
  let seen = 0;
  let fullInk = 0;
  while (fullInk < level - 1 && seen + counts[fullInk]! <= fullInkRank) seen += counts[fullInk++]!;
  return { level, fullInk };
}

/** The level that best splits the histogram into two classes (largest between-class variance); pixels below it form the first class. */
function otsuThreshold(counts: Uint32Array): number {
  let total = 0;
  let weightedSum = 0;
  for (let l = 0; l < 256; l++) {
    total += counts[l]!;
    weightedSum += l * counts[l]!;
  }
  let below = 0;
  let belowSum = 0;
  let best = 1;
  let bestVariance = -1;
  for (let l = 0; l < 255; l++) {
    below += counts[l]!;
    belowSum += l * counts[l]!;
    const above = total - below;
    if (below === 0 || above === 0) continue;
    const difference = belowSum / below - (weightedSum - belowSum) / above;
    const variance = below * above * difference * difference;
    if (variance > bestVariance) {
      bestVariance = variance;
      best = l + 1;
    }
  }
  return best;
}

interface Box {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** The ink strength of every pixel (step 4) and the speck-trimmed bounding box of the ink (step 5), in one pass. */
function inkStrengthAndBox({ data, width, height }: GrayImage, { level, fullInk }: Threshold): { strength: Uint8Array; box: Box } {
  const span = Math.max(1, level - fullInk);
  const strength = new Uint8Array(data.length);
  const columns = new Float64Array(width);
  const rows = new Float64Array(height);
  let total = 0;
  for (let y = 0; y < height; y++) {
    let inkInRow = 0;
    for (let x = 0, i = y * width; x < width; x++, i++) {
      const value = data[i]!;
      if (value < level) {
        strength[i] = Math.round(255 * Math.min(1, (level - value) / span));
        columns[x]!++;
        inkInRow++;
      }
    }
    rows[y] = inkInRow;
    total += inkInRow;
  }
  const [left, right] = trimmedRange(columns, total);
  const [top, bottom] = trimmedRange(rows, total);
  return { strength, box: { left, top, width: right - left + 1, height: bottom - top + 1 } };
}

/** The first and last index after leaving out SPECK_TAIL of the total on each side. */
function trimmedRange(profile: Float64Array, total: number): [number, number] {
  const tail = SPECK_TAIL * total;
  let first = 0;
  for (let seen = profile[0]!; seen <= tail && first < profile.length - 1; seen += profile[++first]!);
  let last = profile.length - 1;
  for (let seen = profile[last]!; seen <= tail && last > first; seen += profile[--last]!);
  return [first, last];
}
