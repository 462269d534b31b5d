import type { Request } from 'express';
import { NotFoundError, ValidationError } from '../../http/errors.js';
import { formatBytes } from '../../lib/format.js';
import { idSchema, imageIdsSchema, pageQuerySchema } from './datasets.schemas.js';
import { NameTakenError } from './datasets.service.js';

/** What the datasets' pages share: reading ids, pages and fields from requests, and turning errors into form messages. */
export const format = { bytes: formatBytes };

/** A number from the path, or 404: "/datasets/abc" is a page that does not exist, not a bad request. */
export function idParam(value: unknown, what = 'dataset'): number {
  const parsed = idSchema.safeParse(value);
  if (!parsed.success) throw new NotFoundError(`We could not find that ${what}.`);
  return parsed.data;
}

export const field = (req: Request, name: string): unknown => (req.body as Record<string, unknown> | undefined)?.[name];

export const pageOf = (value: unknown): number => {
  const parsed = pageQuerySchema.safeParse({ page: value });
  return parsed.success ? parsed.data.page : 1;
};

export function selectedIds(value: unknown): number[] {
  const parsed = imageIdsSchema.safeParse(value);
  if (!parsed.success) throw new ValidationError(parsed.error.issues[0]!.message, { ids: parsed.error.issues[0]!.message });
  return parsed.data;
}

/** The errors a form shows: a field's own message, or the conflict's message at the name field. */
export function formErrors(err: unknown): Record<string, string> | null {
  if (err instanceof NameTakenError) return { [err.field]: err.message };
  if (!(err instanceof ValidationError)) return null;
  if (!Object.keys(err.fields).length) return { form: err.message };
  // A list's item ("labels.2") is shown at the list's field.
  const errors: Record<string, string> = {};
  for (const [key, message] of Object.entries(err.fields)) errors[key.replace(/\.\d+$/, '')] ??= message;
  return errors;
}

/** The upload and capture scripts ask for JSON (Accept: application/json); a plain form post gets a page. */
export const wantsJson = (req: Request) => req.accepts(['html', 'json']) === 'json';

export const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;
