/**
 * The classical cut-out for objects on a plain or smoothly varying background (a studio backdrop, a table top,
 * a wall, a sheet of card): the image border is taken to be background; a colour model fitted to it predicts
 * the background everywhere; what differs from the prediction is the object.
 *
 * - Model: per channel, a polynomial in (x, y): constant ('plain'), linear ('gradient') or quadratic (vignetting,
 *   radial gradients), the simplest that fits. Fitted on a reduced copy by iteratively reweighted least squares
 *   with outliers (an object touching the border) dropped; it "fits" when most of the border agrees with it
 *   within a small residual. A textured border does not fit.
 * - Distance: the largest per-channel difference from the predicted background, at full size.
 * - Mask: thresholds from the border's own noise; specks removed, small holes filled (big enclosed holes, such as
 *   the inside of a ring, stay background); alpha inside the object is opaque, and across its outline follows the
 *   distance, scaled by the object's contrast nearby, so anti-aliased edges stay soft.
 */
import sharp from 'sharp';
import type { RgbImage } from '../image-input.js';
import { findComponents, paintComponents } from './filters.js';

const FIT_SIZE = 256;
/** Basis sizes tried: constant, linear, quadratic in (x, y). */
const BASES = [1, 3, 6] as const;

export interface BackgroundModel {
  /** 'plain': one colour; 'gradient': a linear or quadratic colour field. */
  kind: 'plain' | 'gradient';
  basis: 1 | 3 | 6;
  /** coefficients[c * basis + k]: channel c (0-255 units), term k of [1, x, y, x^2, y^2, xy] with x, y in [-1, 1]. */
  coefficients: Float64Array;
  /** Whether the border agrees with the model (a plain or smooth background). */
  fits: boolean;
  /** Share of border samples within the residual limit. */
  inliers: number;
  /** Robust spread of the border's residual on the reduced copy (0-255). */
  residual: number;
  /** 99th percentile of the full-size border's distance from the model (0-255): the noise level. */
  noise: number;
}

function terms(x: number, y: number, out: Float64Array): void {
  out[0] = 1;
  out[1] = x;
  out[2] = y;
  out[3] = x * x;
  out[4] = y * y;
  out[5] = x * y;
}

/** Solves the k x k system a x = b (Gaussian elimination with partial pivoting); null when singular. */
function solve(a: Float64Array, b: Float64Array, k: number): Float64Array | null {
  const m = Float64Array.from(a);
  const v = Float64Array.from(b);
  for (let col = 0; col < k; col++) {
    let pivot = col;
    for (let row = col + 1; row < k; row++) if (Math.abs(m[row * k + col]!) > Math.abs(m[pivot * k + col]!)) pivot = row;
    if (Math.abs(m[pivot * k + col]!) < 1e-9) return null;
    if (pivot !== col) {
      for (let j = 0; j < k; j++) [m[col * k + j], m[pivot * k + j]] = [m[pivot * k + j]!, m[col * k + j]!];
      [v[col], v[pivot]] = [v[pivot]!, v[col]!];
    }
    for (let row = col + 1; row < k; row++) {
      const f = m[row * k + col]! / m[col * k + col]!;
      for (let j = col; j < k; j++) m[row * k + j] = m[row * k + j]! - f * m[col * k + j]!;
      v[row] = v[row]! - f * v[col]!;
    }
  }
  const x = new Float64Array(k);
  for (let row = k - 1; row >= 0; row--) {
    let sum = v[row]!;
    for (let j = row + 1; j < k; j++) sum -= m[row * k + j]! * x[j]!;
    x[row] = sum / m[row * k + row]!;
  }
  return x;
}

interface Samples {
  x: Float64Array;
  y: Float64Array;
  rgb: Float64Array;
  count: number;
}

/** Normalised coordinate of pixel centre i of n: -1 at the first edge, 1 at the last. */
const coordinate = (i: number, n: number) => ((i + 0.5) / n) * 2 - 1;

/** The pixels of a band along the border, `band` pixels wide, taking every `step`-th pixel. */
function borderSamples(data: Uint8Array, width: number, height: number, band: number, step = 1): Samples {
  const xs: number[] = [];
  const ys: number[] = [];
  const rgb: number[] = [];
  const take = (x: number, y: number) => {
    const i = (y * width + x) * 3;
    xs.push(coordinate(x, width));
    ys.push(coordinate(y, height));
    rgb.push(data[i]!, data[i + 1]!, data[i + 2]!);
  };
  for (let y = 0; y < height; y += step) {
    if (y < band || y >= height - band) {
      for (let x = 0; x < width; x += step) take(x, y);
    } else {
      for (let x = 0; x < Math.min(band, width); x += step) take(x, y);
      for (let x = Math.max(band, width - band); x < width; x += step) take(x, y);
    }
  }
  return { x: Float64Array.from(xs), y: Float64Array.from(ys), rgb: Float64Array.from(rgb), count: xs.length };
}

function fitBasis(samples: Samples, weights: Uint8Array, basis: number): Float64Array | null {
  const t = new Float64Array(6);
  const ata = new Float64Array(basis * basis);
  const atb = [new Float64Array(basis), new Float64Array(basis), new Float64Array(basis)];
  for (let s = 0; s < samples.count; s++) {
    if (!weights[s]) continue;
    terms(samples.x[s]!, samples.y[s]!, t);
    for (let i = 0; i < basis; i++) {
      for (let j = 0; j < basis; j++) ata[i * basis + j] = ata[i * basis + j]! + t[i]! * t[j]!;
      for (let c = 0; c < 3; c++) atb[c]![i] = atb[c]![i]! + t[i]! * samples.rgb[s * 3 + c]!;
    }
  }
  const coefficients = new Float64Array(3 * basis);
  for (let c = 0; c < 3; c++) {
    const solution = solve(ata, atb[c]!, basis);
    if (!solution) return null;
    coefficients.set(solution, c * basis);
  }
  return coefficients;
}

/** Largest per-channel difference of each sample from the model. */
function residuals(samples: Samples, coefficients: Float64Array, basis: number): Float64Array {
  const t = new Float64Array(6);
  const out = new Float64Array(samples.count);
  for (let s = 0; s < samples.count; s++) {
    terms(samples.x[s]!, samples.y[s]!, t);
    let worst = 0;
    for (let c = 0; c < 3; c++) {
      let predicted = 0;
      for (let k = 0; k < basis; k++) predicted += coefficients[c * basis + k]! * t[k]!;
      worst = Math.max(worst, Math.abs(samples.rgb[s * 3 + c]! - predicted));
    }
    out[s] = worst;
  }
  return out;
}

function quantile(values: Float64Array, fraction: number): number {
  if (values.length === 0) return 0;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))]!;
}

interface Fit {
  coefficients: Float64Array;
  basis: 1 | 3 | 6;
  inliers: number;
  residual: number;
}

/** Robust fit of one basis: least squares, drop samples far from the fit, refit; five rounds. */
function robustFit(samples: Samples, basis: 1 | 3 | 6): Fit | null {
  const weights = new Uint8Array(samples.count).fill(1);
  let coefficients: Float64Array | null = null;
  let limit = Infinity;
  for (let round = 0; round < 5; round++) {
    coefficients = fitBasis(samples, weights, basis);
    if (!coefficients) return null;
    const r = residuals(samples, coefficients, basis);
    const kept = r.filter((_, s) => weights[s] === 1);
    limit = Math.max(6, 3 * 1.4826 * quantile(kept, 0.5));
    for (let s = 0; s < samples.count; s++) weights[s] = r[s]! <= limit ? 1 : 0;
  }
  const r = residuals(samples, coefficients!, basis);
  const inside = r.filter((value) => value <= limit);
  return { coefficients: coefficients!, basis, inliers: inside.length / samples.count, residual: quantile(inside, 0.5) * 1.4826 };
}

/** Residual (0-255, robust spread on the reduced copy) above which a border is too textured to be a plain background. */
const MAX_RESIDUAL = 5;
/** Share of the border that must agree with the model (the object may cover the rest). */
const MIN_INLIERS = 0.6;

/** Fits the background model to the image border. */
export async function fitBackgroundModel(image: RgbImage): Promise<BackgroundModel> {
  const scale = Math.min(1, FIT_SIZE / Math.max(image.width, image.height));
  const width = Math.max(1, Math.round(image.width * scale));
  const height = Math.max(1, Math.round(image.height * scale));
  let small = image.data;
  if (width !== image.width || height !== image.height) {
    const { data } = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 }, limitInputPixels: false })
      .resize(width, height, { fit: 'fill', kernel: 'cubic' })
      .raw()
      .toBuffer({ resolveWithObject: true });
    small = new Uint8Array(data.buffer, data.byteOffset, data.length);
  }
  const band = Math.max(2, Math.round(Math.max(width, height) * 0.03));
  const samples = borderSamples(small, width, height, band);
  const fits = BASES.map((basis) => robustFit(samples, basis)).filter((fit): fit is Fit => fit !== null);
  // The simplest basis whose residual is close to the best one's.
  const best = Math.min(...fits.map((fit) => fit.residual));
  const chosen = fits.find((fit) => fit.inliers >= MIN_INLIERS && fit.residual <= best * 1.25 + 0.5) ?? fits[fits.length - 1]!;
  const model: BackgroundModel = {
    kind: chosen.basis === 1 ? 'plain' : 'gradient',
    basis: chosen.basis,
    coefficients: chosen.coefficients,
    fits: chosen.inliers >= MIN_INLIERS && chosen.residual <= MAX_RESIDUAL,
    inliers: chosen.inliers,
    residual: chosen.residual,
    noise: 0,
  };
  model.noise = borderNoise(image, model, band / width);
  return model;
}

/** Fills `out` (3 x width, interleaved) with the model's background colour along row y. */
export function modelRow(model: BackgroundModel, y: number, width: number, height: number, out: Float32Array): Float32Array {
  const { basis, coefficients: k } = model;
  const v = coordinate(y, height);
  for (let c = 0; c < 3; c++) {
    const o = c * basis;
    // Terms in y are constant along the row.
    const constant = k[o]! + (basis > 1 ? k[o + 2]! * v : 0) + (basis > 3 ? k[o + 4]! * v * v : 0);
    const linear = basis > 1 ? k[o + 1]! + (basis > 3 ? k[o + 5]! * v : 0) : 0;
    const square = basis > 3 ? k[o + 3]! : 0;
    for (let x = 0; x < width; x++) {
      const u = coordinate(x, width);
      out[x * 3 + c] = constant + linear * u + square * u * u;
    }
  }
  return out;
}

/** 99th percentile of the full-size border's distance from the model, over the samples that agree with it. */
function borderNoise(image: RgbImage, model: BackgroundModel, bandFraction: number): number {
  const { width, height, data } = image;
  const band = Math.max(2, Math.round(Math.max(width, height) * bandFraction));
  const step = Math.max(1, Math.floor(Math.sqrt((2 * band * (width + height)) / 40000)));
  const samples = borderSamples(data, width, height, band, step);
  const all = residuals(samples, model.coefficients, model.basis);
  const limit = Math.max(12, quantile(all, 0.5) * 4);
  return quantile(all.filter((d) => d <= limit), 0.99);
}

/** Full-size distance from the model (largest per-channel difference, 0-255). */
export function distanceFromModel(image: RgbImage, model: BackgroundModel): Uint8Array {
  const { width, height, data } = image;
  const distance = new Uint8Array(width * height);
  const row = new Float32Array(width * 3);
  for (let y = 0; y < height; y++) {
    modelRow(model, y, width, height, row);
    for (let x = 0, i = y * width; x < width; x++, i++) {
      let worst = 0;
      for (let c = 0; c < 3; c++) worst = Math.max(worst, Math.abs(data[i * 3 + c]! - row[x * 3 + c]!));
      distance[i] = worst > 255 ? 255 : worst;
    }
  }
  return distance;
}

export interface PlainThresholds {
  /** Distance at or below which a pixel is background. */
  low: number;
  /** Distance from which a pixel is certainly object. */
  high: number;
}

export function plainThresholds(model: BackgroundModel): PlainThresholds {
  const low = Math.max(8, model.noise * 1.15 + 2);
  return { low, high: Math.max(low + 14, low * 2) };
}

/** Alpha of the plain cut-out from the distance plane; `distance` is left unchanged. */
export function plainAlpha(distance: Uint8Array, width: number, height: number, thresholds: PlainThresholds): Uint8Array {
  const n = width * height;
  const { low, high } = thresholds;
  const middle = Math.round((low + high) / 2);
  // Object / background by the middle threshold, then specks removed and small holes filled.
  const object = new Uint8Array(n);
  for (let i = 0; i < n; i++) object[i] = distance[i]! >= middle ? 1 : 0;
  const speck = Math.max(12, Math.round(n * 2e-5));
  const hole = Math.max(24, Math.round(n * 2e-4));
  const objects = findComponents(object, width, height, { threshold: 1, diagonal: true });
  paintComponents(object, width, objects, (label) => objects.area[label]! < speck, 0);
  const holes = findComponents(object, width, height, { threshold: 1, invert: true, diagonal: false });
  paintComponents(object, width, holes, (label) => holes.touchesBorder[label] === 0 && holes.area[label]! < hole, 1);

  // Opaque inside, transparent outside; within 2 px of the outline alpha follows the distance, scaled by the
  // strongest contrast within 2 px (the object's own colour against the background), so edges stay soft.
  const alpha = new Uint8Array(n);
  for (let i = 0; i < n; i++) alpha[i] = object[i] ? 255 : 0;
  const band = outlineBand(object, width, height, BAND);
  for (let y = 0; y < height; y++) {
    for (let x = 0, i = y * width; x < width; x++, i++) {
      if (!band[i]) continue;
      const top = Math.max(high, localMax(distance, width, height, x, y, BAND) * 0.9);
      const a = (distance[i]! - low) / (top - low);
      alpha[i] = a <= 0 ? 0 : a >= 1 ? 255 : Math.round(a * 255);
    }
  }
  return alpha;
}

/** Half-width of the soft band along the outline, in pixels. */
const BAND = 2;

/** 1 for pixels within `reach` (Chebyshev) of a place where the 0/1 mask changes between 4-neighbours. */
export function outlineBand(mask: Uint8Array, width: number, height: number, reach: number): Uint8Array {
  const band = new Uint8Array(width * height);
  const mark = (x: number, y: number) => {
    for (let yy = Math.max(0, y - reach); yy <= Math.min(height - 1, y + reach); yy++) {
      band.fill(1, yy * width + Math.max(0, x - reach), yy * width + Math.min(width - 1, x + reach) + 1);
    }
  };
  for (let y = 0; y < height; y++) {
    for (let x = 0, i = y * width; x < width; x++, i++) {
      const v = mask[i];
      if ((x + 1 < width && mask[i + 1] !== v) || (y + 1 < height && mask[i + width] !== v)) mark(x, y);
    }
  }
  return band;
}

/** The largest value within `reach` of (x, y). */
function localMax(plane: Uint8Array, width: number, height: number, x: number, y: number, reach: number): number {
  let best = 0;
  for (let yy = Math.max(0, y - reach); yy <= Math.min(height - 1, y + reach); yy++) {
    const end = yy * width + Math.min(width - 1, x + reach);
    for (let k = yy * width + Math.max(0, x - reach); k <= end; k++) if (plane[k]! > best) best = plane[k]!;
  }
  return best;
}

/**
 * A pixel that is the background colour scaled down (a shadow, or a grey object on a light ground): its colour is
 * k times the model's, for k between 0.25 and 0.97, within `tolerance` plus 5% of the shadowed colour.
 */
function isShadow(r: number, g: number, b: number, br: number, bg: number, bb: number, tolerance: number): boolean {
  const norm = br * br + bg * bg + bb * bb;
  if (norm < 1) return false;
  const k = (r * br + g * bg + b * bb) / norm;
  if (k < 0.25 || k > 0.97) return false;
  const limit = tolerance + 0.05 * k * Math.max(br, bg, bb);
  return Math.max(Math.abs(r - k * br), Math.abs(g - k * bg), Math.abs(b - k * bb)) <= limit;
}

/** A shadow-like region whose edge rises by less than this share of its full contrast within 2 px is a shadow. */
const SHADOW_EDGE = 0.5;

/**
 * Cast shadows: regions of pixels that are only a darker shade of the background, that lie against the background
 * for at least a fifth of their outline, and whose edge there is soft (a shadow's penumbra; a grey object's edge
 * against the background is sharp). Returns 1 for shadow pixels.
 */
export function castShadows(image: RgbImage, model: BackgroundModel, distance: Uint8Array, alpha: Uint8Array, low: number): Uint8Array {
  const { width, height, data } = image;
  const n = width * height;
  const shadowLike = new Uint8Array(n);
  const tolerance = model.noise + 6;
  const row = new Float32Array(width * 3);
  for (let y = 0; y < height; y++) {
    modelRow(model, y, width, height, row);
    for (let x = 0, i = y * width; x < width; x++, i++) {
      if (alpha[i] === 0) continue;
      shadowLike[i] = isShadow(data[i * 3]!, data[i * 3 + 1]!, data[i * 3 + 2]!, row[x * 3]!, row[x * 3 + 1]!, row[x * 3 + 2]!, tolerance) ? 1 : 0;
    }
  }
  const regions = findComponents(shadowLike, width, height, { threshold: 1, diagonal: true });
  const rise = new Float64Array(regions.count);
  const edge = new Float64Array(regions.count);
  const outline = new Float64Array(regions.count);
  const peak = new Float64Array(regions.count);
  for (let k = 0; k < regions.runs; k++) {
    const label = regions.runLabel[k]!;
    const y = regions.runY[k]!;
    for (let x = regions.runStart[k]!; x < regions.runEnd[k]!; x++) {
      const i = y * width + x;
      peak[label] = Math.max(peak[label]!, distance[i]!);
      const inside = x > 0 && shadowLike[i - 1] && x < width - 1 && shadowLike[i + 1] && y > 0 && shadowLike[i - width] && y < height - 1 && shadowLike[i + width];
      if (!inside) outline[label] = outline[label]! + 1;
      const againstBackground =
        (x > 0 && alpha[i - 1] === 0) || (x < width - 1 && alpha[i + 1] === 0) || (y > 0 && alpha[i - width] === 0) || (y < height - 1 && alpha[i + width] === 0);
      if (!againstBackground) continue;
      edge[label] = edge[label]! + 1;
      rise[label] = rise[label]! + localMax(distance, width, height, x, y, BAND) - distance[i]!;
    }
  }
  const shadows = new Uint8Array(n);
  paintComponents(
    shadows,
    width,
    regions,
    (label) => edge[label]! >= 0.2 * outline[label]! && rise[label]! / edge[label]! < SHADOW_EDGE * Math.max(1, peak[label]! - low),
    1,
  );
  return shadows;
}

/** The plain-background cut-out: alpha 0-255, cast shadows removed. Fits the model first unless given one. */
export async function plainCutout(image: RgbImage, model?: BackgroundModel): Promise<{ alpha: Uint8Array; model: BackgroundModel; shadows: boolean }> {
  const fitted = model ?? (await fitBackgroundModel(image));
  const distance = distanceFromModel(image, fitted);
  const thresholds = plainThresholds(fitted);
  const alpha = plainAlpha(distance, image.width, image.height, thresholds);
  const shadows = castShadows(image, fitted, distance, alpha, thresholds.low);
  let any = false;
  for (let i = 0; i < alpha.length; i++) {
    if (shadows[i]) {
      alpha[i] = 0;
      any = true;
    }
  }
  return { alpha, model: fitted, shadows: any };
}

/**
 * Removes the background's colour from semi-transparent edge pixels (colour decontamination): an edge pixel is
 * alpha * F + (1 - alpha) * B, so F = (I - (1 - alpha) * B) / alpha with B from the model. Without it, the old
 * background shows as a thin fringe when the cut-out is laid on another colour. Overwrites `image.data`.
 */
export function unmixEdges(image: RgbImage, alpha: Uint8Array, model: BackgroundModel): void {
  const { width, height, data } = image;
  const row = new Float32Array(width * 3);
  for (let y = 0; y < height; y++) {
    let start = y * width;
    const end = start + width;
    while (start < end && (alpha[start] === 0 || alpha[start] === 255)) start++;
    if (start === end) continue;
    modelRow(model, y, width, height, row);
    for (let x = start - y * width, i = start; x < width; x++, i++) {
      const a = alpha[i]!;
      if (a === 0 || a === 255) continue;
      const share = a / 255;
      for (let c = 0; c < 3; c++) {
        const f = (data[i * 3 + c]! - (1 - share) * row[x * 3 + c]!) / share;
        data[i * 3 + c] = f <= 0 ? 0 : f >= 255 ? 255 : Math.round(f);
      }
    }
  }
}
