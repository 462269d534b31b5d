import { dictionary } from '@zxcvbn-ts/language-common';
import { PASSWORD_MIN_LENGTH } from './accounts.schemas.js';

/**
 * Passwords too common to allow: the 49,233 most common passwords of zxcvbn-ts's common dictionary
 * (@zxcvbn-ts/language-common, MIT, installed with the other dependencies; nothing is fetched at run time).
 * Only those long enough to pass the length rule can matter, about 1,500; they are compared lower-cased.
 */
let common: Set<string> | undefined;
const commonPasswords = () =>
  (common ??= new Set(dictionary['passwords-common'].filter((p) => p.length >= PASSWORD_MIN_LENGTH).map((p) => p.toLowerCase())));

/**
 * Why a password that passes the length rules is still too easy to guess, or null. The rules on top of the length:
 * not one of the most common passwords, not the username.
 */
export function passwordWeakness(password: string, username: string): string | null {
  const lower = password.toLowerCase();
  if (username && lower === username.trim().toLowerCase()) return 'The password may not be your username.';
  if (commonPasswords().has(lower)) return 'This is one of the most common passwords; choose another (a few unrelated words work well).';
  return null;
}
