import { boxMean, linearTaps, maxFilter, minFilter } from './background/filters.js';
import type { GrayImage } from './image-input.js';

/*
 * A phone photo of a signed page is not lit evenly: a cast shadow (the phone, a hand), vignetting, light falling off
 * across the sheet. One global threshold then takes the darker part of the paper for ink, and the ink map the model
 * reads is a grey wedge with the signature somewhere in it. Scans (what the model was trained on) are lit evenly.
 *
 * So the paper is estimated on a sampled copy of the image: ink closed away with a max-then-min filter, then
 * smoothed. Twice, at two scales:
 *  - coarse (a closing a sixth of the image wide) to decide: the paper's darkest part (1st percentile) against its
 *    brightest (99th). Evenly lit paper is left as it is, so scans, and with them the model's training data, go
 *    through the preparation unchanged. The closing is wide so that a dense scribble, whose crossings a narrow one
 *    cannot remove, is not taken for a shadow;
 *  - fine (a closing about 1/20 of the image wide, on a copy twice as detailed) to correct: every pixel is divided by
 *    the paper under it, so the paper becomes evenly bright and the ink keeps its contrast with the paper around it.
 *    Narrow enough to follow the edge and the tip of a cast shadow.
 */

interface PaperScale {
  /** Longest side of the sampled copy. */
  side: number;
  /** Radius of the closing, as a share of the sampled copy's longer side (at least 3 samples). */
  reach: number;
}

const DECIDE: PaperScale = { side: 128, reach: 1 / 12 };
const CORRECT: PaperScale = { side: 256, reach: 1 / 40 };
/** Radius of the smoothing after the closing, against paper texture and noise. */
const SMOOTHING = 2;
/**
 * Paper whose darkest part is at least this share of its brightest counts as evenly lit. On the coarse scale every
 * scan of both training sets is at 0.996 or above; the synthetic phone photos of models/README.md at 0.69-0.72 (median),
 * all but 2 of 1,682 below 0.9.
 */
const FLAT_SHARE = 0.9;

interface Sampled {
  data: Uint8Array;
  width: number;
  height: number;
}

/**
 * The image sampled on a grid of whole steps, so that its longer side is at most `side`; each sample is the mean of
 * the 2x2 pixels at its grid point. Sampling rather than averaging whole blocks: it is the paper that is wanted, so
 * missing a stroke costs nothing, and it reads a few thousand pixels instead of every one.
 */
function sample({ data, width, height }: GrayImage, side: number): Sampled {
  const step = Math.max(1, Math.ceil(Math.max(width, height) / side));
  const w = Math.ceil(width / step);
  const h = Math.ceil(height / step);
  const sampled = new Uint8Array(w * h);
  for (let sy = 0; sy < h; sy++) {
    const y = sy * step;
    const below = y + 1 < height ? width : 0;
    for (let sx = 0; sx < w; sx++) {
      const i = y * width + sx * step;
      const right = sx * step + 1 < width ? 1 : 0;
      sampled[sy * w + sx] = (data[i]! + data[i + right]! + data[i + below]! + data[i + below + right]! + 2) >> 2;
    }
  }
  return { data: sampled, width: w, height: h };
}

/** The whole grey level below which `share` of the values lie (a histogram: the values are levels 0-255). */
function percentile(values: Float32Array, share: number): number {
  const counts = new Uint32Array(256);
  for (let i = 0; i < values.length; i++) counts[Math.min(255, Math.round(values[i]!))]!++;
  const rank = Math.floor(share * values.length);
  let level = 0;
  for (let seen = counts[0]!; seen <= rank && level < 255; seen += counts[++level]!);
  return level;
}

/** The paper's brightness on a sampled copy at one scale, and its darkest and brightest levels. */
function estimatePaper(image: GrayImage, scale: PaperScale): { paper: Float32Array; width: number; height: number; darkest: number; brightest: number } {
  const { data, width, height } = sample(image, scale.side);
  const reach = Math.max(3, Math.round(scale.reach * Math.max(width, height)));
  const closed = minFilter(maxFilter(data, width, height, reach), width, height, reach);
  const paper = boxMean(Float32Array.from(closed), width, height, SMOOTHING);
  return { paper, width, height, darkest: percentile(paper, 0.01), brightest: percentile(paper, 0.99) };
}

/**
 * The image with the light evened out (see above), or the same image when its paper is evenly lit. The paper is
 * brought to its brightest level; ink keeps its contrast with the paper around it.
 */
export function evenOutLight(image: GrayImage): GrayImage {
  const coarse = estimatePaper(image, DECIDE);
  if (coarse.brightest <= 0 || coarse.darkest >= FLAT_SHARE * coarse.brightest) return image;
  const { paper, width, height, brightest } = estimatePaper(image, CORRECT);
  // The gain that brings the paper to its brightest level, upsampled bilinearly: the sampled rows are widened once,
  // then each output row is a blend of two of them, and each pixel one multiplication.
  const gain = paper.map((level) => brightest / Math.max(1, level));
  const xs = linearTaps(width, image.width);
  const next = width > 1 ? 1 : 0;
  const wide = new Float32Array(height * image.width);
  for (let sy = 0; sy < height; sy++) {
    for (let x = 0; x < image.width; x++) {
      const i = sy * width + xs.index[x]!;
      wide[sy * image.width + x] = gain[i]! + (gain[i + next]! - gain[i]!) * xs.weight[x]!;
    }
  }
  const ys = linearTaps(height, image.height);
  const out = new Uint8Array(image.data.length);
  for (let y = 0; y < image.height; y++) {
    const upper = ys.index[y]! * image.width;
    const lower = height > 1 ? upper + image.width : upper;
    const wy = ys.weight[y]!;
    for (let x = 0, i = y * image.width; x < image.width; x++, i++) {
      const rowGain = wide[upper + x]! + (wide[lower + x]! - wide[upper + x]!) * wy;
      const level = (image.data[i]! * rowGain + 0.5) | 0;
      out[i] = level > 255 ? 255 : level;
    }
  }
  return { data: out, width: image.width, height: image.height };
}
