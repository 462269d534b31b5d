import { ZipArchive } from 'archiver';
import { once } from 'node:events';
import type { Readable } from 'node:stream';

export interface ZipEntry {
  /** The path inside the zip ("7/123.png"). */
  name: string;
  date: Date;
  /** Opens the entry's content when its turn comes. */
  open(): Readable;
}

/**
 * A zip of entries that may be many (a data set of thousands of images), streamed: one entry is opened at a
 * time, after the previous one is written, so neither the file handles nor the memory grow with the count.
 * Entries are stored uncompressed (images are compressed already). An error while reading ends the stream with it.
 */
export function zipStream(entries: AsyncIterable<ZipEntry>): Readable {
  const archive = new ZipArchive({ store: true });
  void (async () => {
    try {
      for await (const entry of entries) {
        const written = once(archive, 'entry');
        archive.append(entry.open(), { name: entry.name, date: entry.date });
        await written;
      }
      await archive.finalize();
    } catch (err) {
      archive.destroy(err as Error);
    }
  })();
  return archive;
}
