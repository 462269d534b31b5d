import { z } from 'zod';
import type { CropRect } from '../../ml/index.js';

export const NAME_MAX_LENGTH = 100;
export const EXTERNAL_REF_MAX_LENGTH = 100;
export const NOTES_MAX_LENGTH = 2000;
export const PER_PAGE = 25;

// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;
// Notes may span lines; other control and bidirectional-override characters (they disguise text) are removed.
// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTERS_BUT_NEWLINES = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

const cleanLine = (value: string) => value.replace(CONTROL_CHARACTERS, '').trim();

export const signerNameSchema = z
  .string({ error: 'Enter a name.' })
  .transform(cleanLine)
  .pipe(z.string().min(1, { error: 'Enter a name.' }).max(NAME_MAX_LENGTH, { error: `A name has at most ${NAME_MAX_LENGTH} characters.` }));

/** Empty means none. */
export const externalRefSchema = z
  .string({ error: 'The external reference must be text.' })
  .nullable()
  .transform((value) => (value === null ? null : cleanLine(value) || null))
  .pipe(z.string().max(EXTERNAL_REF_MAX_LENGTH, { error: `An external reference has at most ${EXTERNAL_REF_MAX_LENGTH} characters.` }).nullable());

export const notesSchema = z
  .string({ error: 'Notes must be text.' })
  .transform((value) => value.replace(/\r\n?/g, '\n').replace(CONTROL_CHARACTERS_BUT_NEWLINES, '').trim())
  .pipe(z.string().max(NOTES_MAX_LENGTH, { error: `Notes have at most ${NOTES_MAX_LENGTH} characters.` }));

/** Creating a signer (form and API alike). */
export const newSignerSchema = z.object({
  name: signerNameSchema,
  external_ref: externalRefSchema.optional().transform((value) => value ?? null),
  notes: notesSchema.optional().transform((value) => value ?? ''),
});

/** Changing a signer: only the fields sent change (the API's PATCH; the form sends them all). */
export const signerChangesSchema = z.object({
  name: signerNameSchema.optional(),
  external_ref: externalRefSchema.optional(),
  notes: notesSchema.optional(),
});

export type NewSigner = z.output<typeof newSignerSchema>;
export type SignerChanges = z.output<typeof signerChangesSchema>;

const id = z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER);
export const idSchema = id;

export const listQuerySchema = z.object({
  q: z.string().max(200, { error: 'The search text has at most 200 characters.' }).default('').transform((value) => value.trim()),
  page: z.coerce.number({ error: 'page must be a number' }).int().min(1, { error: 'page must be at least 1' }).max(1_000_000).default(1),
});

export const pageSchema = z.object({
  page: z.coerce.number({ error: 'page must be a number' }).int().min(1, { error: 'page must be at least 1' }).max(1_000_000).default(1),
});

/** `crop=x,y,width,height` in the image's pixels; empty means the whole image. */
export const cropSchema = z
  .string()
  .trim()
  .transform((value, ctx): CropRect | null => {
    if (value === '') return null;
    const match = /^(\d{1,6}),(\d{1,6}),(\d{1,6}),(\d{1,6})$/.exec(value.replace(/\s+/g, ''));
    if (!match) {
      ctx.addIssue({ code: 'custom', message: 'crop must be x,y,width,height in whole pixels, such as 120,340,800,260.' });
      return z.NEVER;
    }
    const [x, y, width, height] = match.slice(1).map(Number) as [number, number, number, number];
    return { x, y, width, height };
  });

export const cropText = (crop: CropRect) => `${crop.x},${crop.y},${crop.width},${crop.height}`;

export const truthSchema = z.enum(['genuine', 'forged'], { error: 'truth must be genuine, forged or null' }).nullable();

/** Library images picked as references: `ids=1&ids=2`; at most 20 (the most references a signer can have anyway). */
export const pickedIdsSchema = z
  .union([z.string(), z.array(z.string())], { error: 'Select at least one image.' })
  .transform((value) => (Array.isArray(value) ? value : [value]))
  .pipe(z.array(z.string().regex(/^\d{1,15}$/, { error: 'An image id is not valid.' }).transform(Number)).min(1, { error: 'Select at least one image.' }).max(20, { error: 'Select at most 20 images.' }))
  .transform((ids) => [...new Set(ids)]);
