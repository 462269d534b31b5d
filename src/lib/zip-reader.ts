/**
 * Reads an untrusted zip archive entry by entry, with every limit enforced while inflating.
 *
 * Why yauzl (3.x, one small dependency, maintained, used by electron and VS Code tooling) and not another reader:
 * it reads the central directory from a file on disk with random access, so nothing is held in memory but the
 * entry being read, it never writes a file, and it hands over an entry's raw bytes when asked
 * (`decodeFileData: false`). We inflate those with node:zlib ourselves and count both sides of the inflater, so
 * the sizes in the headers are never trusted: an entry stops the moment its real output passes a limit. File names
 * are decoded raw (`decodeStrings: false`) and judged here, so that one bad name skips one entry instead of failing
 * the whole archive, as yauzl's own check would.
 */
import { createInflateRaw } from 'node:zlib';
import type { Readable } from 'node:stream';
import yauzl, { type Entry, type ZipFile } from 'yauzl';

export interface ZipLimits {
  /** Entries in the archive, from its central directory (yauzl reads no more than that count). */
  maxEntries: number;
  /** Bytes one entry may inflate to. */
  maxEntryBytes: number;
  /** Bytes all the entries read may inflate to, together. */
  maxTotalBytes: number;
  /** Inflated bytes per compressed byte, per entry, once it is past RATIO_GRACE_BYTES. */
  maxRatio: number;
}

/**
 * Images are compressed already, so deflating them again gains a few percent: real image entries stay far below
 * 100:1, while a zip bomb's kernel inflates at ~1000:1. Small entries may exceed the ratio (a tiny PNG of one
 * colour); past 256 KiB of output they may not.
 */
export const MAX_COMPRESSION_RATIO = 100;
export const RATIO_GRACE_BYTES = 256 * 1024;

export type EntryProblem =
  | 'unsafe_path'
  | 'symlink'
  | 'special_file'
  | 'encrypted'
  | 'unsupported_compression'
  | 'nested_archive'
  | 'too_large'
  | 'compression_ratio'
  | 'damaged';

/** One entry would be unsafe or is over a limit: skip it, say why, and go on with the next. */
export class EntryRefusal extends Error {
  constructor(
    readonly reason: EntryProblem,
    message: string,
  ) {
    super(message);
    this.name = 'EntryRefusal';
  }
}

/** The archive as a whole is refused: not a zip, damaged, or over the entry or total limit. */
export class ZipArchiveError extends Error {
  constructor(
    readonly reason: 'not_a_zip' | 'too_many_entries' | 'total_too_large',
    message: string,
  ) {
    super(message);
    this.name = 'ZipArchiveError';
  }
}

export interface ZipEntry {
  /** The entry's path with '/' separators, '.' and empty segments removed; empty for a path that could not be made safe. */
  path: string;
  /** The name as the archive gives it, control characters shown as '?': for telling the user which entry was skipped. */
  name: string;
  directory: boolean;
  /** Why the entry must not be read at all (its name or its type), or null. */
  problem: EntryRefusal | null;
}

const MB = 1024 * 1024;
const mb = (bytes: number) => `${Math.round((bytes / MB) * 10) / 10} MB`;

// Archives inside the archive are never opened: they would escape every limit counted here.
const ARCHIVE_EXTENSION = /\.(zip|jar|war|apk|tar|tgz|gz|bz2|xz|zst|7z|rar|cab|iso|lz|lzma|z)$/i;
const ARCHIVE_MAGIC: [number, Buffer][] = [
  [0, Buffer.from('PK\x03\x04', 'latin1')],
  [0, Buffer.from('PK\x05\x06', 'latin1')],
  [0, Buffer.from([0x1f, 0x8b])], // gzip
  [0, Buffer.from('BZh', 'latin1')],
  [0, Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])], // xz
  [0, Buffer.from([0x28, 0xb5, 0x2f, 0xfd])], // zstd
  [0, Buffer.from('Rar!\x1a\x07', 'latin1')],
  [0, Buffer.from([0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c])], // 7z
  [257, Buffer.from('ustar', 'latin1')], // tar
];

export const looksLikeArchive = (bytes: Buffer) => ARCHIVE_MAGIC.some(([offset, magic]) => bytes.subarray(offset, offset + magic.length).equals(magic));

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;
// eslint-disable-next-line no-control-regex
const CONTROL_ALL = /[\u0000-\u001f\u007f]/g;
const UNIX_HOSTS = new Set([3, 19]); // Unix, OS X: the upper 16 bits of the external attributes are st_mode
const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;

/** Decodes an entry's name and judges it and its type, without reading its data. */
export function describeEntry(entry: Entry): ZipEntry {
  // Non-strict: backslashes (written by some Windows tools) become slashes, and are then judged like them.
  const raw = yauzl.getFileNameLowLevel(entry.generalPurposeBitFlag, entry.fileNameRaw, entry.extraFields, false);
  const directory = raw.endsWith('/');
  const name = raw.replace(CONTROL_ALL, '?').slice(0, 300);
  const refuse = (reason: EntryProblem, message: string): ZipEntry => ({ path: '', name, directory, problem: new EntryRefusal(reason, message) });

  if (CONTROL.test(raw) || raw.length > 1024) return refuse('unsafe_path', 'The name contains control characters or is too long.');
  if (raw.startsWith('/') || /^[A-Za-z]:/.test(raw)) return refuse('unsafe_path', 'The path is absolute; only paths inside the archive are accepted.');
  const segments = raw.split('/').filter((segment) => segment !== '' && segment !== '.');
  if (segments.includes('..')) return refuse('unsafe_path', 'The path leads out of the archive ("..").');
  const path = segments.join('/');

  const mode = UNIX_HOSTS.has(entry.versionMadeBy >>> 8) ? (entry.externalFileAttributes >>> 16) & S_IFMT : 0;
  const entryWith = (problem: EntryRefusal | null): ZipEntry => ({ path, name, directory, problem });
  if (mode === S_IFLNK) return entryWith(new EntryRefusal('symlink', 'Symbolic links are not followed.'));
  if (mode !== 0 && mode !== S_IFREG && mode !== S_IFDIR) return entryWith(new EntryRefusal('special_file', 'Not a regular file (a device or a pipe).'));
  if (directory) return entryWith(null);
  if (entry.isEncrypted()) return entryWith(new EntryRefusal('encrypted', 'The entry is encrypted.'));
  if (entry.compressionMethod !== 0 && entry.compressionMethod !== 8) {
    return entryWith(new EntryRefusal('unsupported_compression', `Compression method ${entry.compressionMethod} is not supported (only stored and deflated).`));
  }
  if (ARCHIVE_EXTENSION.test(path)) return entryWith(new EntryRefusal('nested_archive', 'Archives inside the archive are not opened.'));
  return entryWith(null);
}

async function openArchive(file: string, limits: ZipLimits): Promise<ZipFile> {
  let zip: ZipFile;
  try {
    // validateEntrySizes off: we count the real bytes ourselves, against our own limits, never against the header's claim.
    zip = await yauzl.openPromise(file, { lazyEntries: true, autoClose: false, decodeStrings: false, validateEntrySizes: false });
  } catch {
    throw new ZipArchiveError('not_a_zip', 'The file is not a zip archive, or it is damaged.');
  }
  if (zip.entryCount > limits.maxEntries) {
    zip.close();
    throw new ZipArchiveError('too_many_entries', `The archive has ${zip.entryCount.toLocaleString('en')} entries; at most ${limits.maxEntries.toLocaleString('en')} are accepted.`);
  }
  return zip;
}

async function* entriesOf(zip: ZipFile): AsyncGenerator<Entry> {
  try {
    yield* zip.eachEntry();
  } catch (err) {
    if (err instanceof ZipArchiveError || err instanceof EntryRefusal) throw err;
    throw new ZipArchiveError('not_a_zip', 'The archive\'s directory is damaged.');
  }
}

/** Every entry's path and problem, from the central directory alone: nothing is inflated. */
export async function listZip(file: string, limits: ZipLimits): Promise<ZipEntry[]> {
  const zip = await openArchive(file, limits);
  try {
    const list: ZipEntry[] = [];
    for await (const entry of entriesOf(zip)) list.push(describeEntry(entry));
    return list;
  } finally {
    zip.close();
  }
}

/**
 * Visits the entries in archive order. `visit` gets the entry and a `read` that inflates it into memory within
 * the limits: it throws EntryRefusal for that entry alone (too large, ratio, damaged, an archive inside) and
 * ZipArchiveError once all entries read together pass maxTotalBytes. Entries not read cost nothing.
 */
export async function readZip(file: string, limits: ZipLimits, visit: (entry: ZipEntry, read: () => Promise<Buffer>) => Promise<void>): Promise<void> {
  const zip = await openArchive(file, limits);
  let total = 0;
  try {
    for await (const raw of entriesOf(zip)) {
      const entry = describeEntry(raw);
      await visit(entry, async () => {
        if (entry.problem || entry.directory) throw entry.problem ?? new EntryRefusal('special_file', 'A folder has no content.');
        const bytes = await inflateEntry(zip, raw, limits, (delta) => {
          total += delta;
          if (total > limits.maxTotalBytes) {
            throw new ZipArchiveError('total_too_large', `The archive inflates to more than ${mb(limits.maxTotalBytes)}; that is the limit for one import.`);
          }
        });
        if (looksLikeArchive(bytes)) throw new EntryRefusal('nested_archive', 'Archives inside the archive are not opened.');
        return bytes;
      });
    }
  } finally {
    zip.close();
  }
}

/** One entry's bytes, counted on both sides of the inflater as they flow, stopped at the first limit passed. */
async function inflateEntry(zip: ZipFile, entry: Entry, limits: ZipLimits, countTotal: (delta: number) => void): Promise<Buffer> {
  let source: Readable;
  try {
    source = await zip.openReadStreamPromise(entry, { decodeFileData: false });
  } catch {
    throw new EntryRefusal('damaged', 'The entry could not be read; the archive may be damaged.');
  }
  const inflater = entry.compressionMethod === 8 ? createInflateRaw() : null;
  const output: Readable = inflater ?? source;
  let compressed = 0;
  let inflated = 0;
  const chunks: Buffer[] = [];

  return new Promise<Buffer>((resolve, reject) => {
    let settled = false;
    const stop = (err: Error | null) => {
      if (settled) return;
      settled = true;
      if (inflater) source.unpipe(inflater);
      source.destroy();
      inflater?.destroy();
      if (err) reject(err);
      else resolve(Buffer.concat(chunks, inflated));
    };
    source.on('data', (chunk: Buffer) => {
      compressed += chunk.length;
    });
    output.on('data', (chunk: Buffer) => {
      if (settled) return;
      inflated += chunk.length;
      try {
        countTotal(chunk.length);
      } catch (err) {
        return stop(err as Error);
      }
      if (inflated > limits.maxEntryBytes) return stop(new EntryRefusal('too_large', `The entry is larger than ${mb(limits.maxEntryBytes)}, the limit for one image.`));
      if (inflated > RATIO_GRACE_BYTES && inflated > compressed * limits.maxRatio) {
        return stop(new EntryRefusal('compression_ratio', `The entry inflates more than ${limits.maxRatio} times its compressed size: a zip bomb, not an image.`));
      }
      chunks.push(chunk);
    });
    const damaged = () => stop(new EntryRefusal('damaged', 'The entry could not be inflated; the archive may be damaged.'));
    source.on('error', damaged);
    inflater?.on('error', damaged);
    output.on('end', () => stop(null));
    if (inflater) source.pipe(inflater);
  });
}
