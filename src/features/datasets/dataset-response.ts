import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { create as contentDisposition, encodeExtended } from 'content-disposition';
import type { Response } from 'express';
import { asciiFileName } from '../../lib/file-names.js';

/**
 * `attachment; filename="<ASCII>"; filename*=UTF-8''<name>`: always both, so that every client gets a safe
 * name it can write (accents dropped, other characters '_') and modern ones the real one.
 */
export function attachmentHeader(fileName: string): string {
  return `${contentDisposition(asciiFileName(fileName, 'dataset.zip'))}; filename*=${encodeExtended(fileName)}`;
}

/**
 * Streams an export to the client (pages and API alike). Resolves when the zip is sent or the client went away;
 * a failure mid-way (a file missing on disk) cuts the connection, so the client sees a broken download rather
 * than a zip that looks whole.
 */
export async function sendZip(res: Response, fileName: string, stream: Readable): Promise<void> {
  res.set({
    'Content-Type': 'application/zip',
    'Content-Disposition': attachmentHeader(fileName),
    'Cache-Control': 'private, no-store',
    'X-Content-Type-Options': 'nosniff',
  });
  // Headers go at once, so a client sees the download start before the first image is read.
  res.flushHeaders();
  await pipeline(stream, res).catch((err: unknown) => {
    res.destroy(err as Error);
  });
}
