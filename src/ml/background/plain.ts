/**
 * The classical cut-out for objects on a plain or smoothly varying background (a studio backdrop, a table top,
 * a wall, a sheet of card): what differs from the background model (border-model.ts) is the object.
 *
 * - Mask: thresholds from the border's own noise; specks removed, small holes filled (big enclosed holes, such as
 *   the inside of a ring, stay background); alpha inside the object is opaque, and across its outline follows the
 *   distance, scaled by the object's contrast nearby, so anti-aliased edges stay soft.
 */
import sharp from 'sharp';
import type { RgbImage } from '../image-input.js';
import { findComponents, paintComponents } from './filters.js';
import { fitBackgroundModel, modelRow, distanceFromModel, type BackgroundModel } from './border-model.js';

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
