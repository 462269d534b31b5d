import path from 'node:path';
import ejs from 'ejs';
import type { Express, RequestHandler } from 'express';
import { csrfTokenFor } from './csrf.js';

type RenderCallback = (err: Error | null, html?: string) => void;

/**
 * EJS with one layout: a page template renders its content, then views/layout.ejs wraps it (`body`).
 * A template that must stand alone (an e-mail, a fragment) passes `layout: false`.
 */
export function useEjsWithLayout(app: Express, viewsDir: string, cache: boolean): void {
  const layoutFile = path.join(viewsDir, 'layout.ejs');
  app.set('views', viewsDir);
  app.set('view engine', 'ejs');
  app.engine('ejs', (file: string, options: object, callback: RenderCallback) => {
    const locals = options as Record<string, unknown>;
    const renderOptions = { cache, views: [viewsDir] };
    ejs.renderFile(file, locals, renderOptions, (err, body) => {
      if (err) return callback(err);
      if (locals.layout === false) return callback(null, body);
      ejs.renderFile(layoutFile, { ...locals, body }, renderOptions, callback);
    });
  });
}

export interface FlashMessages {
  success: string[];
  error: string[];
}

const noFlash = (): FlashMessages => ({ success: [], error: [] });

/**
 * Defaults for what every page may use, set before anything can fail, so that an error page rendered
 * before the session exists (a 413 from the body parser, a failing /ready) still renders in the layout.
 */
export const baseLocals: RequestHandler = (req, res, next) => {
  res.locals.currentUser = null;
  res.locals.currentPath = req.path;
  res.locals.title = 'Inkwell';
  res.locals.csrfToken = () => '';
  res.locals.flashMessages = noFlash;
  next();
};

/** Once the session is there: the signed-in user, the CSRF token and flash messages. */
export const pageLocals: RequestHandler = (req, res, next) => {
  res.locals.currentUser = req.user ?? null;
  res.locals.csrfToken = () => csrfTokenFor(req);
  // Read (and so consumed) only when a page is rendered, not when a redirect is sent.
  res.locals.flashMessages = (): FlashMessages => ({ success: req.flash('success'), error: req.flash('error') });
  next();
};
