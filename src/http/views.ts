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

/** What every page may use: the signed-in user, the CSRF token, flash messages, the current path. */
export const pageLocals: RequestHandler = (req, res, next) => {
  res.locals.currentUser = req.user ?? null;
  res.locals.currentPath = req.path;
  res.locals.title = 'Inkwell';
  res.locals.csrfToken = () => csrfTokenFor(req);
  // Read (and so consumed) only when a page is rendered, not when a redirect is sent.
  res.locals.flashMessages = (): FlashMessages => ({ success: req.flash('success'), error: req.flash('error') });
  next();
};
