import { create as contentDisposition } from 'content-disposition';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import type { Request, Response } from 'express';

/** What sendImage needs to know about an image (ImagesService.open gives it for library images). */
export interface ImageToSend {
  contentType: string;
  fileName: string;
  bytes: number;
  etag: string;
  stream: () => Readable;
}

/**
 * Sends a stored image to its owner (pages and API alike). The type is the sniffed one, never the upload's
 * claim; nosniff and a CSP of default-src 'none' keep a browser from running anything in it, even opened on
 * its own; a download gets `attachment` and a safe file name. Images never change under an id, so the ETag
 * lets the browser keep its private copy.
 */
export async function sendImage(req: Request, res: Response, opened: ImageToSend, { download = false } = {}): Promise<void> {
  res.set({
    'Content-Type': opened.contentType,
    'X-Content-Type-Options': 'nosniff',
    'Content-Security-Policy': "default-src 'none'",
    'Content-Disposition': contentDisposition(opened.fileName, { type: download ? 'attachment' : 'inline' }),
    'Cache-Control': 'private, max-age=86400',
    ETag: opened.etag,
  });
  if (req.fresh) {
    res.status(304).end();
    return;
  }
  res.set('Content-Length', String(opened.bytes));
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  // Resolves once the body is sent, so that callers (apiRoute) see the response as answered.
  await pipeline(opened.stream(), res).catch((err: unknown) => {
    res.destroy(err as Error);
  });
}
