/**
 * One CSV line (RFC 4180, CRLF) for people: text that a spreadsheet would run as a formula (starting with =, +, -,
 * @, tab or carriage return) gets a leading apostrophe; numbers are written as they are, negative ones included.
 */
export function csvLine(values: readonly (string | number)[]): string {
  return `${values.map((value) => quoted(typeof value === 'string' && /^[=+\-@\t\r]/.test(value) ? `'${value}` : value)).join(',')}\r\n`;
}

/**
 * One CSV line (RFC 4180, CRLF) for programs, such as a dataset's labels.csv: every value exactly as it is, so that
 * a label named "-1" reads back as "-1".
 */
export function dataCsvLine(values: readonly (string | number)[]): string {
  return `${values.map(quoted).join(',')}\r\n`;
}

function quoted(value: string | number): string {
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : '';
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}
