import { z } from 'zod';
import { NotFoundError, ValidationError } from '../../http/errors.js';
import { WINDOWS } from './stats.service.js';

/**
 * The admin pages' query parameters are bookmarks and links, so a bad one never fails the page: it is
 * dropped (its default applies) and the page says which one was ignored and why. Form posts, in contrast,
 * are checked strictly (ValidationError).
 */
const statsQueryFields = {
  window: z.enum(WINDOWS, { message: 'window must be 24h, 7d or 30d' }).default('24h'),
};

const statusFilter = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^([1-5]xx|[1-5]\d\d)$/, { message: 'status must be a class such as 4xx or a code such as 404' })
  .transform((value): [number, number] => {
    const first = Number(value[0]);
    return value.endsWith('xx') ? [first * 100, first * 100 + 99] : [Number(value), Number(value)];
  });

const requestsQueryFields = {
  window: z.enum([...WINDOWS, 'all'], { message: 'window must be 24h, 7d, 30d or all' }).default('all'),
  user: z.string().trim().max(64, { message: 'user is too long' }).optional(),
  route: z.string().trim().max(300, { message: 'route is too long' }).optional(),
  status: statusFilter.optional(),
  page: z.coerce
    .number({ message: 'page must be a number' })
    .int({ message: 'page must be a whole number' })
    .min(1, { message: 'page must be at least 1' })
    .max(100_000, { message: 'page is too large' })
    .default(1),
};

type Fields = Record<string, z.ZodType>;
type Parsed<F extends Fields> = { [K in keyof F]: z.output<F[K]> };

/** Parses each parameter on its own: an invalid one falls back to its default and yields a notice. */
function lenientQuery<F extends Fields>(fields: F, query: Record<string, unknown>): { values: Parsed<F>; notices: string[] } {
  const values: Record<string, unknown> = {};
  const notices: string[] = [];
  for (const [name, schema] of Object.entries(fields)) {
    // An empty field (a filter form submitted blank) means "not set".
    const raw = query[name] === '' ? undefined : query[name];
    const result = schema.safeParse(raw);
    if (result.success) {
      values[name] = result.data;
      continue;
    }
    notices.push(`Ignored ${name}: ${result.error.issues[0]?.message ?? 'invalid value'}.`);
    values[name] = schema.parse(undefined);
  }
  return { values: values as Parsed<F>, notices };
}

export const parseStatsQuery = (query: Record<string, unknown>) => lenientQuery(statsQueryFields, query);
export const parseRequestsQuery = (query: Record<string, unknown>) => lenientQuery(requestsQueryFields, query);

/** A user id from the URL; anything but a positive whole number is a page that does not exist. */
export function parseUserId(value: unknown): number {
  const result = z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER).safeParse(value);
  if (!result.success) throw new NotFoundError('No such user.');
  return result.data;
}

const roleBody = z.object({ role: z.enum(['user', 'admin'], { message: 'Choose the role user or admin.' }) });
const disabledBody = z.object({ disabled: z.enum(['true', 'false'], { message: 'Choose to disable or enable.' }).transform((v) => v === 'true') });

function strict<T extends z.ZodType>(schema: T, body: unknown): z.output<T> {
  const result = schema.safeParse(body ?? {});
  if (result.success) return result.data;
  throw new ValidationError(result.error.issues[0]?.message ?? 'The form is not valid.');
}

export const parseRoleBody = (body: unknown) => strict(roleBody, body).role;
export const parseDisabledBody = (body: unknown) => strict(disabledBody, body).disabled;
