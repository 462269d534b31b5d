import { decodeToGray, ImageInputError, type DecodeOptions, type GrayImage } from './image-input.js';

/** MNIST's pixel statistics; the digits model card (models/digits.json) records the same numbers. */
export const DIGIT_MEAN = 0.1307;
export const DIGIT_STD = 0.3081;
export const DIGIT_SIDE = 28;
/** MNIST fitted each digit into a 20x20 box inside the 28x28 field. */
const DIGIT_BOX = 20;
/** A digit needs no more than this to be found reliably; bigger photos are averaged down first, which also bounds the work. */
const WORKING_SIDE = 512;
/** Ink weaker than this many grey levels above the paper is sensor or JPEG noise, not writing. */
const MIN_INK_CONTRAST = 40;
/** Ink regions whose strong part is smaller than this share of the largest region's are dust or noise, not part of the digit. */
const MIN_COMPONENT_SHARE = 0.05;
/** Background is estimated per block of a BACKGROUND_GRID x BACKGROUND_GRID grid to follow uneven lighting in photos. */
const BACKGROUND_GRID = 4;

/** Decodes an uploaded image and brings it to the model's input: 784 floats, 1x28x28, MNIST-normalised. */
export async function prepareDigit(bytes: Uint8Array, options: DecodeOptions): Promise<Float32Array> {
  return prepareDigitFromGray(await decodeToGray(bytes, options));
}

/**
 * Brings a grayscale image of one digit, either polarity, any size and position, to the MNIST convention:
 * ink bright on black, longer side 20 px, centre of mass at (14, 14) of 28x28, normalised with MNIST's
 * mean and std. The steps are written out in models/digits.json; throws ImageInputError('no_ink') when
 * nothing that looks like writing is found.
 */
export function prepareDigitFromGray(image: GrayImage): Float32Array {
  const working = shrinkToAtMost(image, WORKING_SIDE);
  const ink = inkIntensity(working);
  const digit = isolateDigit(ink);
  const boxed = fitIntoBox(digit, DIGIT_BOX);
  return normalise(placeByCentreOfMass(boxed, DIGIT_SIDE));
}

interface FloatImage {
  data: Float32Array;
  width: number;
  height: number;
}

function shrinkToAtMost(image: GrayImage, side: number): FloatImage {
  const floats = { data: new Float32Array(image.data), width: image.width, height: image.height };
  const scale = side / Math.max(image.width, image.height);
  if (scale >= 1) return floats;
  return resample(floats, Math.max(1, Math.round(image.width * scale)), Math.max(1, Math.round(image.height * scale)));
}

/**
 * Turns the picture into ink intensity (ink bright, paper 0). The paper level comes from the border, the ink
 * side from whichever extreme lies further from it, so dark ink on grey paper and chalk on a blackboard both work.
 */
function inkIntensity(image: FloatImage): FloatImage {
  const { data, width, height } = image;
  const paper = borderHistogram(image).percentile(0.5);
  const levels = LevelHistogram.of(data);
  // Extremes of a handful of pixels, not wider percentiles: a thin digit in a big photo is a tiny share of it, and a shadow must not outvote it.
  const inkIsDark = paper - levels.robustMinimum() >= levels.robustMaximum() - paper;
  const oriented = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) oriented[i] = inkIsDark ? 255 - data[i]! : data[i]!;
  const orientedPaper = inkIsDark ? 255 - paper : paper;
  const strongestInk = LevelHistogram.of(oriented).robustMaximum();
  if (strongestInk - orientedPaper < MIN_INK_CONTRAST) throw new ImageInputError('no_ink');
  // A block darker than the border (a shadow) may raise the local paper level, but never so far that it eats strong ink.
  const ceiling = orientedPaper + 0.35 * (strongestInk - orientedPaper);
  const paperLevel = localPaperLevel({ data: oriented, width, height }, orientedPaper, ceiling);
  const ink = new Float32Array(data.length);
  for (let i = 0; i < ink.length; i++) ink[i] = Math.max(0, oriented[i]! - paperLevel[i]!);
  return { data: ink, width, height };
}

function borderHistogram({ data, width, height }: FloatImage): LevelHistogram {
  const thickness = Math.max(1, Math.round(Math.min(width, height) * 0.02));
  const histogram = new LevelHistogram();
  for (let y = 0; y < height; y++) {
    const wholeRow = y < thickness || y >= height - thickness;
    for (let x = 0; x < width; x++) {
      if (wholeRow || x < thickness || x >= width - thickness) histogram.add(data[y * width + x]!);
    }
  }
  return histogram;
}

/** The paper level per pixel: the 25th percentile of each grid block (ink may cover up to 3/4 of a block), interpolated bilinearly. */
function localPaperLevel({ data, width, height }: FloatImage, floor: number, ceiling: number): Float32Array {
  const grid = Math.min(BACKGROUND_GRID, width, height);
  const blocks = Array.from({ length: grid * grid }, () => new LevelHistogram());
  const blockColumn = Int32Array.from({ length: width }, (_, x) => Math.floor((x * grid) / width));
  for (let y = 0; y < height; y++) {
    const blockRow = Math.floor((y * grid) / height) * grid;
    for (let x = 0; x < width; x++) blocks[blockRow + blockColumn[x]!]!.add(data[y * width + x]!);
  }
  const blockLevels = blocks.map((block) => clamp(block.percentile(0.25), floor, ceiling));
  const levels = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    const gy = clamp((y + 0.5) * (grid / height) - 0.5, 0, grid - 1);
    const y0 = Math.floor(gy);
    const y1 = Math.min(grid - 1, y0 + 1);
    const fy = gy - y0;
    for (let x = 0; x < width; x++) {
      const gx = clamp((x + 0.5) * (grid / width) - 0.5, 0, grid - 1);
      const x0 = Math.floor(gx);
      const x1 = Math.min(grid - 1, x0 + 1);
      const fx = gx - x0;
      const top = blockLevels[y0 * grid + x0]! * (1 - fx) + blockLevels[y0 * grid + x1]! * fx;
      const bottom = blockLevels[y1 * grid + x0]! * (1 - fx) + blockLevels[y1 * grid + x1]! * fx;
      levels[y * width + x] = top * (1 - fy) + bottom * fy;
    }
  }
  return levels;
}

/**
 * Separates ink from paper with an Otsu threshold, keeps the strokes (dropping specks), and returns the
 * cropped digit with soft, anti-aliased edges scaled to [0, 1].
 */
function isolateDigit(ink: FloatImage): FloatImage {
  const { data, width, height } = ink;
  const levels = LevelHistogram.of(data);
  const strongestInk = levels.robustMaximum();
  if (strongestInk < MIN_INK_CONTRAST) throw new ImageInputError('no_ink');
  // Otsu alone drifts into the noise when ink covers a tiny share of a photo; keep it within sensible bounds.
  const threshold = clamp(levels.otsuThreshold(), 0.25 * strongestInk, 0.6 * strongestInk);
  // Anti-aliased stroke edges down to a quarter of the threshold are kept, as MNIST kept its grey edge pixels.
  const faint = threshold / 4;
  const strokes = keepStrokes(data, width, height, faint, threshold);
  const full = LevelHistogram.of(data, strokes).percentile(0.9);
  const soft = new Float32Array(data.length);
  for (let i = 0; i < soft.length; i++) {
    if (strokes[i]) soft[i] = clamp((data[i]! - faint) / (full - faint), 0, 1);
  }
  return crop({ data: soft, width, height });
}

/** Counts of grey levels 0-255 (fractional values go to the nearest level): percentiles and Otsu without sorting. */
class LevelHistogram {
  readonly counts = new Float64Array(256);
  total = 0;

  static of(values: Float32Array, onlyWhere?: Uint8Array): LevelHistogram {
    const histogram = new LevelHistogram();
    for (let i = 0; i < values.length; i++) if (!onlyWhere || onlyWhere[i]) histogram.add(values[i]!);
    return histogram;
  }

  add(value: number): void {
    this.counts[clamp(Math.round(value), 0, 255)]!++;
    this.total++;
  }

  percentile(fraction: number): number {
    const rank = clamp(Math.round(fraction * (this.total - 1)), 0, this.total - 1);
    let seen = 0;
    for (let level = 0; level < 256; level++) {
      seen += this.counts[level]!;
      if (seen > rank) return level;
    }
    return 255;
  }

  /** The level that at least a handful of pixels reach: the maximum, minus stray hot pixels. */
  robustMaximum(): number {
    return this.percentile(1 - this.handful() / this.total);
  }

  /** The minimum, minus stray dead pixels. */
  robustMinimum(): number {
    return this.percentile(this.handful() / this.total);
  }

  private handful(): number {
    return Math.max(4, Math.round(this.total * 0.0005));
  }

  /** The level that best splits the histogram into two classes (largest between-class variance). */
  otsuThreshold(): number {
    let weightedSum = 0;
    for (let level = 0; level < 256; level++) weightedSum += level * this.counts[level]!;
    let below = 0;
    let belowSum = 0;
    let best = 0;
    let bestVariance = -1;
    for (let level = 0; level < 256; level++) {
      below += this.counts[level]!;
      if (below === 0 || below === this.total) continue;
      belowSum += level * this.counts[level]!;
      const meanBelow = belowSum / below;
      const meanAbove = (weightedSum - belowSum) / (this.total - below);
      const variance = below * (this.total - below) * (meanBelow - meanAbove) ** 2;
      if (variance > bestVariance) {
        bestVariance = variance;
        best = level + 0.5;
      }
    }
    return best;
  }
}

/**
 * Hysteresis, as in edge detection: an 8-connected region of pixels at or above `faint` is ink when it reaches
 * `threshold` somewhere, so faint stretches of a stroke stay attached to it; regions whose strong part is much
 * smaller than the largest one's are dust or noise and dropped.
 */
function keepStrokes(data: Float32Array, width: number, height: number, faint: number, threshold: number): Uint8Array {
  const labels = new Int32Array(data.length).fill(-1);
  const strongSizes: number[] = [];
  const queue = new Int32Array(data.length);
  for (let start = 0; start < data.length; start++) {
    if (labels[start] !== -1 || data[start]! < faint) continue;
    const label = strongSizes.length;
    let strong = 0;
    let head = 0;
    let tail = 0;
    queue[tail++] = start;
    labels[start] = label;
    while (head < tail) {
      const at = queue[head++]!;
      if (data[at]! >= threshold) strong++;
      const x = at % width;
      const y = (at - x) / width;
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const nx = x + dx;
          const ny = y + dy;
          if (nx < 0 || ny < 0 || nx >= width || ny >= height) continue;
          const next = ny * width + nx;
          if (labels[next] !== -1 || data[next]! < faint) continue;
          labels[next] = label;
          queue[tail++] = next;
        }
      }
    }
    strongSizes.push(strong);
  }
  let largest = 0;
  for (const size of strongSizes) largest = Math.max(largest, size);
  const strokes = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const label = labels[i]!;
    if (label !== -1 && strongSizes[label]! > 0 && strongSizes[label]! >= MIN_COMPONENT_SHARE * largest) strokes[i] = 1;
  }
  return strokes;
}

function crop({ data, width, height }: FloatImage): FloatImage {
  let left = width;
  let right = -1;
  let top = height;
  let bottom = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (data[y * width + x]! <= 0) continue;
      left = Math.min(left, x);
      right = Math.max(right, x);
      top = Math.min(top, y);
      bottom = Math.max(bottom, y);
    }
  }
  if (right < 0) throw new ImageInputError('no_ink');
  const cropped = { data: new Float32Array((right - left + 1) * (bottom - top + 1)), width: right - left + 1, height: bottom - top + 1 };
  for (let y = top; y <= bottom; y++) {
    cropped.data.set(data.subarray(y * width + left, y * width + right + 1), (y - top) * cropped.width);
  }
  return cropped;
}

/** Scales the digit so its longer side is `box` pixels, keeping the aspect ratio, with its strongest ink at 1 as in MNIST. */
function fitIntoBox(digit: FloatImage, box: number): FloatImage {
  const scale = box / Math.max(digit.width, digit.height);
  const width = Math.max(1, Math.round(digit.width * scale));
  const height = Math.max(1, Math.round(digit.height * scale));
  const boxed = resample(digit, width, height);
  let strongest = 0;
  for (const v of boxed.data) strongest = Math.max(strongest, v);
  if (strongest <= 0) throw new ImageInputError('no_ink');
  for (let i = 0; i < boxed.data.length; i++) boxed.data[i] = Math.min(1, boxed.data[i]! / strongest);
  return boxed;
}

/** Pastes the digit into a side x side black field with its intensity centre of mass on the pixel (side/2, side/2), as MNIST did. */
function placeByCentreOfMass(digit: FloatImage, side: number): FloatImage {
  let mass = 0;
  let sumX = 0;
  let sumY = 0;
  for (let y = 0; y < digit.height; y++) {
    for (let x = 0; x < digit.width; x++) {
      const v = digit.data[y * digit.width + x]!;
      mass += v;
      sumX += v * x;
      sumY += v * y;
    }
  }
  const left = clamp(Math.round(side / 2 - sumX / mass), 0, side - digit.width);
  const top = clamp(Math.round(side / 2 - sumY / mass), 0, side - digit.height);
  const field = new Float32Array(side * side);
  for (let y = 0; y < digit.height; y++) {
    field.set(digit.data.subarray(y * digit.width, (y + 1) * digit.width), (top + y) * side + left);
  }
  return { data: field, width: side, height: side };
}

function normalise(image: FloatImage): Float32Array {
  return image.data.map((v) => (v - DIGIT_MEAN) / DIGIT_STD);
}

/** Separable resampling: area averaging along an axis that shrinks (anti-aliased, as MNIST's downsampling), linear along one that grows. */
function resample(image: FloatImage, width: number, height: number): FloatImage {
  const { data, width: sourceWidth, height: sourceHeight } = image;
  const columnTaps = tapsFor(sourceWidth, width);
  const rows = new Float32Array(width * sourceHeight);
  for (let y = 0; y < sourceHeight; y++) {
    const source = y * sourceWidth;
    for (let x = 0; x < width; x++) {
      const { first, weights } = columnTaps[x]!;
      let sum = 0;
      for (let k = 0; k < weights.length; k++) sum += weights[k]! * data[source + first + k]!;
      rows[y * width + x] = sum;
    }
  }
  // Whole rows are accumulated at a time so the vertical pass reads memory in order.
  const out = new Float32Array(width * height);
  tapsFor(sourceHeight, height).forEach(({ first, weights }, y) => {
    for (let k = 0; k < weights.length; k++) {
      const weight = weights[k]!;
      const source = (first + k) * width;
      for (let x = 0; x < width; x++) out[y * width + x]! += weight * rows[source + x]!;
    }
  });
  return { data: out, width, height };
}

interface Taps {
  first: number;
  weights: Float32Array;
}

/** For each output position, the source positions (from `first` on) and their weights. */
function tapsFor(sourceLength: number, targetLength: number): Taps[] {
  const step = sourceLength / targetLength;
  return Array.from({ length: targetLength }, (_, i) => {
    if (step >= 1) {
      const start = i * step;
      const end = start + step;
      const first = Math.floor(start);
      const last = Math.min(sourceLength, Math.ceil(end));
      const weights = Float32Array.from({ length: last - first }, (_, k) => (Math.min(end, first + k + 1) - Math.max(start, first + k)) / step);
      return { first, weights };
    }
    const centre = clamp((i + 0.5) * step - 0.5, 0, sourceLength - 1);
    const first = Math.min(Math.floor(centre), sourceLength - 2);
    if (first < 0) return { first: 0, weights: Float32Array.of(1) };
    const fraction = centre - first;
    return { first, weights: Float32Array.of(1 - fraction, fraction) };
  });
}

function clamp(value: number, low: number, high: number): number {
  return Math.min(high, Math.max(low, value));
}
