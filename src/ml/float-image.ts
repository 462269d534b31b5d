/** A single-channel picture of floats (ink intensity, usually in [0, 1]), row-major. */
export interface FloatImage {
  data: Float32Array;
  width: number;
  height: number;
}

/** Separable resampling: area averaging along an axis that shrinks (anti-aliased, as MNIST's downsampling), linear along one that grows. */
export function resample(image: FloatImage, width: number, height: number): FloatImage {
  const { data, width: sourceWidth, height: sourceHeight } = image;
  const columnTaps = tapsFor(sourceWidth, width);
  const rows = new Float32Array(width * sourceHeight);
  for (let y = 0; y < sourceHeight; y++) {
    const source = y * sourceWidth;
    for (let x = 0; x < width; x++) {
      const { first, weights } = columnTaps[x]!;
      let sum = 0;
      for (let k = 0; k < weights.length; k++) sum += weights[k]! * data[source + first + k]!;
      rows[y * width + x] = sum;
    }
  }
  // Whole rows are accumulated at a time so the vertical pass reads memory in order.
  const out = new Float32Array(width * height);
  tapsFor(sourceHeight, height).forEach(({ first, weights }, y) => {
    for (let k = 0; k < weights.length; k++) {
      const weight = weights[k]!;
      const source = (first + k) * width;
      for (let x = 0; x < width; x++) out[y * width + x]! += weight * rows[source + x]!;
    }
  });
  return { data: out, width, height };
}

interface Taps {
  first: number;
  weights: Float32Array;
}

/** For each output position, the source positions (from `first` on) and their weights. */
function tapsFor(sourceLength: number, targetLength: number): Taps[] {
  const step = sourceLength / targetLength;
  return Array.from({ length: targetLength }, (_, i) => {
    if (step >= 1) {
      const start = i * step;
      const end = start + step;
      const first = Math.floor(start);
      const last = Math.min(sourceLength, Math.ceil(end));
      const weights = Float32Array.from({ length: last - first }, (_, k) => (Math.min(end, first + k + 1) - Math.max(start, first + k)) / step);
      return { first, weights };
    }
    const centre = clamp((i + 0.5) * step - 0.5, 0, sourceLength - 1);
    const first = Math.min(Math.floor(centre), sourceLength - 2);
    if (first < 0) return { first: 0, weights: Float32Array.of(1) };
    const fraction = centre - first;
    return { first, weights: Float32Array.of(1 - fraction, fraction) };
  });
}

export function clamp(value: number, low: number, high: number): number {
  return Math.min(high, Math.max(low, value));
}
