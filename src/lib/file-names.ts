/**
 * File names that are safe inside an archive and on every desktop system that unpacks it: no path, no "..",
 * no control or bidirectional characters, nothing Windows refuses (reserved characters, device names, trailing
 * dots or spaces), no hidden-file dot in front, bounded length. A name that is already safe is kept as it is.
 */

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g;
const WINDOWS_RESERVED = /[<>:"/\\|?*]/g;
const DEVICE_NAMES = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])$/i;
/** Code points of a stem: file systems allow 255 bytes, and a UTF-8 code point takes up to 4. */
const MAX_STEM = 60;

/** `name` without its folders, whichever separator the client used. */
export const baseName = (name: string) => name.split(/[/\\]/).pop() ?? '';

/** The name's last extension (without the dot, lower case), or ''. */
export const extensionOf = (name: string) => /\.([A-Za-z0-9]{1,5})$/.exec(name)?.[1]?.toLowerCase() ?? '';

/** A safe folder or file stem: what `safeFileName` keeps of a name before its extension. */
export function safeStem(name: string, fallback: string): string {
  const cleaned = name
    .normalize('NFC')
    .replace(CONTROL, '')
    .replace(WINDOWS_RESERVED, '_')
    .replace(/^[\s.]+|[\s.]+$/g, '');
  const bounded = [...cleaned].slice(0, MAX_STEM).join('').replace(/[\s.]+$/, '');
  if (!bounded || bounded === '_') return fallback;
  return DEVICE_NAMES.test(bounded) ? `_${bounded}` : bounded;
}

/**
 * A safe file name for `name` with the given extension (the stored format's, which may differ from the name's):
 * "photo 1.jpeg" stays "photo 1.jpeg" for a JPEG, and becomes "photo 1.png" for a PNG.
 */
export function safeFileName(name: string, extension: string, fallback = 'image'): string {
  const base = baseName(name);
  const current = extensionOf(base);
  const keepsExtension = current === extension || (extension === 'jpg' && current === 'jpeg');
  const stem = current ? base.slice(0, -current.length - 1) : base;
  return `${safeStem(stem, fallback)}.${keepsExtension ? current : extension}`;
}

/** `name`, or "stem (2).ext", "stem (3).ext"... when a name equal to it ignoring case is in `used`; adds it to `used`. */
export function uniqueName(name: string, used: Set<string>): string {
  const extension = extensionOf(name);
  const stem = extension ? name.slice(0, -extension.length - 1) : name;
  let candidate = name;
  for (let n = 2; used.has(candidate.toLowerCase()); n++) candidate = extension ? `${stem} (${n}).${extension}` : `${stem} (${n})`;
  used.add(candidate.toLowerCase());
  return candidate;
}

/** An ASCII-only rendering of a file name, for the `filename=` fallback of Content-Disposition: accents dropped, the rest '_'. */
export function asciiFileName(name: string, fallback: string): string {
  const ascii = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[^A-Za-z0-9 ._()-]+/g, '_')
    .replace(/_+/g, '_')
    .replace(/^[_. ]+/, '');
  return /[A-Za-z0-9]/.test(ascii) ? ascii : fallback;
}
