import { createHash } from 'node:crypto';

export const SPLITS = ['train', 'val', 'test'] as const;
export type Split = (typeof SPLITS)[number];
export type Ratios = readonly [number, number, number];

/**
 * How many of a label's `n` images go to train, val and test: the largest-remainder rounding of n x ratio (ties to
 * the earlier split), then, when the label has at least one image per non-empty split, every non-empty split gets
 * one, taken from the largest. 10 images at 80/10/10 give 8/1/1; 3 give 1/1/1; 2 give 2/0/0 (not enough images).
 */
export function splitCounts(n: number, ratios: Ratios): [number, number, number] {
  const total = ratios[0] + ratios[1] + ratios[2];
  const exact = ratios.map((ratio) => (n * ratio) / total);
  const counts = exact.map(Math.floor) as [number, number, number];
  const byRemainder = [0, 1, 2].sort((a, b) => exact[b]! - counts[b]! - (exact[a]! - counts[a]!) || a - b);
  for (let left = n - counts[0] - counts[1] - counts[2], k = 0; left > 0; left--, k++) counts[byRemainder[k % 3]!]!++;

  const used = [0, 1, 2].filter((i) => ratios[i]! > 0);
  if (n >= used.length) {
    for (const i of used) {
      if (counts[i]! > 0) continue;
      const largest = used.reduce((a, b) => (counts[b]! > counts[a]! ? b : a));
      counts[largest]!--;
      counts[i]!++;
    }
  }
  return counts;
}

/**
 * Assigns each image of ONE label to a split. The order is sha256(seed:image sha256): it depends only on the seed and
 * the images' contents, never on ids or upload order, so the same seed and the same images give the same split
 * everywhere, and adding an image moves few others. Returns the splits in the order of `images`.
 */
export function assignSplits(images: readonly { sha256: string }[], ratios: Ratios, seed: number): Split[] {
  const [train, val] = splitCounts(images.length, ratios);
  const rank = images.map((image, index) => ({ index, key: createHash('sha256').update(`${seed}:${image.sha256}`).digest('hex') }));
  rank.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.index - b.index));
  const splits = new Array<Split>(images.length);
  rank.forEach(({ index }, position) => {
    splits[index] = position < train ? 'train' : position < train + val ? 'val' : 'test';
  });
  return splits;
}
