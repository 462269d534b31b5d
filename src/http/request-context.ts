import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';

/** Gives every request an id (echoed as X-Request-Id) and a start time, before anything else runs. */
export const requestContext: RequestHandler = (req, res, next) => {
  req.id = randomUUID();
  req.startedAt = process.hrtime.bigint();
  res.setHeader('X-Request-Id', req.id);
  next();
};

export const isApiRequest = (req: { originalUrl: string }) => req.originalUrl === '/api' || req.originalUrl.startsWith('/api/');
