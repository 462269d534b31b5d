// z from openapi.ts: extended with .openapi() before any schema here is made, whatever imports this module first.
import { z } from '../../http/openapi.js';
import { ValidationError } from '../../http/errors.js';

export const NAME_MAX_LENGTH = 64;
export const DESCRIPTION_MAX_LENGTH = 2000;
export const LABELS_MAX = 1000;

/**
 * Letters of any script (with their combining marks: Hindi or decomposed accents need them), decimal digits, space,
 * '-', '_' and '.'. Such a name is safe as a folder name in an export, so it travels into the zip unchanged.
 */
const NAME_CHARACTERS = /^[\p{L}\p{M}\p{Nd} ._-]+$/u;
const HAS_LETTER_OR_DIGIT = /[\p{L}\p{Nd}]/u;

/**
 * Dataset and label names: trimmed, NFC; 1-64 characters of the set above. Besides the issue's rules, a name must
 * hold a letter or digit (so "..", "." or "-" cannot become a folder) and must not start with a dot (a hidden folder).
 */
export function nameSchema(what: 'dataset' | 'label') {
  const subject = what === 'dataset' ? 'A dataset name' : 'A label name';
  return z
    .string({ error: `Enter a ${what} name.` })
    .transform((value) => value.normalize('NFC').trim())
    .pipe(
      z
        .string()
        .min(1, { error: `Enter a ${what} name.` })
        .refine((value) => [...value].length <= NAME_MAX_LENGTH, { error: `${subject} has at most ${NAME_MAX_LENGTH} characters.` })
        .refine((value) => NAME_CHARACTERS.test(value), { error: `${subject} may contain only letters, digits, spaces, "-", "_" and ".".` })
        .refine((value) => HAS_LETTER_OR_DIGIT.test(value), { error: `${subject} needs at least one letter or digit.` })
        .refine((value) => !value.startsWith('.'), { error: `${subject} cannot start with ".".` }),
    );
}

export const datasetNameSchema = nameSchema('dataset');
export const labelNameSchema = nameSchema('label');

/**
 * The key names are compared by: NFC and case-folded (upper then lower case folds "ß" with "SS" and "ſ" with "s",
 * which lower case alone does not), so that "Straße" and "STRASSE" are the same name.
 */
export const nameKey = (name: string) => name.normalize('NFC').toUpperCase().toLowerCase().normalize('NFC');

// eslint-disable-next-line no-control-regex
const CONTROL_EXCEPT_NEWLINE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

export const descriptionSchema = z
  .string({ error: 'The description must be text.' })
  .transform((value) => value.replace(/\r\n?/g, '\n').replace(CONTROL_EXCEPT_NEWLINE, '').trim())
  .pipe(z.string().max(DESCRIPTION_MAX_LENGTH, { error: `A description has at most ${DESCRIPTION_MAX_LENGTH} characters.` }));

/** Label names, unique ignoring case. */
export const labelListSchema = z
  .array(labelNameSchema, { error: 'labels must be a list of names.' })
  .max(LABELS_MAX, { error: `At most ${LABELS_MAX} labels.` })
  .superRefine((labels, ctx) => {
    const seen = new Set<string>();
    for (const label of labels) {
      if (seen.has(nameKey(label))) ctx.addIssue({ code: 'custom', message: `The label "${label}" is listed twice (names are compared ignoring case).` });
      seen.add(nameKey(label));
    }
  });

export const createDatasetSchema = z.object({
  name: datasetNameSchema,
  description: descriptionSchema.optional(),
  labels: labelListSchema.default([]),
});
export type NewDataset = z.output<typeof createDatasetSchema>;

export const updateDatasetSchema = z.object({ name: datasetNameSchema.optional(), description: descriptionSchema.optional() });
export type DatasetChanges = z.output<typeof updateDatasetSchema>;

/** The labels of the page's form: one per line, or separated by commas. */
export const labelsFromText = (text: unknown): string[] =>
  typeof text === 'string' ? text.split(/[\n,]/).map((part) => part.trim()).filter((part) => part !== '') : [];

export const idSchema = z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER);

export const PER_PAGE_DEFAULT = 48;
export const PER_PAGE_MAX = 200;

export const pageQuerySchema = z.object({
  page: z.coerce.number({ error: 'page must be a number' }).int().min(1, { error: 'page must be at least 1' }).max(1_000_000).default(1),
  per_page: z.coerce.number({ error: 'per_page must be a number' }).int().min(1).max(PER_PAGE_MAX, { error: `per_page must be at most ${PER_PAGE_MAX}` }).default(PER_PAGE_DEFAULT),
});

/** Selected image ids: `ids=1&ids=2` or `ids=1,2` (forms), or a JSON array (API); 1 to 1000. */
export const imageIdsSchema = z
  .union([z.string(), z.number(), z.array(z.union([z.string(), z.number()]))], { error: 'Select at least one image.' })
  .transform((value) => (Array.isArray(value) ? value : [value]).flatMap((part) => String(part).split(',')).filter((part) => part.trim() !== ''))
  .pipe(
    z
      .array(z.string().regex(/^\s*\d{1,15}\s*$/, { error: 'An image id is not valid.' }).transform(Number).pipe(z.number().int().positive().max(Number.MAX_SAFE_INTEGER)))
      .min(1, { error: 'Select at least one image.' })
      .max(1000, { error: 'Select at most 1000 images at a time.' }),
  )
  .transform((ids) => [...new Set(ids)]);

export const EXPORT_FORMATS = ['original', 'png', 'jpeg'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];
export const DEFAULT_SPLIT = [80, 10, 10] as const;

/** `split=80,10,10` (train, val, test; whole percentages adding up to 100), a seed, a format and an optional longest side. */
export const exportQuerySchema = z.object({
  split: z
    .string()
    .regex(/^\s*\d{1,3}\s*,\s*\d{1,3}\s*,\s*\d{1,3}\s*$/, { error: 'split must be three whole percentages for train, val and test, such as 80,10,10.' })
    .transform((value) => value.split(',').map(Number) as [number, number, number])
    .refine((ratios) => ratios[0] + ratios[1] + ratios[2] === 100, { error: 'The split percentages must add up to 100.' })
    .refine((ratios) => ratios[0] > 0, { error: 'The training split cannot be empty.' })
    .optional(),
  seed: z.coerce.number({ error: 'seed must be a whole number' }).int({ error: 'seed must be a whole number' }).min(0).max(2 ** 31 - 1).default(1),
  format: z.enum(EXPORT_FORMATS, { error: 'format must be original, png or jpeg' }).default('original'),
  max_side: z
    .union([z.literal(''), z.coerce.number({ error: 'max_side must be a number of pixels' }).int({ error: 'max_side must be a whole number' }).min(8, { error: 'max_side must be at least 8' }).max(10_000, { error: 'max_side must be at most 10000' })])
    .optional()
    .transform((value) => (value === '' || value === undefined ? null : value)),
});
export type ExportQuery = z.output<typeof exportQuerySchema>;

/** Validates with a zod schema, or throws a ValidationError naming each field (forms and the API show them). */
export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, message = 'Please correct the highlighted fields.'): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const fields: Record<string, string> = {};
  for (const issue of parsed.error.issues) fields[issue.path.map(String).join('.') || 'name'] ??= issue.message;
  const messages = Object.values(fields);
  throw new ValidationError(messages.length === 1 ? messages[0]! : message, fields);
}
