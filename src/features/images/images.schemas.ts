import path from 'node:path';
import { z } from 'zod';

export const NAME_MAX_LENGTH = 200;

// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/** A display name: no control or bidirectional-override characters (they disguise names), trimmed, bounded. */
export const imageNameSchema = z
  .string({ error: 'Enter a name.' })
  .transform((value) => value.replace(CONTROL_CHARACTERS, '').trim())
  .pipe(
    z
      .string()
      .min(1, { error: 'Enter a name.' })
      .max(NAME_MAX_LENGTH, { error: `A name has at most ${NAME_MAX_LENGTH} characters.` }),
  );

/** The name an uploaded file is shown under: its base name as the browser sent it, cleaned; never a path. */
export function nameFromUpload(originalName: string | undefined, fallback: string): string {
  // Browsers send the base name, but a client may send "../../x.png" or "C:\\photos\\x.png".
  const base = path.posix.basename((originalName ?? '').replaceAll('\\', '/'));
  const parsed = imageNameSchema.safeParse(base);
  return parsed.success ? parsed.data : fallback;
}

export const BACKGROUND_MODES = ['document', 'photo', 'plain'] as const;
export const BACKGROUND_OUTPUTS = ['transparent', 'color', 'mask'] as const;
export const BACKGROUND_PROVIDERS = ['builtin', 'remove.bg', 'rembg'] as const;
export const INK_COLOURS = ['original', 'black', 'blue'] as const;
export type BackgroundProvider = (typeof BACKGROUND_PROVIDERS)[number];

/** The options of a background removal, for the API (JSON) and the page's form alike. */
export const backgroundRemovalSchema = z.object({
  mode: z.enum(BACKGROUND_MODES, { error: 'mode must be document, photo or plain' }),
  output: z.enum(BACKGROUND_OUTPUTS, { error: 'output must be transparent, color or mask' }).default('transparent'),
  color: z
    .string()
    .regex(/^#[0-9a-fA-F]{6}$/, { error: 'color must look like #rrggbb' })
    .transform((value) => value.toLowerCase())
    .optional(),
  provider: z.enum(BACKGROUND_PROVIDERS, { error: 'provider must be builtin, remove.bg or rembg' }).default('builtin'),
  strength: z.coerce.number({ error: 'strength must be a number' }).int({ error: 'strength must be a whole number' }).min(0).max(100).optional(),
  ink: z.enum(INK_COLOURS, { error: 'ink must be original, black or blue' }).optional(),
});

export type BackgroundRemovalRequest = z.output<typeof backgroundRemovalSchema>;

const id = z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER);

/** Selected image ids from a query or form: `ids=1&ids=2` or `ids=1,2`; at most 500, each a positive whole number. */
export const idListSchema = z
  .union([z.string(), z.array(z.string())], { error: 'Select at least one image.' })
  .transform((value) => (Array.isArray(value) ? value : [value]).flatMap((part) => part.split(',')).filter((part) => part.trim() !== ''))
  .pipe(z.array(z.string().regex(/^\s*\d{1,15}\s*$/, { error: 'An image id is not valid.' }).transform(Number).pipe(z.number().int().positive().max(Number.MAX_SAFE_INTEGER)), { error: 'An image id is not valid.' }).min(1, { error: 'Select at least one image.' }).max(500, { error: 'Select at most 500 images at a time.' }))
  .transform((ids) => [...new Set(ids)]);

export const idSchema = id;

export const PER_PAGE_DEFAULT = 48;
export const PER_PAGE_MAX = 200;

export const pageQuerySchema = z.object({
  page: z.coerce.number({ error: 'page must be a number' }).int().min(1, { error: 'page must be at least 1' }).max(1_000_000).default(1),
  per_page: z.coerce.number({ error: 'per_page must be a number' }).int().min(1).max(PER_PAGE_MAX, { error: `per_page must be at most ${PER_PAGE_MAX}` }).default(PER_PAGE_DEFAULT),
});
