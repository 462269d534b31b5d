import type { RequestHandler } from 'express';
import { ForbiddenError, UnauthorizedError } from './errors.js';

/** Pages for signed-in users: a signed-out visitor is sent to the login page and brought back afterwards. */
export const requireLogin: RequestHandler = (req, res, next) => {
  if (req.user) return next();
  if (req.method === 'GET') {
    res.redirect(`/login?next=${encodeURIComponent(req.originalUrl)}`);
    return;
  }
  throw new UnauthorizedError();
};

export const requireAdmin: RequestHandler = (req, res, next) => {
  if (!req.user) return requireLogin(req, res, next);
  if (req.user.role !== 'admin') throw new ForbiddenError('This page is for administrators.');
  next();
};
