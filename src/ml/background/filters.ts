/**
 * Image filters for background removal, on typed arrays (row-major planes). Everything that runs at full
 * resolution is O(pixels) and allocates at most a plane or two: box sums are separable running sums, rank
 * filters are separable, connected components are labelled by runs (no label image).
 */

/** The mean over a (2r+1)x(2r+1) window, the window clipped at the edges (so edges are not darkened). */
export function boxMean(src: Float32Array, width: number, height: number, radius: number): Float32Array {
  const out = new Float32Array(width * height);
  if (radius <= 0) {
    out.set(src);
    return out;
  }
  // Horizontal running sums into `out`, then vertical running sums over rows of `out` into `column`.
  for (let y = 0; y < height; y++) {
    const row = y * width;
    let sum = 0;
    for (let x = 0; x < Math.min(radius, width); x++) sum += src[row + x]!;
    for (let x = 0; x < width; x++) {
      if (x + radius < width) sum += src[row + x + radius]!;
      if (x - radius - 1 >= 0) sum -= src[row + x - radius - 1]!;
      out[row + x] = sum / (Math.min(width - 1, x + radius) - Math.max(0, x - radius) + 1);
    }
  }
  const column = new Float64Array(width);
  const result = new Float32Array(width * height);
  for (let y = 0; y < Math.min(radius, height); y++) for (let x = 0; x < width; x++) column[x] = column[x]! + out[y * width + x]!;
  for (let y = 0; y < height; y++) {
    if (y + radius < height) for (let x = 0, i = (y + radius) * width; x < width; x++, i++) column[x] = column[x]! + out[i]!;
    if (y - radius - 1 >= 0) for (let x = 0, i = (y - radius - 1) * width; x < width; x++, i++) column[x] = column[x]! - out[i]!;
    const count = Math.min(height - 1, y + radius) - Math.max(0, y - radius) + 1;
    for (let x = 0, i = y * width; x < width; x++, i++) result[i] = column[x]! / count;
  }
  return result;
}

/** Where each destination row or column samples its source (pixel centres aligned, edges clamped). */
export interface LinearTaps {
  index: Int32Array;
  weight: Float32Array;
}

export function linearTaps(sourceSize: number, targetSize: number): LinearTaps {
  const index = new Int32Array(targetSize);
  const weight = new Float32Array(targetSize);
  const scale = sourceSize / targetSize;
  for (let i = 0; i < targetSize; i++) {
    const position = Math.min(sourceSize - 1, Math.max(0, (i + 0.5) * scale - 0.5));
    const lower = Math.min(sourceSize - 2, Math.floor(position));
    index[i] = Math.max(0, lower);
    weight[i] = sourceSize === 1 ? 0 : position - Math.max(0, lower);
  }
  return { index, weight };
}

/** Bilinear resize of a Float32 plane. */
export function resizePlane(src: Float32Array, sourceWidth: number, sourceHeight: number, width: number, height: number): Float32Array {
  const out = new Float32Array(width * height);
  const xs = linearTaps(sourceWidth, width);
  const ys = linearTaps(sourceHeight, height);
  const stepX = sourceWidth > 1 ? 1 : 0;
  const stepY = sourceHeight > 1 ? sourceWidth : 0;
  for (let y = 0; y < height; y++) {
    const top = ys.index[y]! * sourceWidth;
    const wy = ys.weight[y]!;
    for (let x = 0; x < width; x++) {
      const i = top + xs.index[x]!;
      const wx = xs.weight[x]!;
      const upper = src[i]! + (src[i + stepX]! - src[i]!) * wx;
      const lower = src[i + stepY]! + (src[i + stepY + stepX]! - src[i + stepY]!) * wx;
      out[y * width + x] = upper + (lower - upper) * wy;
    }
  }
  return out;
}

/**
 * Fills `out` (length `width`) with row `y` of the planes upsampled bilinearly from (sourceWidth x sourceHeight)
 * to (width x height) without materialising the full-size planes: the callers process a large image row by row.
 */
export class RowUpsampler {
  private readonly xs: LinearTaps;
  private readonly ys: LinearTaps;
  constructor(
    private readonly sourceWidth: number,
    private readonly sourceHeight: number,
    width: number,
    height: number,
  ) {
    this.xs = linearTaps(sourceWidth, width);
    this.ys = linearTaps(sourceHeight, height);
  }

  row(plane: Float32Array, y: number, out: Float32Array): Float32Array {
    const { sourceWidth, sourceHeight, xs } = this;
    const top = this.ys.index[y]! * sourceWidth;
    const bottom = sourceHeight > 1 ? top + sourceWidth : top;
    const wy = this.ys.weight[y]!;
    const stepX = sourceWidth > 1 ? 1 : 0;
    for (let x = 0; x < out.length; x++) {
      const ix = xs.index[x]!;
      const wx = xs.weight[x]!;
      const upper = plane[top + ix]! + (plane[top + ix + stepX]! - plane[top + ix]!) * wx;
      const lower = plane[bottom + ix]! + (plane[bottom + ix + stepX]! - plane[bottom + ix]!) * wx;
      out[x] = upper + (lower - upper) * wy;
    }
    return out;
  }
}

/**
 * Separable grey-level dilation (max) or erosion (min) over a (2r+1)x(2r+1) square. Written out for each
 * direction: a comparison callback per element made it ten times slower at 12 MP.
 */
function rankFilter(src: Uint8Array, width: number, height: number, radius: number, max: boolean): Uint8Array {
  const horizontal = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) {
      const end = row + Math.min(width - 1, x + radius);
      let value = src[row + x]!;
      if (max) {
        for (let k = row + Math.max(0, x - radius); k <= end; k++) if (src[k]! > value) value = src[k]!;
      } else {
        for (let k = row + Math.max(0, x - radius); k <= end; k++) if (src[k]! < value) value = src[k]!;
      }
      horizontal[row + x] = value;
    }
  }
  const out = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    const row = y * width;
    out.set(horizontal.subarray(row, row + width), row);
    const last = Math.min(height - 1, y + radius);
    for (let k = Math.max(0, y - radius); k <= last; k++) {
      if (k === y) continue;
      const other = k * width;
      if (max) {
        for (let x = 0; x < width; x++) if (horizontal[other + x]! > out[row + x]!) out[row + x] = horizontal[other + x]!;
      } else {
        for (let x = 0; x < width; x++) if (horizontal[other + x]! < out[row + x]!) out[row + x] = horizontal[other + x]!;
      }
    }
  }
  return out;
}

/** Grey-level dilation: the maximum over a (2r+1)x(2r+1) square. */
export const maxFilter = (src: Uint8Array, width: number, height: number, radius: number) => rankFilter(src, width, height, radius, true);
/** Grey-level erosion: the minimum over a (2r+1)x(2r+1) square. */
export const minFilter = (src: Uint8Array, width: number, height: number, radius: number) => rankFilter(src, width, height, radius, false);

/** Growable Int32 list (runs of a mask). */
class IntList {
  data = new Int32Array(1024);
  length = 0;
  push(value: number) {
    if (this.length === this.data.length) {
      const grown = new Int32Array(this.data.length * 2);
      grown.set(this.data);
      this.data = grown;
    }
    this.data[this.length++] = value;
  }
}

/** The connected components of a mask, as horizontal runs; `label` of each run indexes the per-component stats. */
export interface Components {
  count: number;
  runs: number;
  runY: Int32Array;
  runStart: Int32Array;
  /** Exclusive. */
  runEnd: Int32Array;
  runLabel: Int32Array;
  area: Float64Array;
  /** Pixels of the component whose `strong` value reached `strongThreshold`. */
  strongArea: Float64Array;
  touchesBorder: Uint8Array;
}

export interface ComponentOptions {
  /** Foreground is `values >= threshold` (or `< threshold` with `invert`). */
  threshold: number;
  invert?: boolean;
  /** 8-connectivity (diagonals join) for foreground; background is usually labelled with 4. */
  diagonal?: boolean;
  /** Counts, per component, the pixels where strong[i] >= strongThreshold. */
  strong?: Uint8Array;
  strongThreshold?: number;
}

/** Labels the connected components of a thresholded Uint8 plane with union-find over runs. */
export function findComponents(values: Uint8Array, width: number, height: number, options: ComponentOptions): Components {
  const { threshold, invert = false, diagonal = true, strong, strongThreshold = 256 } = options;
  const ys = new IntList();
  const starts = new IntList();
  const ends = new IntList();
  const parent = new IntList();
  const find = (a: number): number => {
    const p = parent.data;
    while (p[a] !== a) {
      p[a] = p[p[a]!]!;
      a = p[a]!;
    }
    return a;
  };
  const reach = diagonal ? 1 : 0;
  let previousFirst = 0;
  let previousEnd = 0;
  for (let y = 0; y < height; y++) {
    const row = y * width;
    const rowFirst = ys.length;
    let x = 0;
    while (x < width) {
      while (x < width && (values[row + x]! >= threshold) === invert) x++;
      if (x >= width) break;
      const start = x;
      while (x < width && (values[row + x]! >= threshold) !== invert) x++;
      const id = ys.length;
      ys.push(y);
      starts.push(start);
      ends.push(x);
      parent.push(id);
      // Join with the runs of the previous row that touch this one.
      for (let k = previousFirst; k < previousEnd; k++) {
        if (ends.data[k]! + reach <= start || starts.data[k]! >= x + reach) continue;
        const a = find(k);
        const b = find(id);
        if (a !== b) parent.data[Math.max(a, b)] = Math.min(a, b);
      }
    }
    previousFirst = rowFirst;
    previousEnd = ys.length;
  }
  const runs = ys.length;
  const runLabel = new Int32Array(runs);
  const labelOfRoot = new Int32Array(runs).fill(-1);
  let count = 0;
  for (let k = 0; k < runs; k++) {
    const root = find(k);
    if (labelOfRoot[root] === -1) labelOfRoot[root] = count++;
    runLabel[k] = labelOfRoot[root]!;
  }
  const area = new Float64Array(count);
  const strongArea = new Float64Array(count);
  const touchesBorder = new Uint8Array(count);
  for (let k = 0; k < runs; k++) {
    const label = runLabel[k]!;
    const y = ys.data[k]!;
    const start = starts.data[k]!;
    const end = ends.data[k]!;
    area[label] = area[label]! + end - start;
    if (y === 0 || y === height - 1 || start === 0 || end === width) touchesBorder[label] = 1;
    if (strong) {
      let n = 0;
      for (let i = y * width + start, stop = y * width + end; i < stop; i++) if (strong[i]! >= strongThreshold) n++;
      strongArea[label] = strongArea[label]! + n;
    }
  }
  return {
    count,
    runs,
    runY: ys.data.subarray(0, runs),
    runStart: starts.data.subarray(0, runs),
    runEnd: ends.data.subarray(0, runs),
    runLabel,
    area,
    strongArea,
    touchesBorder,
  };
}

/** Sets `target` to `value` over every component for which `select(label)` holds. */
export function paintComponents(target: Uint8Array, width: number, components: Components, select: (label: number) => boolean, value: number): void {
  const chosen = new Uint8Array(components.count);
  for (let label = 0; label < components.count; label++) chosen[label] = select(label) ? 1 : 0;
  for (let k = 0; k < components.runs; k++) {
    if (!chosen[components.runLabel[k]!]) continue;
    const row = components.runY[k]! * width;
    target.fill(value, row + components.runStart[k]!, row + components.runEnd[k]!);
  }
}

/**
 * Coefficients of a colour-guided filter (He, Sun and Tang, "Guided Image Filtering", 2013): for each pixel,
 * q = ar*R + ag*G + ab*B + b fits the input p locally as a linear function of the guide's colour, so the output
 * follows the guide's edges. Computed on a reduced image and upsampled ("fast guided filter", He and Sun 2015).
 * Guide planes and p in [0, 1]; returns the window-averaged coefficients.
 */
export function guidedFilterCoefficients(
  guide: [Float32Array, Float32Array, Float32Array],
  p: Float32Array,
  width: number,
  height: number,
  radius: number,
  epsilon: number,
): { ar: Float32Array; ag: Float32Array; ab: Float32Array; b: Float32Array } {
  const n = width * height;
  const mean = (plane: Float32Array) => boxMean(plane, width, height, radius);
  const product = (a: Float32Array, b: Float32Array) => {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = a[i]! * b[i]!;
    return out;
  };
  const [r, g, bl] = guide;
  const mR = mean(r);
  const mG = mean(g);
  const mB = mean(bl);
  const mP = mean(p);
  const mRp = mean(product(r, p));
  const mGp = mean(product(g, p));
  const mBp = mean(product(bl, p));
  const vRR = mean(product(r, r));
  const vRG = mean(product(r, g));
  const vRB = mean(product(r, bl));
  const vGG = mean(product(g, g));
  const vGB = mean(product(g, bl));
  const vBB = mean(product(bl, bl));
  const ar = new Float32Array(n);
  const ag = new Float32Array(n);
  const ab = new Float32Array(n);
  const b = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const mr = mR[i]!;
    const mg = mG[i]!;
    const mb = mB[i]!;
    const mp = mP[i]!;
    const cr = mRp[i]! - mr * mp;
    const cg = mGp[i]! - mg * mp;
    const cb = mBp[i]! - mb * mp;
    // Covariance of the guide plus epsilon on the diagonal, inverted by cofactors (it is symmetric positive definite).
    const rr = vRR[i]! - mr * mr + epsilon;
    const rg = vRG[i]! - mr * mg;
    const rb = vRB[i]! - mr * mb;
    const gg = vGG[i]! - mg * mg + epsilon;
    const gb = vGB[i]! - mg * mb;
    const bb = vBB[i]! - mb * mb + epsilon;
    const i00 = gg * bb - gb * gb;
    const i01 = rb * gb - rg * bb;
    const i02 = rg * gb - rb * gg;
    const i11 = rr * bb - rb * rb;
    const i12 = rb * rg - rr * gb;
    const i22 = rr * gg - rg * rg;
    const det = rr * i00 + rg * i01 + rb * i02;
    const aR = (i00 * cr + i01 * cg + i02 * cb) / det;
    const aG = (i01 * cr + i11 * cg + i12 * cb) / det;
    const aB = (i02 * cr + i12 * cg + i22 * cb) / det;
    ar[i] = aR;
    ag[i] = aG;
    ab[i] = aB;
    b[i] = mp - aR * mr - aG * mg - aB * mb;
  }
  return { ar: mean(ar), ag: mean(ag), ab: mean(ab), b: mean(b) };
}
