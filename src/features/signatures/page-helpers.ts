import type { Request } from 'express';
import { NotFoundError, ValidationError } from '../../http/errors.js';
import type { CropRect } from '../../ml/index.js';
import { formatBytes } from '../../lib/format.js';
import { cropSchema, idSchema } from './signatures.schemas.js';

/** For the views. Scores get a true minus sign, so that negative ones read as such. */
export const format = { bytes: formatBytes, score: (value: number) => value.toFixed(3).replace('-', '−') };

/** Ids in URLs: anything that is not one answers 404, like an id that does not exist. */
export function idParam(value: unknown, what = 'signer'): number {
  const parsed = idSchema.safeParse(value);
  if (!parsed.success) throw new NotFoundError(`We could not find that ${what}.`);
  return parsed.data;
}

/** Page scripts ask for JSON (Accept: application/json); a plain form post gets a page. */
export const wantsJson = (req: Request) => req.accepts(['html', 'json']) === 'json';

export const field = (req: Request, name: string): unknown => (req.body as Record<string, unknown> | undefined)?.[name];


/** The crop field of the API and the form: empty or absent means none; a malformed one answers 422 bad_crop. */
export function parseCrop(value: unknown): CropRect | null {
  const parsed = cropSchema.safeParse(typeof value === 'string' ? value : '');
  if (!parsed.success) throw new ValidationError(parsed.error.issues[0]!.message, { crop: parsed.error.issues[0]!.message }, 'bad_crop');
  return parsed.data;
}

/**
 * The gauge on the result page: the score on a line with the forged zone, the inconclusive band and the genuine
 * zone (SVG user units, 600 wide). The scale always shows the band with room on each side, and the score.
 */
export function gauge({ score, threshold, bandLow, bandHigh }: { score: number; threshold: number; bandLow: number; bandHigh: number }) {
  const low = Math.min(bandLow - 0.25, score - 0.03);
  const high = Math.max(bandHigh + 0.15, score + 0.03);
  const x = (value: number) => Math.round((20 + ((value - low) / (high - low)) * 560) * 10) / 10;
  return { x, start: x(low), end: x(high), bandLow: x(bandLow), bandHigh: x(bandHigh), threshold: x(threshold), score: x(score) };
}
