/** The normal quantile of a two-sided 95% interval. */
const Z_95 = 1.959963984540054;

/**
 * The Wilson score interval of a proportion (successes of n), 95% by default. Unlike the normal approximation it
 * stays inside [0, 1] and is honest for small n and for proportions near 0 or 1, as accuracies on a few dozen
 * corrections are. Null when there is nothing to estimate from.
 */
export function wilsonInterval(successes: number, n: number, z = Z_95): { low: number; high: number } | null {
  if (n <= 0) return null;
  const p = successes / n;
  const z2 = z * z;
  const centre = (p + z2 / (2 * n)) / (1 + z2 / n);
  const halfWidth = (z / (1 + z2 / n)) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  return { low: Math.max(0, centre - halfWidth), high: Math.min(1, centre + halfWidth) };
}
