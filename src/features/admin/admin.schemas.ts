import { z } from 'zod';
import { NotFoundError, ValidationError } from '../../http/errors.js';
import { INVITE_LIFETIME_DAYS, REGISTRATION_POLICIES } from '../accounts/index.js';
import { EVENT_GROUPS, type EventGroup } from './events.service.js';
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

const pageField = z.coerce
  .number({ message: 'page must be a number' })
  .int({ message: 'page must be a whole number' })
  .min(1, { message: 'page must be at least 1' })
  .max(100_000, { message: 'page is too large' })
  .default(1);

const windowFilter = z.enum([...WINDOWS, 'all'], { message: 'window must be 24h, 7d, 30d or all' }).default('all');
const userFilter = z.string().trim().max(64, { message: 'user is too long' }).optional();
const ipFilter = z.string().trim().max(64, { message: 'address is too long' }).optional();
// The whole id, as an error page shows it (a UUID); the list shows the same.
const requestIdFilter = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^[0-9a-f-]{8,64}$/, { message: 'id must be a request id such as 0b5c1f3e-…, as an error page shows it' })
  .optional();

const requestsQueryFields = {
  window: windowFilter,
  user: userFilter,
  route: z.string().trim().max(300, { message: 'route is too long' }).optional(),
  status: statusFilter.optional(),
  id: requestIdFilter,
  ip: ipFilter,
  page: pageField,
};

const eventsQueryFields = {
  window: windowFilter,
  kind: z.enum(Object.keys(EVENT_GROUPS) as [EventGroup, ...EventGroup[]], { message: 'kind is not one of the listed kinds' }).optional(),
  user: userFilter,
  ip: ipFilter,
  request: requestIdFilter,
  page: pageField,
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
export const parseEventsQuery = (query: Record<string, unknown>) => lenientQuery(eventsQueryFields, query);

/** An id from the URL; anything but a positive whole number is a page that does not exist. */
export function parseId(value: unknown, notFound = 'No such user.'): number {
  const result = z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER).safeParse(value);
  if (!result.success) throw new NotFoundError(notFound);
  return result.data;
}

export const parseUserId = (value: unknown) => parseId(value);

const roleBody = z.object({ role: z.enum(['user', 'admin'], { message: 'Choose the role user or admin.' }) });
const disabledBody = z.object({ disabled: z.enum(['true', 'false'], { message: 'Choose to disable or enable.' }).transform((v) => v === 'true') });

function strict<T extends z.ZodType>(schema: T, body: unknown): z.output<T> {
  const result = schema.safeParse(body ?? {});
  if (result.success) return result.data;
  throw new ValidationError(result.error.issues[0]?.message ?? 'The form is not valid.');
}

export const parseRoleBody = (body: unknown) => strict(roleBody, body).role;
export const parseDisabledBody = (body: unknown) => strict(disabledBody, body).disabled;

const newUserBody = z.object({
  username: z.string({ message: 'Enter a username.' }),
  role: z.enum(['user', 'admin'], { message: 'Choose the role user or admin.' }).default('user'),
});
const resetBody = z.object({ method: z.enum(['temporary', 'link'], { message: 'Choose a temporary password or a reset link.' }) });
const policyBody = z.object({ policy: z.enum(REGISTRATION_POLICIES, { message: 'Choose open, invitation only or closed.' }) });
const inviteBody = z.object({
  days: z.coerce
    .number()
    .refine((days) => (INVITE_LIFETIME_DAYS as readonly number[]).includes(days), { message: 'Choose how long the link stays valid.' }),
  note: z.string().max(100, { message: 'The note may have at most 100 characters.' }).default(''),
});

export const parseNewUserBody = (body: unknown) => strict(newUserBody, body);
export const parseResetBody = (body: unknown) => strict(resetBody, body).method;
export const parsePolicyBody = (body: unknown) => strict(policyBody, body).policy;
export const parseInviteBody = (body: unknown) => strict(inviteBody, body);
