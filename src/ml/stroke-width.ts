/**
 * Stroke width normalisation for digits. A pen on paper, or a thin canvas brush, leaves strokes 3-5% of the
 * digit's height wide; shrunk to MNIST's 20 px box they become faint lines about 1 px wide, where MNIST's median
 * stroke is 14% of the box. Strokes thinner than nearly all of MNIST's are therefore widened before the digit is
 * shrunk. Measured on pendigits-canvas (models/README.md): widening to MNIST's median closed the small loops of
 * more pen-written 9s (read as 3s) than widening to its 10th percentile, which gained 0.3 points with 2.0.0.
 */

import { resample, type FloatImage } from './float-image.js';

/**
 * Stroke width over the longer side of the digit's box, about the 10th percentile over 20,000 MNIST training
 * digits (28x28, ink >= 0.5, strokeWidth below): percentiles 10, 50 and 90 are 0.109, 0.143 and 0.199.
 */
export const THIN_STROKE_RATIO = 0.11;

/** Pixels at or above this are the core of a stroke; below it are anti-aliased edges. */
const CORE = 0.5;

/**
 * The typical stroke width in pixels, from the core pixels and how many survive one 4-neighbour erosion: a stroke
 * of width w and length L has about w*L core pixels of which (w - 2)*L survive, so w = 2A / (A - eroded). It
 * cannot tell widths under 2 px apart, which is finer than any shrunk digit needs.
 */
export function strokeWidth({ data, width, height }: FloatImage): number {
  let core = 0;
  let interior = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      if (data[i]! < CORE) continue;
      core++;
      const inside = x > 0 && x < width - 1 && y > 0 && y < height - 1
        && data[i - 1]! >= CORE && data[i + 1]! >= CORE && data[i - width]! >= CORE && data[i + width]! >= CORE;
      if (inside) interior++;
    }
  }
  return core === 0 ? 0 : (2 * core) / (core - interior);
}

/** Widening works on the digit shrunk to at most this side (4x MNIST's box): as exact after the final shrink, and cheap. */
const WIDENING_SIDE = 80;

/**
 * Widens the strokes of a digit whose stroke width is below `targetRatio` of its longer side, so that afterwards
 * it is about that share (widening also grows the box, hence the 1 - target). A larger digit is first shrunk to
 * WIDENING_SIDE by area averaging, as the final shrink will. Every pixel within the radius of a stroke core becomes ink,
 * with a one-pixel soft edge; the result is cropped to its ink again. Digits already that thick, or without a
 * core, are returned as they are.
 */
export function widenThinStrokes(digit: FloatImage, targetRatio = THIN_STROKE_RATIO): FloatImage {
  const measured = strokeWidth(digit);
  const fullSide = Math.max(digit.width, digit.height);
  if (measured === 0 || measured >= targetRatio * fullSide) return digit;
  const scale = Math.min(1, WIDENING_SIDE / fullSide);
  const small = scale < 1 ? resample(digit, Math.max(1, Math.round(digit.width * scale)), Math.max(1, Math.round(digit.height * scale))) : digit;
  const side = Math.max(small.width, small.height);
  const radius = (targetRatio * side - measured * scale) / (2 * (1 - targetRatio));
  const pad = Math.ceil(radius) + 1;
  const padded = { data: new Float32Array((small.width + 2 * pad) * (small.height + 2 * pad)), width: small.width + 2 * pad, height: small.height + 2 * pad };
  for (let y = 0; y < small.height; y++) {
    padded.data.set(small.data.subarray(y * small.width, (y + 1) * small.width), (y + pad) * padded.width + pad);
  }
  const distance = distanceToCore(padded);
  for (let i = 0; i < padded.data.length; i++) {
    const widened = Math.min(1, Math.max(0, radius + 0.5 - distance[i]!));
    if (widened > padded.data[i]!) padded.data[i] = widened;
  }
  return cropToInk(padded);
}

/**
 * Distance from every pixel to the nearest core pixel, by the two-pass chamfer transform with steps 1 and sqrt(2):
 * within 8% of the Euclidean distance, in time proportional to the pixels whatever the radius.
 */
function distanceToCore({ data, width, height }: FloatImage): Float32Array {
  const far = width + height;
  // A plain loop: Float32Array.from with a mapping function is some 15x slower in V8 (7 ms for 28,000 pixels).
  const distance = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) distance[i] = data[i]! >= CORE ? 0 : far;
  const diagonal = Math.SQRT2;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      let d = distance[i]!;
      if (x > 0) d = Math.min(d, distance[i - 1]! + 1);
      if (y > 0) {
        d = Math.min(d, distance[i - width]! + 1);
        if (x > 0) d = Math.min(d, distance[i - width - 1]! + diagonal);
        if (x < width - 1) d = Math.min(d, distance[i - width + 1]! + diagonal);
      }
      distance[i] = d;
    }
  }
  for (let y = height - 1; y >= 0; y--) {
    for (let x = width - 1; x >= 0; x--) {
      const i = y * width + x;
      let d = distance[i]!;
      if (x < width - 1) d = Math.min(d, distance[i + 1]! + 1);
      if (y < height - 1) {
        d = Math.min(d, distance[i + width]! + 1);
        if (x < width - 1) d = Math.min(d, distance[i + width + 1]! + diagonal);
        if (x > 0) d = Math.min(d, distance[i + width - 1]! + diagonal);
      }
      distance[i] = d;
    }
  }
  return distance;
}

function cropToInk(image: FloatImage): FloatImage {
  const { data, width, height } = image;
  let [left, right, top, bottom] = [width, -1, height, -1];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (data[y * width + x]! <= 0) continue;
      if (x < left) left = x;
      if (x > right) right = x;
      if (y < top) top = y;
      if (y > bottom) bottom = y;
    }
  }
  const cropped = { data: new Float32Array((right - left + 1) * (bottom - top + 1)), width: right - left + 1, height: bottom - top + 1 };
  for (let y = top; y <= bottom; y++) {
    cropped.data.set(data.subarray(y * width + left, y * width + right + 1), (y - top) * cropped.width);
  }
  return cropped;
}
