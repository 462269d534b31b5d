import type { ErrorRequestHandler, RequestHandler } from 'express';
import multer from 'multer';
import { ImageInputError } from '../ml/image-input.js';
import type { Logger } from '../logger.js';
import { AppError, BadRequestError, NotFoundError, PayloadTooLargeError, TooManyRequestsError, UnsupportedMediaTypeError, ValidationError } from './errors.js';
import { isApiRequest } from './request-context.js';
import { noteUploadRefusal } from './security-events.js';

export const notFound: RequestHandler = () => {
  throw new NotFoundError();
};

const imageRejectionErrors = {
  unsupported_type: (message: string) => new UnsupportedMediaTypeError(message),
  too_many_pixels: (message: string) => new PayloadTooLargeError(message),
  undecodable: (message: string) => new ValidationError(message),
  no_ink: (message: string) => new ValidationError(message),
} as const;

/** Turns what was thrown into an AppError, or null for a fault of ours (a 500). */
function toAppError(err: unknown, maxFileBytes: number): AppError | null {
  if (err instanceof AppError) return err;
  if (err instanceof ImageInputError) return imageRejectionErrors[err.reason](err.message);
  if (err instanceof multer.MulterError) {
    if (err.code === 'LIMIT_FILE_SIZE') return new PayloadTooLargeError(`Each file may be at most ${Math.round(maxFileBytes / 1024 / 1024)} MB.`);
    if (err.code === 'LIMIT_FILE_COUNT' || err.code === 'LIMIT_PART_COUNT' || err.code === 'LIMIT_FIELD_COUNT') {
      return new PayloadTooLargeError('Too many files or fields in one upload.');
    }
    return new BadRequestError('The upload could not be read.');
  }
  // body-parser marks its errors with a type and a 4xx status.
  const bodyError = err as { type?: string; status?: number };
  if (bodyError.type === 'entity.too.large') return new PayloadTooLargeError('The request body is too large.');
  if (bodyError.type === 'entity.parse.failed') return new BadRequestError('The request body is not valid JSON.');
  if (typeof bodyError.status === 'number' && bodyError.status >= 400 && bodyError.status < 500) return new BadRequestError();
  return null;
}

/**
 * The one error handler: JSON `{"error":{"code","message"}}` under /api (and for page scripts that ask for
 * JSON), the error page elsewhere. Faults
 * of ours are logged with the request id, which the user sees; the stack trace never leaves the log.
 */
export function errorHandler(logger: Logger, maxFileBytes: number): ErrorRequestHandler {
  return (err, req, res, next) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    const appError = toAppError(err, maxFileBytes);
    const status = appError?.status ?? 500;
    const code = appError?.code ?? 'internal_error';
    const message = appError?.message ?? 'Something went wrong on our side. The problem has been logged.';
    if (!appError) logger.error({ err, requestId: req.id, method: req.method, url: req.originalUrl }, 'request failed');
    else noteUploadRefusal(req, appError);
    if (appError instanceof TooManyRequestsError) res.setHeader('Retry-After', String(appError.retryAfterSeconds));

    res.status(status);
    // Page scripts (uploads with progress) ask for JSON with Accept: application/json and get the API's error shape.
    if (isApiRequest(req) || req.accepts(['html', 'json']) === 'json') {
      const fields = appError instanceof ValidationError && Object.keys(appError.fields).length ? { fields: appError.fields } : {};
      res.json({ error: { code, message, ...fields, ...(status >= 500 ? { request_id: req.id } : {}) } });
      return;
    }
    // Every error page shows the request id: an administrator finds the request by it (/admin/requests?id=...).
    res.render('errors/error', { title: titles[status] ?? 'Error', status, message, requestId: req.id, serverFault: status >= 500 }, (renderError, html) => {
      if (!renderError) {
        res.send(html);
        return;
      }
      // The error page itself failed: answer in plain text rather than let Express print a stack trace.
      logger.error({ err: renderError, requestId: req.id }, 'error page failed to render');
      res.type('text/plain').send(`${message} Reference: ${req.id}`);
    });
  };
}

const titles: Record<number, string> = {
  400: 'Bad request',
  401: 'Please sign in',
  403: 'Not allowed',
  404: 'Page not found',
  413: 'Too large',
  415: 'Unsupported file',
  422: 'Please check your input',
  429: 'Too many requests',
  500: 'Something went wrong',
  503: 'Not ready',
};
