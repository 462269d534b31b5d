/**
 * The errors that use cases throw. Each carries the HTTP status and a stable code; the message is written
 * for the user who will read it. The one error handler turns them into a page or a JSON body.
 */
export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class BadRequestError extends AppError {
  constructor(message = 'The request could not be understood.') {
    super(400, 'bad_request', message);
  }
}

export class UnauthorizedError extends AppError {
  constructor(message = 'Please sign in.') {
    super(401, 'unauthorized', message);
  }
}

export class ForbiddenError extends AppError {
  constructor(message = 'You do not have access to this page.', code = 'forbidden') {
    super(403, code, message);
  }
}

export class CsrfError extends ForbiddenError {
  constructor() {
    super('The form has expired or did not come from this site. Please reload the page and try again.', 'csrf_failed');
  }
}

export class NotFoundError extends AppError {
  constructor(message = 'We could not find that page.') {
    super(404, 'not_found', message);
  }
}

export class ConflictError extends AppError {
  constructor(message: string) {
    super(409, 'conflict', message);
  }
}

export class PayloadTooLargeError extends AppError {
  constructor(message = 'The upload is too large.') {
    super(413, 'payload_too_large', message);
  }
}

export class UnsupportedMediaTypeError extends AppError {
  constructor(message = 'This type of file is not supported.') {
    super(415, 'unsupported_media_type', message);
  }
}

export type FieldErrors = Record<string, string>;

/** Input that breaks a rule; `fields` names each offending field for forms and API clients. */
export class ValidationError extends AppError {
  constructor(
    message: string,
    readonly fields: FieldErrors = {},
    code = 'validation_failed',
  ) {
    super(422, code, message);
  }
}

export class TooManyRequestsError extends AppError {
  constructor(
    readonly retryAfterSeconds: number,
    message = `Too many attempts. Try again in ${formatWait(retryAfterSeconds)}.`,
  ) {
    super(429, 'too_many_requests', message);
  }
}

export class ServiceUnavailableError extends AppError {
  constructor(message = 'The service is not ready yet. Please try again shortly.') {
    super(503, 'service_unavailable', message);
  }
}

export function formatWait(seconds: number): string {
  // Up to a whole minute in seconds, as Retry-After gives them (a fresh per-minute window is 60 s, not "1 minute").
  if (seconds <= 60) return `${seconds} second${seconds === 1 ? '' : 's'}`;
  const minutes = Math.ceil(seconds / 60);
  return `${minutes} minute${minutes === 1 ? '' : 's'}`;
}
