import { z } from 'zod';
import { PREDICTION_SOURCES } from './predictions.repo.js';

export const HISTORY_PAGE_SIZE = 50;
export const HISTORY_PAGE_SIZE_MAX = 200;

const digit = z.coerce.number({ error: 'digit must be a number from 0 to 9' }).int({ error: 'digit must be a whole number' }).min(0).max(9);

/** A yes/no filter as a query string writes it; an empty value means "any". */
const yesNo = z.enum(['true', 'false', 'yes', 'no', '1', '0'], { error: 'corrected must be true or false' }).transform((value) => ['true', 'yes', '1'].includes(value));

/** A day (YYYY-MM-DD, UTC) or a full ISO timestamp, as the start of a range. */
const instant = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}(T[\d:.]+Z)?$/, { error: 'use a date like 2026-12-01' })
  .refine((value) => !Number.isNaN(Date.parse(value)), { error: 'not a valid date' })
  .transform((value) => new Date(value).toISOString());

/** Query values left empty by a filter form mean "no filter". */
const optional = <T extends z.ZodType>(schema: T) => z.preprocess((value) => (value === '' ? undefined : value), schema.optional());

/** The history's filters, shared by the page, the API list and the exports. `to` is a day: the whole day is included. */
export const filterQuerySchema = z.object({
  digit: optional(digit),
  corrected: optional(yesNo),
  source: optional(z.enum(PREDICTION_SOURCES, { error: `source must be one of ${PREDICTION_SOURCES.join(', ')}` })),
  from: optional(instant),
  to: optional(instant.transform((value) => (value.endsWith('T00:00:00.000Z') ? new Date(Date.parse(value) + 86_400_000).toISOString() : value))),
});

export const historyQuerySchema = filterQuerySchema.extend({
  page: z.coerce.number({ error: 'page must be a number' }).int().min(1, { error: 'page must be at least 1' }).max(1_000_000).default(1),
  per_page: z.coerce.number({ error: 'per_page must be a number' }).int().min(1).max(HISTORY_PAGE_SIZE_MAX, { error: `per_page must be at most ${HISTORY_PAGE_SIZE_MAX}` }).default(HISTORY_PAGE_SIZE),
});

export const exportQuerySchema = filterQuerySchema.extend({
  format: z.enum(['csv', 'json'], { error: 'format must be csv or json' }).default('csv'),
});

/** A correction: a digit, or null for "this is not a digit". */
export const correctionSchema = z.object({
  label: z.union([z.null(), z.number().int().min(0).max(9)], { error: 'label must be a digit from 0 to 9, or null for "not a digit"' }),
});

/** The correction form's value: "0".."9", or "none" for "not a digit". */
export const correctionFormSchema = z.object({
  label: z.union([z.literal('none').transform(() => null), z.string().regex(/^[0-9]$/).transform(Number)], { error: 'Choose a digit, or "not a digit".' }),
});

/** A data URL of an image, as a canvas's toDataURL() gives it; the content is sniffed later, never trusted from the prefix. */
export const dataUrlSchema = z
  .string({ error: 'image must be a data URL' })
  .regex(/^data:image\/[a-z+.-]+;base64,[A-Za-z0-9+/]+={0,2}$/, { error: 'image must be a base64 data URL such as data:image/png;base64,...' })
  .transform((value) => Buffer.from(value.slice(value.indexOf(',') + 1), 'base64'));

const id = z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER);
export const idSchema = id;

/** Selected predictions from a form or query: `ids=1&ids=2` or `ids=1,2`; at most 500. */
export const idListSchema = z
  .union([z.string(), z.array(z.string())], { error: 'Select at least one prediction.' })
  .transform((value) => (Array.isArray(value) ? value : [value]).flatMap((part) => part.split(',')).filter((part) => part.trim() !== ''))
  .pipe(
    z
      .array(z.string().regex(/^\s*\d{1,15}\s*$/, { error: 'A prediction id is not valid.' }).transform(Number), { error: 'A prediction id is not valid.' })
      .min(1, { error: 'Select at least one prediction.' })
      .max(500, { error: 'Select at most 500 predictions at a time.' }),
  )
  .transform((ids) => [...new Set(ids)]);

export type FilterQuery = z.output<typeof filterQuerySchema>;
