/**
 * The background model of the plain cut-out (plain.ts) and of photo mode's repair: the image border is taken to
 * be background, and a colour model fitted to it predicts the background everywhere.
 *
 * - Model: per channel, a polynomial in (x, y): constant ('plain'), linear ('gradient') or quadratic (vignetting,
 *   radial gradients), the simplest that fits. Fitted on a reduced copy by iteratively reweighted least squares
 *   with outliers (an object touching the border) dropped; it "fits" when most of the border agrees with it
 *   within a small residual. A textured border does not fit.
 * - Distance: the largest per-channel difference from the predicted background, at full size.
 */
import sharp from 'sharp';
import type { RgbImage } from '../image-input.js';

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
