import { createHash, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';

/** A link token: 256 random bits, URL-safe. Only its sha256 is stored. */
export const newLinkToken = () => randomBytes(32).toString('base64url');

export const sha256Hex = (value: string) => createHash('sha256').update(value).digest('hex');

// No 0/o, 1/l/i: codes are read from a log or a screen and typed by hand.
const READABLE = 'abcdefghjkmnpqrstuvwxyz23456789';

/** `groups` groups of 4 characters joined by dashes: 3 groups carry about 59 bits, 4 about 79. */
export function readableCode(groups: number): string {
  return Array.from({ length: groups }, () => Array.from({ length: 4 }, () => READABLE[randomInt(READABLE.length)]).join('')).join('-');
}

/** Compares a typed code with the expected one in constant time, ignoring case, spaces and dashes. */
export function sameCode(typed: string, expected: string): boolean {
  const normal = (code: string) => Buffer.from(code.toLowerCase().replace(/[\s-]/g, ''));
  const a = normal(typed);
  const b = normal(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
