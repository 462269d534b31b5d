/**
 * Document mode: ink (signatures, handwriting, stamps, drawings) lifted off photographed or scanned paper.
 *
 * 1. The paper's colour under the photo's light is estimated on a reduced copy (about 400 px): ink is closed away
 *    with a max filter, then the paper is averaged with a normalised box filter over pixels that look like paper,
 *    three times, each time dropping pixels darker than the estimate (ink) so strokes do not pull it down.
 * 2. Every full-size pixel is divided by the (bilinearly upsampled) paper estimate: shading, vignetting, cast
 *    shadows and the paper's tint become white; darkness = 1 - the darkest normalised channel.
 * 3. The paper's noise (median and spread of darkness over paper pixels) sets the level below which nothing is
 *    ink; the solid ink's darkness sets where ink becomes opaque; alpha ramps linearly between the two, so
 *    anti-aliased edges stay soft and faint strokes stay faint. `strength` raises the lower level.
 * 4. Connected components that never reach half opacity, or are smaller than a speck, are removed.
 * 5. The ink's colour is un-mixed from white paper (colour = 1 - (1 - normalised) / alpha), so the cut-out laid on
 *    white reproduces the flattened scan with no grey paper halo; or it is replaced by black or blue.
 * 6. A sheet photographed on a desk: large dark regions touching the image border are the desk, not ink.
 */
import sharp from 'sharp';
import type { RgbImage } from '../image-input.js';
import { boxMean, findComponents, maxFilter, minFilter, paintComponents, RowUpsampler } from './filters.js';
import type { InkColour } from './options.js';

/** The cut-out: alpha per pixel and the colour under it (RGB, 0 where alpha is 0). */
export interface Cutout {
  rgb: Uint8Array;
  alpha: Uint8Array;
  width: number;
  height: number;
}

export interface InkOptions {
  /** 0-100: how much faint ink and paper texture is removed. */
  strength: number;
  ink: InkColour;
}

/** Longest side of the reduced copy on which the paper is estimated. */
const PAPER_SIZE = 400;
/** Radius of the paper's box average on the reduced copy: its longest side over this. */
const PAPER_WINDOW = 100;
/** Ink is opaque from this share of the solid ink's darkness (chosen on development seeds 1 and 2). */
const OPAQUE_SHARE = 0.75;
const INK_COLOURS: Record<Exclude<InkColour, 'original'>, [number, number, number]> = {
  black: [0, 0, 0],
  // A ballpoint blue, dark enough to read as ink on white.
  blue: [20, 50, 160],
};

interface PaperEstimate {
  planes: [Float32Array, Float32Array, Float32Array];
  width: number;
  height: number;
  /** 1 where the reduced copy is desk, not paper (dilated). */
  desk: Uint8Array | null;
}

async function reduced(image: RgbImage, longest: number): Promise<{ data: Uint8Array; width: number; height: number }> {
  const scale = Math.min(1, longest / Math.max(image.width, image.height));
  const width = Math.max(1, Math.round(image.width * scale));
  const height = Math.max(1, Math.round(image.height * scale));
  if (width === image.width && height === image.height) return { data: image.data, width, height };
  const { data, info } = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 }, limitInputPixels: false })
    .resize(width, height, { fit: 'fill', kernel: 'cubic' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
}

/**
 * The desk around a photographed sheet, on the reduced ink-free copy: regions touching the image border that are
 * much darker than the paper and either of another hue than the paper (wood, a coloured mat) or darker than any
 * shadow on paper. A cast shadow keeps the paper's hue, so it is not taken for the desk.
 */
function findDesk(closed: [Uint8Array, Uint8Array, Uint8Array], width: number, height: number, reach: number): Uint8Array | null {
  const n = width * height;
  const brightness = new Float32Array(n);
  const histogram = new Float64Array(256);
  for (let i = 0; i < n; i++) {
    brightness[i] = (closed[0][i]! + closed[1][i]! + closed[2][i]!) / 3;
    const level = Math.round(brightness[i]!);
    histogram[level] = histogram[level]! + 1;
  }
  // The paper: the brightest tenth of the ink-free copy; its hue is its mean chromaticity.
  const paperLevel = percentile(histogram, 0, 255, 0.9);
  const hue = [0, 0, 0];
  let count = 0;
  for (let i = 0; i < n; i++) {
    if (brightness[i]! < paperLevel * 0.95) continue;
    const sum = closed[0][i]! + closed[1][i]! + closed[2][i]! + 1e-6;
    for (let c = 0; c < 3; c++) hue[c] = hue[c]! + closed[c]![i]! / sum;
    count++;
  }
  for (let c = 0; c < 3; c++) hue[c] = hue[c]! / Math.max(1, count);
  const candidate = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const b = brightness[i]!;
    if (b >= paperLevel * 0.6) continue;
    const sum = closed[0][i]! + closed[1][i]! + closed[2][i]! + 1e-6;
    let hueShift = 0;
    for (let c = 0; c < 3; c++) hueShift = Math.max(hueShift, Math.abs(closed[c]![i]! / sum - hue[c]!));
    if (hueShift > 0.03 || b < paperLevel * 0.35) candidate[i] = 1;
  }
  const components = findComponents(candidate, width, height, { threshold: 1, diagonal: false });
  const minimum = 0.01 * n;
  let any = false;
  paintComponents(candidate, width, components, (label) => {
    const desk = components.touchesBorder[label] === 1 && components.area[label]! >= minimum;
    any ||= desk;
    return !desk;
  }, 0);
  if (!any) return null;
  // Grow it past the sheet's edge, which the reduction blurs.
  return maxFilter(candidate, width, height, reach);
}

async function estimatePaper(image: RgbImage): Promise<PaperEstimate> {
  const small = await reduced(image, PAPER_SIZE);
  const { width, height } = small;
  const n = width * height;
  const channels = [0, 1, 2].map(() => new Uint8Array(n)) as [Uint8Array, Uint8Array, Uint8Array];
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) channels[c]![i] = small.data[i * 3 + c]!;
  // Ink is darker than paper: a closing (max, then min filter) a few pixels wide removes strokes.
  const inkReach = Math.max(1, Math.round(Math.max(width, height) / 130));
  const closed = channels.map((plane) => minFilter(maxFilter(plane, width, height, inkReach), width, height, inkReach)) as [Uint8Array, Uint8Array, Uint8Array];
  const desk = findDesk(closed, width, height, 2);

  const radius = Math.max(2, Math.round(Math.max(width, height) / PAPER_WINDOW));
  let estimate = closed.map((plane) => boxMean(Float32Array.from(plane), width, height, radius)) as [Float32Array, Float32Array, Float32Array];
  const weight = new Float32Array(n);
  const weighted = [0, 1, 2].map(() => new Float32Array(n)) as [Float32Array, Float32Array, Float32Array];
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < n; i++) {
      let ratio = 1;
      for (let c = 0; c < 3; c++) ratio = Math.min(ratio, channels[c]![i]! / Math.max(1, estimate[c]![i]!));
      const paper = ratio > 0.9 && !(desk && desk[i]) ? 1 : 0;
      weight[i] = paper;
      for (let c = 0; c < 3; c++) weighted[c]![i] = paper * channels[c]![i]!;
    }
    const support = boxMean(weight, width, height, radius);
    const wide = round === 2 ? boxMean(weight, width, height, radius * 4) : null;
    const next = weighted.map((plane, c) => {
      const mean = boxMean(plane, width, height, radius);
      const wideMean = wide ? boxMean(plane, width, height, radius * 4) : null;
      for (let i = 0; i < n; i++) {
        if (support[i]! > 0.08) mean[i] = mean[i]! / support[i]!;
        else if (wideMean && wide![i]! > 0.02) mean[i] = wideMean[i]! / wide![i]!;
        else mean[i] = estimate[c]![i]!;
      }
      return mean;
    }) as [Float32Array, Float32Array, Float32Array];
    estimate = next;
  }
  // One more light smoothing: the estimate must not carry texture from the reduced copy.
  estimate = estimate.map((plane) => boxMean(plane, width, height, Math.max(1, radius >> 1))) as [Float32Array, Float32Array, Float32Array];
  return { planes: estimate, width, height, desk };
}

/** Percentile of a 256-bin histogram restricted to [from, to]. */
function percentile(histogram: Float64Array, from: number, to: number, fraction: number): number {
  let total = 0;
  for (let v = from; v <= to; v++) total += histogram[v]!;
  if (total === 0) return from;
  let seen = 0;
  for (let v = from; v <= to; v++) {
    seen += histogram[v]!;
    if (seen >= fraction * total) return v;
  }
  return to;
}

export interface InkLevels {
  /** Darkness (0-255) below which nothing is ink. */
  transparentBelow: number;
  /** Darkness at and above which ink is opaque. */
  opaqueFrom: number;
  /** Components need this many pixels at half opacity or more. */
  speckArea: number;
}

/** Noise and ink levels from the darkness histogram. */
export function inkLevels(histogram: Float64Array, pixels: number, strength: number): InkLevels {
  const s = strength / 100;
  // Paper: the darkness of most pixels. Its median and spread (MAD) give the noise floor.
  const cap = Math.max(20, percentile(histogram, 0, 255, 0.6) * 3);
  const median = percentile(histogram, 0, cap, 0.5);
  const q75 = percentile(histogram, 0, cap, 0.75);
  const spread = Math.max(1, (q75 - median) * 1.4826 / 0.6745);
  const transparentBelow = Math.min(150, median + (2.5 + 4 * s) * spread + 4 + 26 * s);
  // Solid ink: well above the floor, the 75th percentile of what is there.
  const inkFrom = Math.min(254, Math.round(transparentBelow * 1.5 + 10));
  const solid = percentile(histogram, inkFrom, 255, 0.75);
  const opaqueFrom = Math.max(transparentBelow + 20, Math.min(solid * OPAQUE_SHARE, 220));
  const speckArea = Math.max(3, Math.round((pixels / 1e6) * (2 + 10 * s)));
  return { transparentBelow, opaqueFrom, speckArea };
}

/** Darkness of each pixel against the paper estimate (0 = paper, 255 = black), and its histogram. */
function darkness(image: RgbImage, paper: PaperEstimate): { dark: Uint8Array; histogram: Float64Array } {
  const { width, height, data } = image;
  const dark = new Uint8Array(width * height);
  const histogram = new Float64Array(256);
  const up = new RowUpsampler(paper.width, paper.height, width, height);
  const rows = [new Float32Array(width), new Float32Array(width), new Float32Array(width)];
  const deskRow = new Float32Array(width);
  const deskPlane = paper.desk ? Float32Array.from(paper.desk) : null;
  for (let y = 0; y < height; y++) {
    for (let c = 0; c < 3; c++) up.row(paper.planes[c]!, y, rows[c]!);
    if (deskPlane) up.row(deskPlane, y, deskRow);
    for (let x = 0, i = y * width; x < width; x++, i++) {
      let lightest = 1;
      for (let c = 0; c < 3; c++) lightest = Math.min(lightest, data[i * 3 + c]! / Math.max(1, rows[c]![x]!));
      let d = Math.round((1 - lightest) * 255);
      if (d < 0) d = 0;
      if (deskPlane && deskRow[x]! > 0.01) d = 0;
      dark[i] = d;
      histogram[d] = histogram[d]! + 1;
    }
  }
  return { dark, histogram };
}

export interface InkResult extends Cutout {
  levels: InkLevels;
  desk: boolean;
}

export async function extractInk(image: RgbImage, options: InkOptions): Promise<InkResult> {
  const { width, height, data } = image;
  const n = width * height;
  const paper = await estimatePaper(image);
  const { dark, histogram } = darkness(image, paper);
  const levels = inkLevels(histogram, n, options.strength);
  const { transparentBelow: t0, opaqueFrom: t1, speckArea } = levels;

  // Alpha, written over `dark` (darkness is not needed once alpha is known, except for colour, recomputed below).
  const alpha = dark;
  const span = t1 - t0;
  for (let i = 0; i < n; i++) {
    const d = dark[i]!;
    alpha[i] = d <= t0 ? 0 : d >= t1 ? 255 : Math.round(((d - t0) / span) * 255);
  }
  const components = findComponents(alpha, width, height, { threshold: 1, diagonal: true, strong: alpha, strongThreshold: 128 });
  paintComponents(alpha, width, components, (label) => components.strongArea[label]! < speckArea, 0);

  const rgb = new Uint8Array(n * 3);
  if (options.ink !== 'original') {
    const [r, g, b] = INK_COLOURS[options.ink];
    for (let i = 0; i < n; i++) {
      if (alpha[i] === 0) continue;
      rgb[i * 3] = r;
      rgb[i * 3 + 1] = g;
      rgb[i * 3 + 2] = b;
    }
  } else {
    const up = new RowUpsampler(paper.width, paper.height, width, height);
    const rows = [new Float32Array(width), new Float32Array(width), new Float32Array(width)];
    for (let y = 0; y < height; y++) {
      let any = false;
      for (let x = 0, i = y * width; x < width && !any; x++, i++) any = alpha[i] !== 0;
      if (!any) continue;
      for (let c = 0; c < 3; c++) up.row(paper.planes[c]!, y, rows[c]!);
      for (let x = 0, i = y * width; x < width; x++, i++) {
        const a = alpha[i]! / 255;
        if (a === 0) continue;
        for (let c = 0; c < 3; c++) {
          const normalised = Math.min(1, data[i * 3 + c]! / Math.max(1, rows[c]![x]!));
          const ink = 1 - (1 - normalised) / a;
          rgb[i * 3 + c] = ink <= 0 ? 0 : Math.round(ink * 255);
        }
      }
    }
  }
  return { rgb, alpha, width, height, levels, desk: paper.desk !== null };
}
