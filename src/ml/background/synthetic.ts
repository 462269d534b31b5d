/**
 * A test set for background removal made by code: every image comes with its true mask and the same seed
 * always gives the same images (a seeded generator; shapes rasterised by sharp's SVG renderer, pixels composed
 * here). Used by test/ml/background*.test.ts, `npm run eval:background` and bench/background.ts.
 *
 * Ink: signature- and handwriting-like strokes (anti-aliased, pressure varying along the stroke, black / blue /
 * red / pencil inks) on paper with texture, photographed under uneven light (gradient, vignetting, a soft cast
 * shadow, a colour cast, sensor noise, JPEG), scanned (flat light, PNG), or on a sheet lying on a desk.
 * Objects: discs, rings (with their hole), polygons and blobs with flat, gradient or textured soft colours, on
 * plain, gradient and textured backgrounds; on plain and gradient ones often with a soft drop shadow.
 * The truth is the ink's or the object's coverage >= 0.5; cast and drop shadows are background.
 */
import sharp from 'sharp';
import { seededRandom } from '../../lib/random.js';

export const INK_CATEGORIES = ['signature', 'handwriting', 'scan', 'desk'] as const;
export const OBJECT_CATEGORIES = ['plain', 'gradient', 'textured'] as const;
export type InkCategory = (typeof INK_CATEGORIES)[number];
export type ObjectCategory = (typeof OBJECT_CATEGORIES)[number];
export type SampleCategory = InkCategory | ObjectCategory;

export interface SyntheticImage {
  name: string;
  kind: 'ink' | 'object';
  category: SampleCategory;
  /** The encoded file (JPEG for photographs, PNG otherwise). */
  file: Uint8Array;
  width: number;
  height: number;
  /** 1 where the pixel is foreground (ink or object), 0 elsewhere; width x height. */
  truth: Uint8Array;
  /** What was drawn, for reading failures: e.g. "ring, gradient fill, drop shadow". */
  description: string;
}

export interface SampleSize {
  width?: number;
  height?: number;
}

function sampleSeed(seed: number, category: SampleCategory, index: number): number {
  let h = 2166136261 ^ seed;
  for (const ch of `${category}/${index}`) h = Math.imul(h ^ ch.charCodeAt(0), 16777619);
  return Math.imul(h ^ (h >>> 13), 0x5bd1e995) >>> 0;
}

type Random = () => number;
const between = (random: Random, low: number, high: number) => low + (high - low) * random();
const pick = <T>(random: Random, items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
const clamp255 = (v: number) => (v < 0 ? 0 : v > 255 ? 255 : v);

function gaussian(random: Random): number {
  const u = Math.max(1e-12, random());
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

/** The coverage (0-255) of an SVG drawing's shapes, as a plane. */
async function coverage(width: number, height: number, body: string): Promise<Uint8Array> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${body}</svg>`;
  const { data } = await sharp(Buffer.from(svg), { limitInputPixels: false }).ensureAlpha().extractChannel(3).raw().toBuffer({ resolveWithObject: true });
  return new Uint8Array(data.buffer, data.byteOffset, width * height);
}

async function blurPlane(plane: Uint8Array, width: number, height: number, sigma: number): Promise<Uint8Array> {
  if (sigma < 0.3) return plane;
  const { data } = await sharp(plane, { raw: { width, height, channels: 1 }, limitInputPixels: false })
    .blur(sigma)
    .extractChannel(0)
    .raw()
    .toBuffer({ resolveWithObject: true });
  return new Uint8Array(data.buffer, data.byteOffset, width * height);
}

/** Smooth noise in [-1, 1]: a random grid of `cell`-pixel cells, upsampled with a cubic kernel. */
async function valueNoise(random: Random, width: number, height: number, cell: number): Promise<Float32Array> {
  const gw = Math.max(2, Math.ceil(width / cell) + 1);
  const gh = Math.max(2, Math.ceil(height / cell) + 1);
  const grid = new Uint8Array(gw * gh);
  for (let i = 0; i < grid.length; i++) grid[i] = Math.floor(random() * 256);
  const { data } = await sharp(grid, { raw: { width: gw, height: gh, channels: 1 }, limitInputPixels: false })
    .resize(width, height, { fit: 'fill', kernel: 'cubic' })
    .extractChannel(0)
    .raw()
    .toBuffer({ resolveWithObject: true });
  const out = new Float32Array(width * height);
  for (let i = 0; i < out.length; i++) out[i] = data[i]! / 127.5 - 1;
  return out;
}

async function fractalNoise(random: Random, width: number, height: number, cell: number, octaves: number): Promise<Float32Array> {
  const out = new Float32Array(width * height);
  let amplitude = 1;
  let total = 0;
  for (let o = 0; o < octaves; o++) {
    const layer = await valueNoise(random, width, height, Math.max(2, cell / 2 ** o));
    for (let i = 0; i < out.length; i++) out[i] = out[i]! + layer[i]! * amplitude;
    total += amplitude;
    amplitude *= 0.5;
  }
  for (let i = 0; i < out.length; i++) out[i] = out[i]! / total;
  return out;
}

/** The camera: lens blur (Gaussian, sigma in pixels), then sensor noise (Gaussian, sigma in 0-255 units). */
async function camera(rgb: Uint8Array, width: number, height: number, blur: number, noise: number, random: Random): Promise<Uint8Array> {
  let out = rgb;
  if (blur >= 0.3) {
    const { data } = await sharp(rgb, { raw: { width, height, channels: 3 }, limitInputPixels: false }).blur(blur).raw().toBuffer({ resolveWithObject: true });
    out = new Uint8Array(data.buffer, data.byteOffset, data.length);
  }
  for (let i = 0; i < out.length; i++) out[i] = clamp255(Math.round(out[i]! + noise * gaussian(random)));
  return out;
}

async function encode(rgb: Uint8Array, width: number, height: number, format: 'jpeg' | 'png', quality = 90): Promise<Uint8Array> {
  const image = sharp(rgb, { raw: { width, height, channels: 3 }, limitInputPixels: false });
  const buffer = format === 'jpeg' ? await image.jpeg({ quality }).toBuffer() : await image.png({ compressionLevel: 6 }).toBuffer();
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.length);
}

function truthOf(cover: Uint8Array): Uint8Array {
  const truth = new Uint8Array(cover.length);
  for (let i = 0; i < cover.length; i++) truth[i] = cover[i]! >= 128 ? 1 : 0;
  return truth;
}

// ---------------------------------------------------------------------------------------------------------
// Ink

const fmt = (v: number) => v.toFixed(1);

/**
 * A polyline along a prolate cycloid (x = a t - r sin t): a loop or an arc per letter, like cursive writing.
 * Letters reach the x-height, some an ascender's height; some dip below the line (descenders).
 */
function cursive(random: Random, x0: number, y0: number, length: number, size: number, options: { loopiness: number; slant: number }): [number, number][] {
  const points: [number, number][] = [];
  const letters = Math.max(2, Math.round(length / (size * between(random, 0.7, 1.1))));
  const perLetter = length / letters;
  let drift = 0;
  for (let k = 0; k < letters; k++) {
    const height = random() < 0.25 ? between(random, 1.6, 2.4) : between(random, 0.8, 1.1);
    const descender = random() < 0.15 ? between(random, 0.6, 1.1) : 0;
    const radius = perLetter * options.loopiness * between(random, 0.7, 1.3);
    const steps = Math.max(8, Math.round(perLetter / 2));
    for (let s = 0; s < steps; s++) {
      const t = (s / steps) * 2 * Math.PI;
      const px = x0 + k * perLetter + (s / steps) * perLetter - radius * Math.sin(t);
      const py = y0 + drift - size * height * (1 - Math.cos(t)) * 0.5 + size * descender * Math.max(0, -Math.sin(t));
      points.push([px + options.slant * (y0 - py), py]);
    }
    drift += between(random, -0.05, 0.05) * size;
  }
  return points;
}

function polylinePath(points: [number, number][]): string {
  return points.map(([x, y], i) => `${i === 0 ? 'M' : 'L'}${fmt(x)} ${fmt(y)}`).join(' ');
}

interface InkDrawing {
  /** SVG shapes (strokes, dots) in black; their coverage is the ink. */
  body: string;
  description: string;
}

function signatureDrawing(random: Random, width: number, height: number): InkDrawing {
  const scale = Math.min(width, height);
  const strokeWidth = scale * between(random, 0.004, 0.009);
  const left = width * between(random, 0.12, 0.25);
  const span = width * between(random, 0.45, 0.65);
  const baseline = height * between(random, 0.45, 0.6);
  const size = scale * between(random, 0.1, 0.18);
  const parts: string[] = [];
  const slant = between(random, -0.1, 0.45);
  // A capital: one big loop, then the name in cursive, sometimes a second word, then a flourish.
  const capital: [number, number][] = [];
  const capitalRadius = size * between(random, 0.6, 0.9);
  for (let s = 0; s <= 60; s++) {
    const t = (s / 60) * 2 * Math.PI * 1.15;
    capital.push([left + capitalRadius * 0.6 * Math.sin(t) + slant * capitalRadius * Math.cos(t), baseline - capitalRadius * (1 - Math.cos(t))]);
  }
  parts.push(polylinePath(capital));
  const words = random() < 0.5 ? 1 : 2;
  let x = left + capitalRadius * 0.5;
  for (let w = 0; w < words; w++) {
    const length = (span / words) * between(random, 0.7, 0.95);
    parts.push(polylinePath(cursive(random, x, baseline, length, size * 0.6, { loopiness: between(random, 0.25, 0.6), slant })));
    x += span / words;
  }
  let description = `signature, ${words} word(s)`;
  if (random() < 0.7) {
    const y = baseline + size * between(random, 0.35, 0.6);
    const x1 = left - size * 0.3;
    const x2 = left + span * between(random, 0.8, 1.05);
    parts.push(`M${fmt(x1)} ${fmt(y)} C${fmt(x1 + span * 0.3)} ${fmt(y + size * between(random, -0.4, 0.4))} ${fmt(x2 - span * 0.3)} ${fmt(y - size * between(random, 0, 0.5))} ${fmt(x2)} ${fmt(y - size * 0.2)}`);
    description += ', flourish';
  }
  const body = parts
    .map((d) => `<path d="${d}" fill="none" stroke="#000" stroke-width="${fmt(strokeWidth * between(random, 0.8, 1.2))}" stroke-linecap="round" stroke-linejoin="round"/>`)
    .join('');
  return { body, description };
}

function handwritingDrawing(random: Random, width: number, height: number): InkDrawing {
  const scale = Math.min(width, height);
  const lineHeight = scale * between(random, 0.06, 0.1);
  const size = lineHeight * between(random, 0.45, 0.6);
  const strokeWidth = Math.max(1.4, size * between(random, 0.07, 0.13));
  const slant = between(random, -0.05, 0.35);
  const left = width * between(random, 0.06, 0.15);
  const right = width * between(random, 0.8, 0.94);
  const lines = Math.max(2, Math.floor((height * between(random, 0.5, 0.75)) / lineHeight));
  const top = height * between(random, 0.12, 0.25) + size;
  const paths: string[] = [];
  const dots: string[] = [];
  for (let line = 0; line < lines; line++) {
    let x = left + (line === 0 ? size * 2 : 0);
    const y = top + line * lineHeight;
    const end = line === lines - 1 ? left + (right - left) * between(random, 0.3, 0.8) : right;
    while (x < end - size * 2) {
      const length = Math.min(end - x, size * between(random, 2, 6));
      const points = cursive(random, x, y, length, size, { loopiness: between(random, 0.2, 0.45), slant });
      paths.push(polylinePath(points));
      if (random() < 0.5) {
        const [dx, dy] = points[Math.floor(random() * points.length)]!;
        dots.push(`<circle cx="${fmt(dx)}" cy="${fmt(Math.min(dy, y) - size * 0.9)}" r="${fmt(strokeWidth * 0.7)}" fill="#000"/>`);
      }
      if (random() < 0.3) {
        const cx = x + length * between(random, 0.2, 0.8);
        paths.push(`M${fmt(cx - size * 0.4)} ${fmt(y - size * 0.8)} L${fmt(cx + size * 0.4)} ${fmt(y - size * 0.85)}`);
      }
      x += length + size * between(random, 0.6, 1.2);
    }
  }
  const body =
    paths.map((d) => `<path d="${d}" fill="none" stroke="#000" stroke-width="${fmt(strokeWidth)}" stroke-linecap="round" stroke-linejoin="round"/>`).join('') +
    dots.join('');
  return { body, description: `handwriting, ${lines} lines, i-dots` };
}

function stampDrawing(random: Random, width: number, height: number): InkDrawing {
  const scale = Math.min(width, height);
  const radius = scale * between(random, 0.15, 0.25);
  const cx = width * between(random, 0.35, 0.65);
  const cy = height * between(random, 0.35, 0.65);
  const ring = radius * between(random, 0.05, 0.09);
  const inner = cursive(random, cx - radius * 0.6, cy + radius * 0.1, radius * 1.2, radius * 0.35, { loopiness: 0.2, slant: 0 });
  const body =
    `<circle cx="${fmt(cx)}" cy="${fmt(cy)}" r="${fmt(radius)}" fill="none" stroke="#000" stroke-width="${fmt(ring)}"/>` +
    `<circle cx="${fmt(cx)}" cy="${fmt(cy)}" r="${fmt(radius * 0.8)}" fill="none" stroke="#000" stroke-width="${fmt(ring * 0.5)}"/>` +
    `<path d="${polylinePath(inner)}" fill="none" stroke="#000" stroke-width="${fmt(ring * 0.6)}" stroke-linecap="round"/>`;
  return { body, description: 'stamp' };
}

interface Ink {
  name: string;
  /** Reflectance 0-1 per channel at full strength. */
  colour: [number, number, number];
  /** Pressure range: the ink's opacity varies smoothly within it along the strokes. */
  pressure: [number, number];
}

const INKS: Ink[] = [
  { name: 'black ink', colour: [0.1, 0.1, 0.12], pressure: [0.75, 1] },
  { name: 'blue ballpoint', colour: [0.14, 0.22, 0.62], pressure: [0.6, 1] },
  { name: 'dark blue ink', colour: [0.1, 0.13, 0.38], pressure: [0.7, 1] },
  { name: 'black ballpoint, light pressure', colour: [0.15, 0.15, 0.18], pressure: [0.45, 0.9] },
];
const RED_INK: Ink = { name: 'red stamp ink', colour: [0.7, 0.14, 0.16], pressure: [0.55, 0.95] };
const PENCIL: Ink = { name: 'pencil', colour: [0.35, 0.35, 0.38], pressure: [0.55, 0.95] };

interface Lighting {
  /** Multiplies the reflectance, per pixel (0-1.1). */
  field: Float32Array;
  cast: [number, number, number];
  description: string;
}

async function photographedLighting(random: Random, width: number, height: number): Promise<Lighting> {
  const n = width * height;
  const field = new Float32Array(n);
  const angle = random() * 2 * Math.PI;
  const gradient = between(random, 0.08, 0.3);
  const vignette = between(random, 0.1, 0.3);
  const exposure = between(random, 0.85, 1.02);
  const cx = width * between(random, 0.35, 0.65);
  const cy = height * between(random, 0.35, 0.65);
  const diagonal = Math.hypot(width, height) / 2;
  // A cast shadow (a hand, the phone): a soft-edged quadrilateral over one side, darkening by 20-45%.
  const side = Math.floor(random() * 4);
  const depth = between(random, 0.2, 0.45);
  const corners: [number, number][] = [];
  const reach = between(random, 0.2, 0.45);
  const along = [between(random, -0.2, 0.3), between(random, 0.5, 1.2)] as const;
  const edge = (t: number, inward: number): [number, number] => {
    switch (side) {
      case 0:
        return [t * width, inward * height];
      case 1:
        return [width - inward * width, t * height];
      case 2:
        return [t * width, height - inward * height];
      default:
        return [inward * width, t * height];
    }
  };
  corners.push(edge(along[0], -0.1), edge(along[1], -0.1), edge(along[1] - 0.1, reach * between(random, 0.6, 1.3)), edge(along[0] + 0.1, reach));
  const shadowShape = await coverage(width, height, `<polygon points="${corners.map(([x, y]) => `${fmt(x)},${fmt(y)}`).join(' ')}" fill="#000"/>`);
  const shadow = await blurPlane(shadowShape, width, height, Math.min(width, height) * between(random, 0.01, 0.035));
  const cosA = Math.cos(angle);
  const sinA = Math.sin(angle);
  for (let y = 0, i = 0; y < height; y++) {
    for (let x = 0; x < width; x++, i++) {
      const along2 = ((x - width / 2) * cosA + (y - height / 2) * sinA) / diagonal;
      const r2 = ((x - cx) ** 2 + (y - cy) ** 2) / diagonal ** 2;
      field[i] = exposure * (1 + gradient * along2) * (1 - vignette * r2) * (1 - depth * (shadow[i]! / 255));
    }
  }
  const warm = between(random, -0.06, 0.08);
  return {
    field,
    cast: [1 + warm * 0.3, 1, 1 - warm],
    description: `photographed: gradient ${gradient.toFixed(2)}, vignetting ${vignette.toFixed(2)}, cast shadow ${depth.toFixed(2)}`,
  };
}

function scannedLighting(random: Random, width: number, height: number): Lighting {
  const field = new Float32Array(width * height);
  const tilt = between(random, 0, 0.05);
  for (let y = 0, i = 0; y < height; y++) for (let x = 0; x < width; x++, i++) field[i] = 0.98 - (tilt * y) / height;
  return { field, cast: [1, 1, 1], description: `scanned: tilt ${tilt.toFixed(2)}` };
}

/** One ink image: paper, lighting, ink; truth = the strokes' coverage >= 0.5. */
export async function makeInkImage(category: InkCategory, seed: number, index: number, size: SampleSize = {}): Promise<SyntheticImage> {
  const random = seededRandom(sampleSeed(seed, category, index));
  const landscape = random() < 0.7;
  const width = size.width ?? (landscape ? Math.round(between(random, 1100, 1400)) : Math.round(between(random, 800, 1000)));
  const height = size.height ?? (landscape ? Math.round(width * between(random, 0.6, 0.8)) : Math.round(width * between(random, 1.25, 1.45)));
  const n = width * height;

  let drawing: InkDrawing;
  let ink: Ink;
  if (category === 'handwriting') {
    drawing = handwritingDrawing(random, width, height);
    ink = pick(random, INKS);
  } else if (category === 'scan') {
    const what = random();
    drawing = what < 0.35 ? stampDrawing(random, width, height) : what < 0.7 ? signatureDrawing(random, width, height) : handwritingDrawing(random, width, height);
    ink = drawing.description === 'stamp' ? pick(random, [RED_INK, INKS[1]!]) : pick(random, [...INKS, PENCIL]);
  } else {
    drawing = signatureDrawing(random, width, height);
    ink = pick(random, INKS);
  }
  const cover = await coverage(width, height, drawing.body);

  // The sheet: the whole frame, or (desk) a slightly rotated rectangle with the desk around it.
  let sheet: Uint8Array | null = null;
  const deskColour: [number, number, number] = pick(random, [
    [0.45, 0.3, 0.18],
    [0.32, 0.22, 0.14],
    [0.25, 0.25, 0.27],
    [0.55, 0.45, 0.33],
  ]);
  let deskGrain: Float32Array | null = null;
  if (category === 'desk') {
    const margins = [0, 1, 2, 3].map(() => between(random, 0.04, 0.12));
    const angle = between(random, -5, 5);
    const [l, t, r, b] = margins as [number, number, number, number];
    sheet = await coverage(
      width,
      height,
      `<rect x="${fmt(l * width)}" y="${fmt(t * height)}" width="${fmt((1 - l - r) * width)}" height="${fmt((1 - t - b) * height)}" fill="#000" transform="rotate(${angle.toFixed(2)} ${width / 2} ${height / 2})"/>`,
    );
    deskGrain = await valueNoise(random, width, height, Math.max(4, width / 60));
  }

  const lighting = category === 'scan' ? scannedLighting(random, width, height) : await photographedLighting(random, width, height);
  const paper: [number, number, number] = [between(random, 0.9, 0.98), between(random, 0.89, 0.97), between(random, 0.84, 0.95)];
  const texture = await fractalNoise(random, width, height, Math.max(8, width / 80), 3);
  const textureAmount = between(random, 0.01, 0.03);
  const pressure = await valueNoise(random, width, height, Math.max(12, width / 25));
  const [pLow, pHigh] = ink.pressure;
  const noise = category === 'scan' ? between(random, 0.5, 1.5) : between(random, 2, 5);
  const blur = category === 'scan' ? between(random, 0, 0.6) : between(random, 0.4, 1.1);
  let rgb: Uint8Array = new Uint8Array(n * 3);
  const truthCover = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const inSheet = sheet ? sheet[i]! / 255 : 1;
    const a = (cover[i]! / 255) * inSheet * (pLow + (pHigh - pLow) * (0.5 + 0.5 * pressure[i]!));
    truthCover[i] = Math.round(cover[i]! * inSheet);
    const paperShade = 1 + textureAmount * texture[i]!;
    const light = lighting.field[i]!;
    const grain = deskGrain ? 1 + 0.18 * Math.sin((i % width) * 0.05 + deskGrain[i]! * 6) : 1;
    for (let c = 0; c < 3; c++) {
      const paperC = paper[c]! * paperShade;
      const reflect = inSheet * (paperC * (1 - a) + ink.colour[c]! * a) + (1 - inSheet) * deskColour[c]! * grain;
      rgb[i * 3 + c] = clamp255(Math.round(255 * reflect * light * lighting.cast[c]!));
    }
  }
  rgb = await camera(rgb, width, height, blur, noise, random);
  const format = category === 'scan' ? 'png' : 'jpeg';
  return {
    name: `${category}-${seed}-${index}`,
    kind: 'ink',
    category,
    file: await encode(rgb, width, height, format, Math.round(between(random, 85, 93))),
    width,
    height,
    truth: truthOf(truthCover),
    description: `${drawing.description}, ${ink.name}, ${lighting.description}, blur ${blur.toFixed(1)}, noise ${noise.toFixed(1)}${sheet ? ', sheet on a desk' : ''}`,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Objects

type Colour = [number, number, number];

function randomColour(random: Random, soft: boolean): Colour {
  // Soft colours: pastel or muted; otherwise anything.
  const hue = random() * 360;
  const saturation = soft ? between(random, 0.15, 0.5) : between(random, 0.2, 0.9);
  const lightness = soft ? between(random, 0.35, 0.8) : between(random, 0.15, 0.85);
  const k = (m: number) => (m + hue / 30) % 12;
  const a = saturation * Math.min(lightness, 1 - lightness);
  const f = (m: number) => lightness - a * Math.max(-1, Math.min(k(m) - 3, 9 - k(m), 1));
  return [f(0) * 255, f(8) * 255, f(4) * 255];
}

const distance = (a: Colour, b: Colour) => Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);

function blobPath(random: Random, cx: number, cy: number, radius: number): string {
  const terms = [2, 3, 4].map((k) => ({ k, a: between(random, 0, 0.22 / (k - 1)), phase: random() * 2 * Math.PI }));
  const points: [number, number][] = [];
  for (let s = 0; s < 180; s++) {
    const t = (s / 180) * 2 * Math.PI;
    const r = radius * (1 + terms.reduce((sum, { k, a, phase }) => sum + a * Math.sin(k * t + phase), 0)) * 0.85;
    points.push([cx + r * Math.cos(t), cy + r * Math.sin(t)]);
  }
  return `${polylinePath(points)} Z`;
}

function shapeBody(random: Random, kind: string, cx: number, cy: number, radius: number): string {
  switch (kind) {
    case 'disc': {
      const squash = between(random, 0.75, 1);
      return `<ellipse cx="${fmt(cx)}" cy="${fmt(cy)}" rx="${fmt(radius)}" ry="${fmt(radius * squash)}" fill="#000"/>`;
    }
    case 'ring': {
      const inner = radius * between(random, 0.4, 0.65);
      return `<path fill-rule="evenodd" fill="#000" d="M${fmt(cx - radius)} ${fmt(cy)} a${fmt(radius)} ${fmt(radius)} 0 1 0 ${fmt(2 * radius)} 0 a${fmt(radius)} ${fmt(radius)} 0 1 0 ${fmt(-2 * radius)} 0 Z M${fmt(cx - inner)} ${fmt(cy)} a${fmt(inner)} ${fmt(inner)} 0 1 0 ${fmt(2 * inner)} 0 a${fmt(inner)} ${fmt(inner)} 0 1 0 ${fmt(-2 * inner)} 0 Z"/>`;
    }
    case 'polygon': {
      const corners = Math.floor(between(random, 3, 9));
      const star = random() < 0.35;
      const start = random() * 2 * Math.PI;
      const points: string[] = [];
      const count = star ? corners * 2 : corners;
      for (let k = 0; k < count; k++) {
        const t = start + (k / count) * 2 * Math.PI + between(random, -0.15, 0.15) / corners;
        const r = radius * (star && k % 2 === 1 ? between(random, 0.45, 0.65) : between(random, 0.8, 1));
        points.push(`${fmt(cx + r * Math.cos(t))},${fmt(cy + r * Math.sin(t))}`);
      }
      return `<polygon points="${points.join(' ')}" fill="#000"/>`;
    }
    default:
      return `<path d="${blobPath(random, cx, cy, radius)}" fill="#000"/>`;
  }
}

/** One object image: background, optional drop shadow, object; truth = the object's coverage >= 0.5. */
export async function makeObjectImage(category: ObjectCategory, seed: number, index: number, size: SampleSize = {}): Promise<SyntheticImage> {
  const random = seededRandom(sampleSeed(seed, category, index));
  const orientation = random();
  const width = size.width ?? (orientation < 0.6 ? 640 : orientation < 0.8 ? 480 : 560);
  const height = size.height ?? (orientation < 0.6 ? 480 : orientation < 0.8 ? 640 : 560);
  const n = width * height;
  const scale = Math.min(width, height);

  // Background, as float RGB 0-255.
  const background = new Float32Array(n * 3);
  let backgroundMean: Colour;
  let backgroundDescription: string;
  if (category === 'plain' || category === 'gradient') {
    const c1 = randomColour(random, random() < 0.5);
    const c2 = category === 'gradient' ? randomColour(random, true) : c1;
    const radial = category === 'gradient' && random() < 0.3;
    const angle = random() * 2 * Math.PI;
    const falloff = between(random, 0, 0.06);
    const cosA = Math.cos(angle);
    const sinA = Math.sin(angle);
    for (let y = 0, i = 0; y < height; y++) {
      for (let x = 0; x < width; x++, i++) {
        const u = (x / width - 0.5) * cosA + (y / height - 0.5) * sinA;
        const t = radial ? Math.min(1, Math.hypot(x / width - 0.5, y / height - 0.5) * 1.6) : Math.min(1, Math.max(0, u + 0.5));
        const light = 1 - falloff * (u + 0.5);
        for (let c = 0; c < 3; c++) background[i * 3 + c] = (c1[c]! * (1 - t) + c2[c]! * t) * light;
      }
    }
    backgroundMean = [0, 1, 2].map((c) => (c1[c]! + c2[c]!) / 2) as Colour;
    backgroundDescription = category === 'plain' ? 'plain background' : radial ? 'radial gradient background' : 'linear gradient background';
  } else {
    const style = pick(random, ['noise', 'stripes', 'bokeh'] as const);
    const base = randomColour(random, false);
    const second = randomColour(random, false);
    backgroundMean = base;
    if (style === 'noise') {
      const layers = [await fractalNoise(random, width, height, scale / 6, 4), await fractalNoise(random, width, height, scale / 8, 4), await fractalNoise(random, width, height, scale / 5, 3)];
      const amount = between(random, 40, 80);
      for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) background[i * 3 + c] = base[c]! + amount * layers[c]![i]!;
    } else if (style === 'stripes') {
      const period = between(random, 12, 45);
      const angle = random() * Math.PI;
      const wobble = await valueNoise(random, width, height, scale / 4);
      for (let y = 0, i = 0; y < height; y++) {
        for (let x = 0; x < width; x++, i++) {
          const t = 0.5 + 0.5 * Math.sin(((x * Math.cos(angle) + y * Math.sin(angle)) / period) * 2 * Math.PI + wobble[i]! * 3);
          for (let c = 0; c < 3; c++) background[i * 3 + c] = base[c]! * (1 - t) + second[c]! * t;
        }
      }
      backgroundMean = [0, 1, 2].map((c) => (base[c]! + second[c]!) / 2) as Colour;
    } else {
      for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) background[i * 3 + c] = base[c]!;
      const spots = Math.floor(between(random, 25, 60));
      for (let s = 0; s < spots; s++) {
        const colour = randomColour(random, false);
        const spot = await coverage(width, height, `<circle cx="${fmt(random() * width)}" cy="${fmt(random() * height)}" r="${fmt(scale * between(random, 0.03, 0.12))}" fill="#000"/>`);
        const soft = await blurPlane(spot, width, height, scale * between(random, 0.005, 0.03));
        const opacity = between(random, 0.4, 0.9);
        for (let i = 0; i < n; i++) {
          const a = (soft[i]! / 255) * opacity;
          if (a > 0) for (let c = 0; c < 3; c++) background[i * 3 + c] = background[i * 3 + c]! * (1 - a) + colour[c]! * a;
        }
      }
    }
    backgroundDescription = `textured background (${style})`;
  }

  // The object.
  const kind = pick(random, ['disc', 'ring', 'polygon', 'blob'] as const);
  const radius = scale * between(random, 0.2, 0.34);
  const cx = width / 2 + between(random, -0.1, 0.1) * width;
  const cy = height / 2 + between(random, -0.1, 0.1) * height;
  const body = shapeBody(random, kind, cx, cy, radius);
  const cover = await coverage(width, height, body);
  let colour = randomColour(random, random() < 0.6);
  for (let tries = 0; tries < 50 && distance(colour, backgroundMean) < 80; tries++) colour = randomColour(random, random() < 0.6);
  const fill = pick(random, ['flat', 'gradient', 'texture'] as const);
  const colour2 = fill === 'gradient' ? randomColour(random, true) : colour;
  const texture = fill === 'texture' ? await fractalNoise(random, width, height, radius / 3, 3) : null;
  const textureAmount = between(random, 15, 35);
  const lightAngle = random() * 2 * Math.PI;

  // Drop shadow on plain and gradient backgrounds, half of the time.
  let shadow: Uint8Array | null = null;
  let shadowDepth = 0;
  if (category !== 'textured' && random() < 0.5) {
    const dx = Math.cos(lightAngle) * radius * between(random, 0.08, 0.2);
    const dy = Math.abs(Math.sin(lightAngle)) * radius * between(random, 0.08, 0.2);
    const moved = await coverage(width, height, `<g transform="translate(${fmt(dx)} ${fmt(dy)})">${body}</g>`);
    shadow = await blurPlane(moved, width, height, radius * between(random, 0.04, 0.12));
    shadowDepth = between(random, 0.25, 0.5);
  }

  const noise = between(random, 1.5, 4);
  const blur = between(random, 0, 0.9);
  let rgb: Uint8Array = new Uint8Array(n * 3);
  for (let y = 0, i = 0; y < height; y++) {
    for (let x = 0; x < width; x++, i++) {
      const a = cover[i]! / 255;
      const shade = shadow ? 1 - shadowDepth * (shadow[i]! / 255) : 1;
      const u = Math.min(1, Math.max(0, ((x - cx) / radius) * 0.5 + 0.5));
      const light = 1 + 0.1 * (((x - cx) * Math.cos(lightAngle) + (y - cy) * Math.sin(lightAngle)) / radius);
      for (let c = 0; c < 3; c++) {
        const objectC = (colour[c]! * (1 - u) + colour2[c]! * u + (texture ? textureAmount * texture[i]! : 0)) * light;
        const value = background[i * 3 + c]! * shade * (1 - a) + objectC * a;
        rgb[i * 3 + c] = clamp255(Math.round(value));
      }
    }
  }
  rgb = await camera(rgb, width, height, blur, noise, random);
  const jpeg = random() < 0.6;
  return {
    name: `${category}-${seed}-${index}`,
    kind: 'object',
    category,
    file: await encode(rgb, width, height, jpeg ? 'jpeg' : 'png', 90),
    width,
    height,
    truth: truthOf(cover),
    description: `${kind}, ${fill} fill, ${backgroundDescription}${shadow ? ', drop shadow' : ''}, blur ${blur.toFixed(1)}, noise ${noise.toFixed(1)}`,
  };
}

export function makeImage(category: SampleCategory, seed: number, index: number, size: SampleSize = {}): Promise<SyntheticImage> {
  return (INK_CATEGORIES as readonly string[]).includes(category)
    ? makeInkImage(category as InkCategory, seed, index, size)
    : makeObjectImage(category as ObjectCategory, seed, index, size);
}

/** Intersection over union of a mask (value >= threshold) with the truth (1 = foreground). */
export function maskIoU(mask: Uint8Array, truth: Uint8Array, threshold = 128): number {
  let intersection = 0;
  let union = 0;
  for (let i = 0; i < truth.length; i++) {
    const predicted = mask[i]! >= threshold;
    const actual = truth[i] === 1;
    if (predicted && actual) intersection++;
    if (predicted || actual) union++;
  }
  return union === 0 ? 1 : intersection / union;
}
