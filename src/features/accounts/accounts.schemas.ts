import { z } from 'zod';
import { ValidationError, type FieldErrors } from '../../http/errors.js';

/** bcrypt ignores everything after the 72nd byte, so a longer password would be silently truncated. */
export const PASSWORD_MAX_BYTES = 72;
export const PASSWORD_MIN_LENGTH = 10;

/**
 * Usernames are stored lower-cased: "Alice" signs up as "alice". Uniqueness ignores case anyway (the
 * database index is NOCASE), and one spelling per account avoids look-alike names.
 */
export const usernameSchema = z
  .string({ message: 'Enter a username.' })
  .trim()
  .toLowerCase()
  .min(3, { message: 'A username has at least 3 characters.' })
  .max(32, { message: 'A username has at most 32 characters.' })
  .regex(/^[a-z0-9_.-]+$/, { message: 'Use only letters, digits, dots, dashes and underscores.' });

/** Passwords are never trimmed: spaces are characters too. */
export const passwordSchema = z
  .string({ message: 'Enter a password.' })
  .min(PASSWORD_MIN_LENGTH, { message: `A password has at least ${PASSWORD_MIN_LENGTH} characters.` })
  .refine((value) => Buffer.byteLength(value, 'utf8') <= PASSWORD_MAX_BYTES, {
    message: `A password may be at most ${PASSWORD_MAX_BYTES} bytes long (fewer characters if you use accents or symbols).`,
  });

export const registerSchema = z
  .object({
    username: usernameSchema,
    password: passwordSchema,
    confirmPassword: z.string({ message: 'Repeat the password.' }),
  })
  .refine((input) => input.password === input.confirmPassword, {
    path: ['confirmPassword'],
    message: 'The two passwords do not match.',
  });

export const changePasswordSchema = z
  .object({
    currentPassword: z.string().min(1, { message: 'Enter your current password.' }),
    newPassword: passwordSchema,
    confirmPassword: z.string({ message: 'Repeat the new password.' }),
  })
  .refine((input) => input.newPassword === input.confirmPassword, {
    path: ['confirmPassword'],
    message: 'The two passwords do not match.',
  });

/** A new password without the current one: replacing a temporary password, or from a reset link. */
export const newPasswordSchema = z
  .object({
    newPassword: passwordSchema,
    confirmPassword: z.string({ message: 'Repeat the new password.' }),
  })
  .refine((input) => input.newPassword === input.confirmPassword, {
    path: ['confirmPassword'],
    message: 'The two passwords do not match.',
  });

export type RegisterInput = z.input<typeof registerSchema>;

/** Parses with a schema or throws a ValidationError naming each offending field (the first message per field). */
export function parseOrThrow<S extends z.ZodType>(schema: S, input: unknown, message = 'Please correct the marked fields.'): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const fields: FieldErrors = {};
  for (const issue of result.error.issues) {
    const field = String(issue.path[0] ?? 'form');
    fields[field] ??= issue.message;
  }
  throw new ValidationError(message, fields);
}
