import { randomBytes } from 'node:crypto';
import { unlink } from 'node:fs/promises';
import type { RequestHandler } from 'express';
import multer from 'multer';
import { UnauthorizedError } from './errors.js';

export interface UploadLimits {
  maxFileBytes: number;
  maxFiles: number;
  /** Where files are received before they are checked (the image store's incoming folder, swept at start-up). */
  incomingDir: string;
}

/**
 * Parses a multipart body within the configured limits (the error handler turns a limit hit into 413). Files
 * are received to disk under random names, not into memory, so that many concurrent uploads cost disk, not
 * RAM: memory is spent only while the image store checks a file, a few at a time. The received files are
 * deleted when the response is done, whatever happened; the store has copied what it kept by then.
 */
export function multipartParser({ maxFileBytes, maxFiles, incomingDir }: UploadLimits): RequestHandler {
  const parse = multer({
    storage: multer.diskStorage({
      destination: incomingDir,
      filename: (_req, _file, done) => done(null, `${randomBytes(16).toString('hex')}.upload`),
    }),
    limits: { fileSize: maxFileBytes, files: maxFiles, fields: 50, fieldSize: 64 * 1024, parts: maxFiles + 50 },
  }).any();
  return (req, res, next) => {
    res.once('close', () => {
      // A request cut off mid-upload leaves placeholders without a path (multer removes its partial file itself).
      const received = ((req.files ?? []) as Partial<Express.Multer.File>[]).flatMap((file) => (typeof file.path === 'string' ? [file.path] : []));
      // unlink, not rm: one system call per file (rm looks before it deletes); a file already gone is fine.
      void Promise.all(received.map((file) => unlink(file).catch(() => undefined)));
    });
    parse(req, res, next);
  };
}

/**
 * Web forms: only a signed-in user's multipart body is parsed at all, so that strangers cannot make the
 * server receive uploads. Must run before verifyCsrf, which reads the `_csrf` field from the parsed body.
 */
export function webMultipart(limits: UploadLimits): RequestHandler {
  const parse = multipartParser(limits);
  return (req, res, next) => {
    if (!req.is('multipart/form-data')) return next();
    if (!req.user) throw new UnauthorizedError('Please sign in to upload files.');
    parse(req, res, next);
  };
}
