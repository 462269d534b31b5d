/** Index of the first value of an ascending array for which `before(value)` is false (binary search). */
function partitionPoint(sorted: ArrayLike<number>, before: (value: number) => boolean): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (before(sorted[middle]!)) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** How many values of an ascending array are below `limit`. */
export const countBelow = (sorted: ArrayLike<number>, limit: number) => partitionPoint(sorted, (value) => value < limit);

/** How many values of an ascending array are at or below `limit`. */
export const countAtOrBelow = (sorted: ArrayLike<number>, limit: number) => partitionPoint(sorted, (value) => value <= limit);
