import { randomBytes } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Request, RequestHandler } from 'express';
import multer from 'multer';
import { formatBytes } from '../lib/format.js';
import { BadRequestError, PayloadTooLargeError, UnauthorizedError } from './errors.js';

/** What the uploader partial (views/partials/uploader.ejs) shows and its script checks before sending. */
export interface PageUploadLimits {
  maxFileBytes: number;
  maxFiles: number;
  maxFileText: string;
}

export const pageUploadLimits = (maxFileBytes: number, maxFiles: number): PageUploadLimits => ({ maxFileBytes, maxFiles, maxFileText: formatBytes(maxFileBytes) });

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
/**
 * What busboy (multer's parser) says of a body that is not valid multipart: a cut-off upload, a missing boundary,
 * a broken part header. Its errors are plain Errors without a code, so they are known by their messages; anything
 * else (a full disk) stays a fault of ours.
 */
const MALFORMED_BODY = /^(Unexpected end of (form|file)|Malformed (part header|content type|urlencoded form)|Multipart: Boundary not found|Missing Content-Type|Unsupported content type)/;

export function multipartParser({ maxFileBytes, maxFiles, incomingDir }: UploadLimits, { memoryBytes = 0 } = {}): RequestHandler {
  const receivedName = () => `${randomBytes(16).toString('hex')}.upload`;
  const parse = multer({
    storage:
      memoryBytes > 0
        ? new SpillingStorage(incomingDir, memoryBytes, receivedName)
        : multer.diskStorage({ destination: incomingDir, filename: (_req, _file, done) => done(null, receivedName()) }),
    limits: { fileSize: maxFileBytes, files: maxFiles, fields: 50, fieldSize: 64 * 1024, parts: maxFiles + 50 },
    // Browsers send file names as UTF-8; multer's default (latin1) turned "résumé.png" into "rÃ©sumÃ©.png".
    defParamCharset: 'utf8',
  }).any();
  return (req, res, next) => {
    res.once('close', () => {
      // A request cut off mid-upload leaves placeholders without a path (multer removes its partial file itself).
      const received = ((req.files ?? []) as Partial<Express.Multer.File>[]).flatMap((file) => (typeof file.path === 'string' ? [file.path] : []));
      // unlink, not rm: one system call per file (rm looks before it deletes); a file already gone is fine.
      void Promise.all(received.map((file) => unlink(file).catch(() => undefined)));
    });
    // The limit that was hit is named here, where it is known: it differs per endpoint (an image, a zip archive).
    parse(req, res, (err?: unknown) => {
      if (err instanceof multer.MulterError && err.code === 'LIMIT_FILE_SIZE') return next(new PayloadTooLargeError(`Each file may be at most ${Math.round(maxFileBytes / 1024 / 1024)} MB.`));
      if (err instanceof Error && !(err instanceof multer.MulterError) && MALFORMED_BODY.test(err.message)) {
        return next(new BadRequestError('The upload could not be read: it was cut off or is not a valid multipart form. Send it again.'));
      }
      next(err);
    });
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

/**
 * Keeps a file in memory (`file.buffer`) while it is no bigger than `memoryBytes`, and writes it to the incoming
 * folder (`file.path`) once it grows past that. For routes whose files are usually small (a canvas drawing of a
 * few KB): receiving those to disk and reading them back cost more than reading the digit. Memory stays bounded
 * by memoryBytes per file whatever the files' sizes.
 */
class SpillingStorage implements multer.StorageEngine {
  constructor(
    private readonly dir: string,
    private readonly memoryBytes: number,
    private readonly name: () => string,
  ) {}

  _handleFile(_req: Request, file: Express.Multer.File, done: (error?: unknown, info?: Partial<Express.Multer.File>) => void): void {
    const chunks: Buffer[] = [];
    let size = 0;
    let spill: { stream: WriteStream; path: string } | null = null;
    file.stream.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (!spill && size <= this.memoryBytes) {
        chunks.push(chunk);
        return;
      }
      if (!spill) {
        const spillPath = path.join(this.dir, this.name());
        spill = { stream: createWriteStream(spillPath), path: spillPath };
        spill.stream.on('error', done);
        for (const received of chunks.splice(0)) spill.stream.write(received);
      }
      if (!spill.stream.write(chunk)) {
        file.stream.pause();
        spill.stream.once('drain', () => file.stream.resume());
      }
    });
    file.stream.on('error', done);
    file.stream.on('end', () => {
      if (!spill) return done(null, { buffer: Buffer.concat(chunks), size });
      const { stream, path: spilled } = spill;
      stream.end(() => done(null, { path: spilled, size }));
    });
  }

  _removeFile(_req: Request, file: Partial<Express.Multer.File>, done: (error: Error | null) => void): void {
    delete file.buffer;
    if (!file.path) return done(null);
    unlink(file.path).then(() => done(null), () => done(null));
  }
}
