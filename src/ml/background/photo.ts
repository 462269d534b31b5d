/**
 * Photo mode: the salient object, found by U²-Net (u2netp, 320x320), its mask brought back to full size along
 * the photo's own edges, and repaired by the plain-background cut-out when the border allows one.
 *
 * - Input as rembg prepares it for u2net: resized to 320x320 (Lanczos), divided by its maximum, then ImageNet
 *   mean/std per channel, CHW. Output '1959' (the fused map d0, already through a sigmoid), min-max normalised.
 * - Refinement: a colour-guided filter (filters.ts) with the photo as guide, computed at up to 1024 px and applied
 *   at full size from upsampled coefficients, so the mask's edges follow the object's instead of 320-px blocks.
 * - Repair (border fits a plain or smooth colour model, border-model.ts): where the photo matches the background colour
 *   the result is transparent (the inside of a ring, halos the network leaves around the outline); regions that
 *   differ from the background are kept with the plain cut-out's crisp edges when the network agrees they are
 *   part of the object; pixels that are only a darker shade of the background (shadows) keep the network's verdict.
 */
import sharp from 'sharp';
import type { RgbImage } from '../image-input.js';
import { guidedFilterCoefficients, resizePlane, RowUpsampler } from './filters.js';
import type { BackgroundModel } from './border-model.js';
import { plainCutout } from './plain.js';

export const U2NET_SIZE = 320;
const MEAN = [0.485, 0.456, 0.406] as const;
const STD = [0.229, 0.224, 0.225] as const;

/** The network's input: float32 [3, 320, 320]. */
export async function u2netInput(image: RgbImage): Promise<Float32Array> {
  const { data } = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 }, limitInputPixels: false })
    .resize(U2NET_SIZE, U2NET_SIZE, { fit: 'fill', kernel: 'lanczos3' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  let max = 0;
  for (let i = 0; i < data.length; i++) max = Math.max(max, data[i]!);
  const scale = 1 / Math.max(max, 1e-6);
  const plane = U2NET_SIZE * U2NET_SIZE;
  const input = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) input[c * plane + i] = (data[i * 3 + c]! * scale - MEAN[c]!) / STD[c]!;
  }
  return input;
}

/** Min-max normalisation of the network's map, as rembg does before using it. */
export function normaliseMask(output: Float32Array): Float32Array {
  let min = Infinity;
  let max = -Infinity;
  for (const v of output) {
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  const span = max - min;
  const out = new Float32Array(output.length);
  if (span < 1e-6) return out.fill(min >= 0.5 ? 1 : 0);
  for (let i = 0; i < output.length; i++) out[i] = (output[i]! - min) / span;
  return out;
}

/** Longest side at which the guided filter's coefficients are computed. */
const GUIDE_SIZE = 1024;

export interface RefineOptions {
  /** Window radius as a share of the guide's longest side. */
  radius?: number;
  /** Regularisation: larger values smooth more and follow colour edges less. */
  epsilon?: number;
}

/** The 320x320 mask (0-1) brought to full size along the photo's edges: alpha 0-255. */
export async function refineMask(image: RgbImage, mask: Float32Array, maskSize: number, options: RefineOptions = {}): Promise<Uint8Array> {
  const { radius = 1 / 100, epsilon = 1e-3 } = options;
  const { width, height } = image;
  const scale = Math.min(1, GUIDE_SIZE / Math.max(width, height));
  const gw = Math.max(1, Math.round(width * scale));
  const gh = Math.max(1, Math.round(height * scale));
  let guideData = image.data;
  if (gw !== width || gh !== height) {
    const { data } = await sharp(image.data, { raw: { width, height, channels: 3 }, limitInputPixels: false })
      .resize(gw, gh, { fit: 'fill', kernel: 'cubic' })
      .raw()
      .toBuffer({ resolveWithObject: true });
    guideData = new Uint8Array(data.buffer, data.byteOffset, data.length);
  }
  const n = gw * gh;
  const guide = [new Float32Array(n), new Float32Array(n), new Float32Array(n)] as [Float32Array, Float32Array, Float32Array];
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) guide[c]![i] = guideData[i * 3 + c]! / 255;
  const p = resizePlane(mask, maskSize, maskSize, gw, gh);
  const r = Math.max(2, Math.round(Math.max(gw, gh) * radius));
  const { ar, ag, ab, b } = guidedFilterCoefficients(guide, p, gw, gh, r, epsilon);

  // q = a . I + b at full size, with a and b upsampled row by row.
  const alpha = new Uint8Array(width * height);
  const up = new RowUpsampler(gw, gh, width, height);
  const rows = [new Float32Array(width), new Float32Array(width), new Float32Array(width), new Float32Array(width)];
  for (let y = 0; y < height; y++) {
    up.row(ar, y, rows[0]!);
    up.row(ag, y, rows[1]!);
    up.row(ab, y, rows[2]!);
    up.row(b, y, rows[3]!);
    for (let x = 0, i = y * width; x < width; x++, i++) {
      const q = (rows[0]![x]! * image.data[i * 3]! + rows[1]![x]! * image.data[i * 3 + 1]! + rows[2]![x]! * image.data[i * 3 + 2]!) / 255 + rows[3]![x]!;
      alpha[i] = q <= 0 ? 0 : q >= 1 ? 255 : Math.round(q * 255);
    }
  }
  return alpha;
}

/**
 * Combines the network's refined mask (0-255, full size; overwritten with the result) with the plain-background
 * cut-out, see the note at the top. The cut-out's edges are used where the network sees at least a quarter of
 * an object; elsewhere the result is transparent.
 */
export async function repairWithPlainBackground(image: RgbImage, network: Uint8Array, model: BackgroundModel): Promise<Uint8Array> {
  const { alpha: plain } = await plainCutout(image, model);
  for (let i = 0; i < network.length; i++) network[i] = network[i]! >= NETWORK_GATE ? plain[i]! : 0;
  return network;
}

/** Refined network alpha (0-255) from which the plain cut-out's verdict is taken: a quarter, lenient on purpose. */
const NETWORK_GATE = 64;
