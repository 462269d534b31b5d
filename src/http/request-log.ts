import type { RequestHandler } from 'express';
import type { Db } from '../db/database.js';
import type { Logger } from '../logger.js';

export interface RequestLog {
  middleware: RequestHandler;
  /** Writes what is buffered; called at shutdown. */
  flush(): void;
  close(): void;
}

// Placeholder until the request log lands: records nothing.
export function createRequestLog(_deps: { db: Db; logger: Logger; retentionDays: number }): RequestLog {
  return { middleware: (_req, _res, next) => next(), flush() {}, close() {} };
}
