import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Request, Response } from 'express';
import { NotFoundError } from '../../http/errors.js';
import { MIME_TYPES } from '../../storage/index.js';
import { sendImage } from '../images/index.js';
import type { SignaturesService } from './signatures.service.js';

const EXTENSIONS = { png: 'png', jpeg: 'jpg', webp: 'webp', gif: 'gif' } as const;

/** Sends the stored image of a reference or a verification (found through the user's own rows) with the library's headers. */
export function sendStoredImage(req: Request, res: Response, signatures: SignaturesService, storedImageId: number, variant: 'original' | 'thumbnail', stem: string) {
  const found = signatures.storedImage(req.user!.id, storedImageId);
  if (!found) throw new NotFoundError('We could not find that image.');
  const { image } = found;
  const original = variant === 'original';
  return sendImage(req, res, {
    contentType: original ? MIME_TYPES[image.type] : 'image/webp',
    fileName: `${stem}.${original ? EXTENSIONS[image.type] : 'webp'}`,
    bytes: original ? image.bytes : image.thumbnailBytes,
    etag: `"${image.sha256.slice(0, 32)}${original ? '' : '-t'}"`,
    stream: () => found.stream(variant),
  });
}

/** Sends an ink map (a small PNG kept with its row); it changes only when a new model version recomputes it. */
export function sendInkMap(req: Request, res: Response, png: Buffer, stem: string) {
  return sendImage(req, res, {
    contentType: 'image/png',
    fileName: `${stem}-ink-map.png`,
    bytes: png.length,
    etag: `"${createHash('sha256').update(png).digest('hex').slice(0, 32)}"`,
    stream: () => Readable.from([png]),
  });
}
