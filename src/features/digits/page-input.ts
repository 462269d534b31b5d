import type { Request } from 'express';
import { NotFoundError, ValidationError } from '../../http/errors.js';
import { idListSchema, idSchema } from './digits.schemas.js';

/** The page scripts ask for JSON (Accept: application/json); a plain form post gets a page. */
export const wantsJson = (req: Request) => req.accepts(['html', 'json']) === 'json';

/** A field of the posted form (urlencoded or multipart). */
export const field = (req: Request, name: string): unknown => (req.body as Record<string, unknown> | undefined)?.[name];

/** An id from the path; one that cannot be an id is a page that does not exist. */
export function idOf(value: unknown, what = 'prediction'): number {
  const parsed = idSchema.safeParse(value);
  if (!parsed.success) throw new NotFoundError(`We could not find that ${what}.`);
  return parsed.data;
}

/** The predictions ticked in the history (query or form). */
export function selectedIds(value: unknown): number[] {
  const parsed = idListSchema.safeParse(value);
  if (!parsed.success) throw new ValidationError(parsed.error.issues[0]!.message, { ids: parsed.error.issues[0]!.message });
  return parsed.data;
}

/** JSON for a <script type="application/json"> block: `<` escaped so that no value can close the element. */
export const jsonForHtml = (value: unknown) => JSON.stringify(value).replace(/</g, '\\u003c');
