/** One CSV line (RFC 4180): a field with a comma, quote or line break is quoted, its quotes doubled; lines end with CRLF. */
export function csvLine(fields: readonly (string | number)[]): string {
  return `${fields.map((field) => (typeof field === 'string' && /[",\r\n]/.test(field) ? `"${field.replaceAll('"', '""')}"` : String(field))).join(',')}\r\n`;
}
