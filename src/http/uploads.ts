import type { RequestHandler } from 'express';
import multer from 'multer';
import { UnauthorizedError } from './errors.js';

export interface UploadLimits {
  maxFileBytes: number;
  maxFiles: number;
}

/**
 * Parses a multipart body into memory (req.files, req.body) within the configured limits; the error handler
 * turns a limit hit into 413. Files are kept in memory because every upload is decoded and checked by magic
 * bytes before anything is written to disk under a random name.
 */
export function multipartParser({ maxFileBytes, maxFiles }: UploadLimits): RequestHandler {
  return multer({
    storage: multer.memoryStorage(),
    limits: { fileSize: maxFileBytes, files: maxFiles, fields: 50, fieldSize: 64 * 1024, parts: maxFiles + 50 },
  }).any();
}

/**
 * Web forms: only a signed-in user's multipart body is parsed at all, so that strangers cannot make the
 * server buffer uploads. Must run before verifyCsrf, which reads the `_csrf` field from the parsed body.
 */
export function webMultipart(limits: UploadLimits): RequestHandler {
  const parse = multipartParser(limits);
  return (req, res, next) => {
    if (!req.is('multipart/form-data')) return next();
    if (!req.user) throw new UnauthorizedError('Please sign in to upload files.');
    parse(req, res, next);
  };
}
