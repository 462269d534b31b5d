import { decodeToGray, ImageInputError, type DecodeOptions, type GrayImage } from './image-input.js';
import { clamp, resample, type FloatImage } from './float-image.js';
import { encodeGrayPng } from './png.js';
import { widenThinStrokes } from './stroke-width.js';

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

/** The model's input back as 784 ink levels 0-255 (ink bright, not normalised): what train_digits.py reads for extra digits. */
export const digitInputLevels = (input: Float32Array): Uint8Array => Uint8Array.from(input, (v) => Math.round(clamp(v * DIGIT_STD + DIGIT_MEAN, 0, 1) * 255));

/** The model's input as a picture, as the model sees it (ink bright on black): a 28x28 grey PNG, to show users why a digit was read as it was. */
export function digitInputPng(input: Float32Array): Buffer {
  return encodeGrayPng({ data: digitInputLevels(input), width: DIGIT_SIDE, height: DIGIT_SIDE });
}

/** Decodes an uploaded image and brings it to the model's input: 784 floats, 1x28x28, MNIST-normalised. */
export async function prepareDigit(bytes: Uint8Array, options: DecodeOptions): Promise<Float32Array> {
  return prepareDigitFromGray(await decodeToGray(bytes, options));
}

/**
 * Brings a grayscale image of one digit, either polarity, any size and position, to the MNIST convention:
 * ink bright on black, strokes no thinner than MNIST's thinnest, longer side 20 px, centre of mass at
 * (14, 14) of 28x28, normalised with MNIST's mean and std. The steps are written out in models/digits.json;
 * throws ImageInputError('no_ink') when nothing that looks like writing is found.
 */
export function prepareDigitFromGray(image: GrayImage): Float32Array {
  const working = shrinkToAtMost(image, WORKING_SIDE);
  const digit = widenThinStrokes(isolateDigit(inkIntensity(working)));
  const boxed = fitIntoBox(digit, DIGIT_BOX);
  return normalise(placeByCentreOfMass(boxed, DIGIT_SIDE));
}

/**
 * The picture to work on: its own 8-bit levels (`whole`: histograms count them directly, no copy is made), or,
 * for a large picture, its levels averaged down (fractional, as floats).
 */
interface WorkingImage {
  levels: Uint8Array | Float32Array;
  width: number;
  height: number;
  whole: boolean;
}

function shrinkToAtMost(image: GrayImage, side: number): WorkingImage {
  const scale = side / Math.max(image.width, image.height);
  if (scale >= 1) return { levels: image.data, width: image.width, height: image.height, whole: true };
  const floats = { data: new Float32Array(image.data), width: image.width, height: image.height };
  const shrunk = resample(floats, Math.max(1, Math.round(image.width * scale)), Math.max(1, Math.round(image.height * scale)));
  return { levels: shrunk.data, width: shrunk.width, height: shrunk.height, whole: false };
}

/** Ink intensity (ink bright, paper 0) and its level histogram. */
interface InkImage extends FloatImage {
  levels: LevelHistogram;
}

/**
 * Turns the picture into ink intensity (ink bright, paper 0). The paper level comes from the border, the ink
 * side from whichever extreme lies further from it, so dark ink on grey paper and chalk on a blackboard both work.
 */
function inkIntensity(image: WorkingImage): InkImage {
  const { levels: data, width, height, whole } = image;
  const grid = Math.min(BACKGROUND_GRID, width, height);
  const blocks = blockHistograms(data, width, height, grid);
  const levels = LevelHistogram.sum(blocks);
  const paper = borderHistogram(data, width, height).percentile(0.5);
  // Extremes of a handful of pixels, not wider percentiles: a thin digit in a big photo is a tiny share of it, and a shadow must not outvote it.
  const inkIsDark = paper - levels.robustMinimum() >= levels.robustMaximum() - paper;
  // Dark ink is inverted (255 - v, in single precision). For whole levels that mirrors each histogram exactly;
  // a shrunk picture's fractional levels are counted again.
  const oriented = inkIsDark && !whole ? (data as Float32Array).map((v) => 255 - v) : data;
  const orientedBlocks = !inkIsDark ? blocks : whole ? blocks.map((block) => block.mirrored()) : blockHistograms(oriented, width, height, grid);
  const orientedPaper = inkIsDark ? 255 - paper : paper;
  const strongestInk = LevelHistogram.sum(orientedBlocks).robustMaximum();
  if (strongestInk - orientedPaper < MIN_INK_CONTRAST) throw new ImageInputError('no_ink');
  // A block darker than the border (a shadow) may raise the local paper level, but never so far that it eats strong ink.
  const ceiling = orientedPaper + 0.35 * (strongestInk - orientedPaper);
  // The 25th percentile of each block is its paper level: ink may cover up to 3/4 of a block.
  const blockLevels = orientedBlocks.map((block) => clamp(block.percentile(0.25), orientedPaper, ceiling));
  return subtractLocalPaper({ data: oriented, width, height }, inkIsDark && whole, grid, blockLevels, orientedPaper);
}

/** Level histograms of the blocks of a grid x grid division of the picture, row by row. */
function blockHistograms(data: Float32Array | Uint8Array, width: number, height: number, grid: number): LevelHistogram[] {
  const blocks = Array.from({ length: grid * grid }, () => new LevelHistogram());
  // The block boundaries along a row: columns [columnStart[c], columnStart[c + 1]) are in block column c.
  const columnStart = Array.from({ length: grid + 1 }, (_, c) => (c === grid ? width : Math.ceil((c * width) / grid)));
  for (let y = 0; y < height; y++) {
    const blockRow = Math.floor((y * grid) / height) * grid;
    const row = y * width;
    for (let c = 0; c < grid; c++) blocks[blockRow + c]!.addRange(data, row + columnStart[c]!, row + columnStart[c + 1]!);
  }
  return blocks;
}

/** The ring of pixels `thickness` wide along the edges; each pixel is counted once. */
function borderHistogram(data: Float32Array | Uint8Array, width: number, height: number): LevelHistogram {
  const thickness = Math.max(1, Math.round(Math.min(width, height) * 0.02));
  const histogram = new LevelHistogram();
  for (let y = 0; y < height; y++) {
    const row = y * width;
    if (y < thickness || y >= height - thickness) {
      histogram.addRange(data, row, row + width);
    } else {
      histogram.addRange(data, row, row + Math.min(thickness, width));
      histogram.addRange(data, row + Math.max(thickness, width - thickness), row + width);
    }
  }
  return histogram;
}

/**
 * Ink after the local paper level is taken away (negatives to 0): the blocks' levels interpolated bilinearly
 * between block centres. `invert` takes 255 - v on the way (whole levels only, where that is exact). The level is
 * rounded to single precision before it is subtracted, as it always was (it used to be kept in a Float32Array).
 * Every block level is at least `floor` (a whole level), and so is the interpolation between them once rounded:
 * a pixel no brighter than `floor` (most of the paper) is no ink, without computing its level.
 */
function subtractLocalPaper(
  { data, width, height }: { data: Uint8Array | Float32Array; width: number; height: number },
  invert: boolean,
  grid: number,
  blockLevels: number[],
  floor: number,
): InkImage {
  const columns = gridPositions(width, grid);
  // The paper level along each row of block centres, at every column.
  const alongRows = Array.from({ length: grid }, (_, g) => {
    const levels = new Float64Array(width);
    for (let x = 0; x < width; x++) {
      levels[x] = blockLevels[g * grid + columns.low[x]!]! * columns.lowWeight[x]! + blockLevels[g * grid + columns.high[x]!]! * columns.fraction[x]!;
    }
    return levels;
  });
  const rows = gridPositions(height, grid);
  const ink = new Float32Array(width * height);
  const levels = new LevelHistogram();
  const counts = levels.counts;
  for (let y = 0; y < height; y++) {
    const top = alongRows[rows.low[y]!]!;
    const bottom = alongRows[rows.high[y]!]!;
    const topWeight = rows.lowWeight[y]!;
    const bottomWeight = rows.fraction[y]!;
    const row = y * width;
    for (let x = 0; x < width; x++) {
      const value = invert ? 255 - data[row + x]! : data[row + x]!;
      if (value <= floor) continue;
      const difference = value - Math.fround(top[x]! * topWeight + bottom[x]! * bottomWeight);
      if (difference <= 0) continue;
      ink[row + x] = difference;
      counts[toLevel(ink[row + x]!)]!++;
    }
  }
  // Every pixel left at 0 is counted at level 0.
  let counted = 0;
  for (let level = 0; level < 256; level++) counted += counts[level]!;
  counts[0]! += ink.length - counted;
  levels.total = ink.length;
  return { data: ink, width, height, levels };
}

/** For each pixel along one axis, the two nearest grid cells and their weights (bilinear interpolation between cell centres). */
function gridPositions(length: number, grid: number) {
  const low = new Int32Array(length);
  const high = new Int32Array(length);
  const fraction = new Float64Array(length);
  const lowWeight = new Float64Array(length);
  for (let i = 0; i < length; i++) {
    const g = clamp((i + 0.5) * (grid / length) - 0.5, 0, grid - 1);
    low[i] = Math.floor(g);
    high[i] = Math.min(grid - 1, low[i]! + 1);
    fraction[i] = g - low[i]!;
    lowWeight[i] = 1 - fraction[i]!;
  }
  return { low, high, fraction, lowWeight };
}

/**
 * Separates ink from paper with an Otsu threshold, keeps the strokes (dropping specks), and returns the
 * cropped digit with soft, anti-aliased edges scaled to [0, 1].
 */
function isolateDigit({ data, width, height, levels }: InkImage): FloatImage {
  const strongestInk = levels.robustMaximum();
  if (strongestInk < MIN_INK_CONTRAST) throw new ImageInputError('no_ink');
  // Otsu alone drifts into the noise when ink covers a tiny share of a photo; keep it within sensible bounds.
  const threshold = clamp(levels.otsuThreshold(), 0.25 * strongestInk, 0.6 * strongestInk);
  // Anti-aliased stroke edges down to a quarter of the threshold are kept, as MNIST kept its grey edge pixels.
  const faint = threshold / 4;
  const strokes = keepStrokes(data, width, height, faint, threshold);
  const strokeLevels = new LevelHistogram();
  for (const i of strokes) strokeLevels.add(data[i]!);
  const full = strokeLevels.percentile(0.9);
  // Soft edges: each stroke pixel scaled to [0, 1] (single precision, as stored), then the box around those above 0.
  const soft = new Float32Array(strokes.length);
  let [left, right, top, bottom] = [width, -1, height, -1];
  for (let k = 0; k < strokes.length; k++) {
    soft[k] = clamp((data[strokes[k]!]! - faint) / (full - faint), 0, 1);
    if (soft[k]! <= 0) continue;
    const x = strokes[k]! % width;
    const y = (strokes[k]! - x) / width;
    if (x < left) left = x;
    if (x > right) right = x;
    if (y < top) top = y;
    if (y > bottom) bottom = y;
  }
  if (right < 0) throw new ImageInputError('no_ink');
  const cropped = { data: new Float32Array((right - left + 1) * (bottom - top + 1)), width: right - left + 1, height: bottom - top + 1 };
  for (let k = 0; k < strokes.length; k++) {
    const x = strokes[k]! % width;
    const y = (strokes[k]! - x) / width;
    if (x >= left && x <= right && y >= top && y <= bottom) cropped.data[(y - top) * cropped.width + (x - left)] = soft[k]!;
  }
  return cropped;
}

/** Counts of grey levels 0-255 (fractional values go to the nearest level): percentiles and Otsu without sorting. */
class LevelHistogram {
  readonly counts = new Int32Array(256);
  total = 0;

  static sum(histograms: LevelHistogram[]): LevelHistogram {
    const sum = new LevelHistogram();
    for (const histogram of histograms) {
      for (let level = 0; level < 256; level++) sum.counts[level]! += histogram.counts[level]!;
      sum.total += histogram.total;
    }
    return sum;
  }

  add(value: number): void {
    this.counts[toLevel(value)]!++;
    this.total++;
  }

  /** Adds values[start] to values[end - 1]. */
  addRange(values: Float32Array | Uint8Array, start: number, end: number): void {
    // Separate loops keep each one's element reads of a single array type (the hot path counts bytes).
    if (values instanceof Uint8Array) this.addBytes(values, start, end);
    else this.addFloats(values, start, end);
  }

  private addBytes(values: Uint8Array, start: number, end: number): void {
    const counts = this.counts;
    for (let i = start; i < end; i++) counts[values[i]!]!++;
    this.total += end - start;
  }

  private addFloats(values: Float32Array, start: number, end: number): void {
    const counts = this.counts;
    for (let i = start; i < end; i++) counts[toLevel(values[i]!)]!++;
    this.total += end - start;
  }

  /** The histogram of 255 - v (exact for whole levels). */
  mirrored(): LevelHistogram {
    const mirror = new LevelHistogram();
    for (let level = 0; level < 256; level++) mirror.counts[level] = this.counts[255 - level]!;
    mirror.total = this.total;
    return mirror;
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
 * The nearest level 0-255, as clamp(Math.round(value), 0, 255): for single-precision values v + 0.5 is exact in
 * double precision, so truncating it rounds half up as Math.round does; negatives below -0.5 end at 0 either way.
 */
function toLevel(value: number): number {
  const level = (value + 0.5) | 0;
  return level > 255 ? 255 : level < 0 ? 0 : level;
}

/**
 * Working buffers kept from one preparation to the next: a worker prepares image after image, and allocating
 * (and collecting) a few hundred KB each time cost as much as using them. Preparation is synchronous, so no two
 * calls ever share them.
 */
const scratch = (() => {
  let map = new Uint8Array(0);
  let found = new Int32Array(0);
  return {
    /** Zeroed. */
    map(size: number): Uint8Array {
      if (map.length < size) map = new Uint8Array(size);
      else map.fill(0, 0, size);
      return map.subarray(0, size);
    },
    /** Not zeroed: only what is written is read. */
    found(size: number): Int32Array {
      if (found.length < size) found = new Int32Array(size);
      return found;
    },
  };
})();

/**
 * Hysteresis, as in edge detection: an 8-connected region of pixels at or above `faint` is ink when it reaches
 * `threshold` somewhere, so faint stretches of a stroke stay attached to it; regions whose strong part is much
 * smaller than the largest one's are dust or noise and dropped. Returns the indices of the kept pixels.
 */
function keepStrokes(data: Float32Array, width: number, height: number, faint: number, threshold: number): Int32Array {
  // A map of the candidate pixels with a border of one empty pixel all round, so that a pixel's eight neighbours
  // are always at the same offsets: 2 = strong ink (>= threshold), 1 = faint ink (>= faint), 0 = not ink or seen.
  const stride = width + 2;
  const map = scratch.map(stride * (height + 2));
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const value = data[y * width + x]!;
      if (value >= faint) map[(y + 1) * stride + x + 1] = value >= threshold ? 2 : 1;
    }
  }
  const neighbours = Int32Array.of(-stride - 1, -stride, -stride + 1, -1, 1, stride - 1, stride, stride + 1);
  // Every region's pixels (map positions), region after region: region k is found[regions[k].start .. regions[k].end).
  const found = scratch.found(width * height);
  const regions: { start: number; end: number; strong: number }[] = [];
  let tail = 0;
  for (let start = stride + 1; start < map.length - stride; start++) {
    if (!map[start]) continue;
    const first = tail;
    let strong = map[start] === 2 ? 1 : 0;
    map[start] = 0;
    found[tail++] = start;
    for (let head = first; head < tail; head++) {
      const at = found[head]!;
      for (let n = 0; n < 8; n++) {
        const next = at + neighbours[n]!;
        if (!map[next]) continue;
        if (map[next] === 2) strong++;
        map[next] = 0;
        found[tail++] = next;
      }
    }
    regions.push({ start: first, end: tail, strong });
  }
  let largest = 0;
  for (const { strong } of regions) largest = Math.max(largest, strong);
  const kept = regions.filter(({ strong }) => strong > 0 && strong >= MIN_COMPONENT_SHARE * largest);
  const strokes = new Int32Array(kept.reduce((sum, { start, end }) => sum + end - start, 0));
  let at = 0;
  for (const { start, end } of kept) {
    for (let k = start; k < end; k++) {
      const row = Math.floor(found[k]! / stride);
      strokes[at++] = (row - 1) * width + (found[k]! - row * stride - 1);
    }
  }
  return strokes;
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
