/**
 * Zip archives built byte by byte for the import tests, hostile ones included (paths out of the archive, symbolic
 * links, headers that lie about sizes, bombs), and a reader for the archives the app sends back.
 */
import { crc32, deflateRawSync } from 'node:zlib';
import yauzl from 'yauzl';

export interface ZipEntrySpec {
  /** The name as stored (any bytes: a string is written as UTF-8 with the UTF-8 flag). */
  name: string;
  data?: Buffer;
  /** 0 stored, 8 deflated (default 8 for data, 0 for folders). */
  method?: 0 | 8;
  /** The uncompressed size written in the headers instead of the true one (a lying header). */
  declaredSize?: number;
  /** Unix st_mode for the external attributes (0o120777 for a symbolic link). */
  unixMode?: number;
  /** Sets the "encrypted" flag (bit 0). */
  encrypted?: boolean;
}

/** A zip archive of these entries, as a Buffer. */
export function buildZip(entries: ZipEntrySpec[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = Buffer.from(entry.name, 'utf8');
    const data = entry.data ?? Buffer.alloc(0);
    const method = entry.method ?? (entry.name.endsWith('/') ? 0 : 8);
    const body = method === 8 ? deflateRawSync(data, { level: 9 }) : data;
    const crc = crc32(data);
    const size = entry.declaredSize ?? data.length;
    const compressedSize = body.length;
    const flags = 0x0800 | (entry.encrypted ? 1 : 0);

    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(flags, 6);
    local.writeUInt16LE(method, 8);
    local.writeUInt32LE(0, 10); // time and date
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(compressedSize, 18);
    local.writeUInt32LE(size, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(0, 28);
    locals.push(local, name, body);

    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(entry.unixMode === undefined ? 20 : (3 << 8) | 20, 4); // made by: Unix when a mode is given
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(flags, 8);
    central.writeUInt16LE(method, 10);
    central.writeUInt32LE(0, 12);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(compressedSize, 20);
    central.writeUInt32LE(size, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(((entry.unixMode ?? 0) << 16) >>> 0, 38);
    central.writeUInt32LE(offset, 42);
    centrals.push(central, name);
    offset += local.length + name.length + body.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

export interface ReadEntry {
  name: string;
  data: Buffer;
  /** 0 stored, 8 deflated. */
  method: number;
}

/** Every file entry of a zip, read (and CRC-checked) by yauzl, in archive order. */
export async function readZipBuffer(zip: Buffer): Promise<ReadEntry[]> {
  const file = await yauzl.fromBufferPromise(zip, { lazyEntries: true, validateEntrySizes: true });
  const entries: ReadEntry[] = [];
  for await (const entry of file.eachEntry()) {
    if (entry.fileName.endsWith('/')) continue;
    const stream = await file.openReadStreamPromise(entry);
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    const data = Buffer.concat(chunks);
    if (crc32(data) !== entry.crc32) throw new Error(`CRC mismatch in ${entry.fileName}`);
    entries.push({ name: entry.fileName, data, method: entry.compressionMethod });
  }
  return entries;
}

/** labels.csv parsed (no quoted fields are expected in the tests' names). */
export const parseCsv = (text: string) =>
  text
    .trimEnd()
    .split('\r\n')
    .map((line) => line.split(','));
