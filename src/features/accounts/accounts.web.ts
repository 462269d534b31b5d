import { Router, type Request, type RequestHandler, type Response } from 'express';
import { requireLogin } from '../../http/auth.js';
import { ConflictError, ValidationError, type FieldErrors } from '../../http/errors.js';
import { formatBytes } from '../../lib/format.js';
import { PASSWORD_MAX_BYTES, PASSWORD_MIN_LENGTH } from './accounts.schemas.js';
import type { AccountsService, AccountUser } from './accounts.service.js';
import type { SessionAuth } from './passport.js';

const LOGIN_FAILED = 'Incorrect username or password.';

/**
 * Only a path on this site may follow a login: "/signers?x=1" yes; "//evil.example", "/\evil.example" or
 * "https://..." no (browsers treat the first two as other hosts).
 */
export function safeNext(value: unknown): string {
  if (typeof value !== 'string' || !value.startsWith('/') || value.startsWith('//') || value.startsWith('/\\')) return '/';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f\\]/.test(value)) return '/';
  return value;
}

const field = (req: Request, name: string): string => {
  const value = (req.body as Record<string, unknown> | undefined)?.[name];
  return typeof value === 'string' ? value : '';
};

/** passport 0.7's req.login regenerates the session (a new id: no session fixation) before storing the user id. */
const logIn = (req: Request, user: AccountUser) =>
  new Promise<void>((resolve, reject) => req.login(user, (err?: unknown) => (err ? reject(err) : resolve())));

/** req.logout also regenerates the session, so a flash must be set after it, in the new one. */
const logOut = (req: Request) => new Promise<void>((resolve, reject) => req.logout((err?: unknown) => (err ? reject(err) : resolve())));

const authenticateLocal = (sessionAuth: SessionAuth, req: Request, res: Response) =>
  new Promise<AccountUser | null>((resolve, reject) => {
    sessionAuth.authenticate('local', { session: false }, (err: unknown, user: AccountUser | false) => {
      if (err) reject(err);
      else resolve(user || null);
    })(req, res, reject);
  });

const passwordRules = { minLength: PASSWORD_MIN_LENGTH, maxBytes: PASSWORD_MAX_BYTES };

export interface AccountsWebDeps {
  accounts: AccountsService;
  sessionAuth: SessionAuth;
  /** Shared with the API's token endpoint (createLoginRateLimit). */
  loginRateLimit: RequestHandler[];
  /** Bytes the user's images take and their quota, for the account page. */
  storageUsage: (userId: number) => { usedBytes: number; quotaBytes: number };
}

export function createAccountsWebRouter({ accounts, sessionAuth, loginRateLimit, storageUsage }: AccountsWebDeps): Router {
  const router = Router();

  const renderRegister = (res: Response, status: number, values: { username?: string }, errors: FieldErrors = {}) =>
    res.status(status).render('accounts/register', { title: 'Create an account', values, errors, passwordRules });

  const renderLogin = (res: Response, status: number, values: { username?: string; next: string }, error?: string) =>
    res.status(status).render('accounts/login', { title: 'Log in', values, error });

  const renderAccount = (req: Request, res: Response, status = 200, errors: FieldErrors = {}) =>
    res.status(status).render('accounts/account', {
      title: 'Your account',
      account: accounts.findByUsername(req.user!.username),
      usage: storageUsage(req.user!.id),
      formatBytes,
      errors,
      passwordRules,
    });

  const renderDelete = (req: Request, res: Response, status = 200, errors: FieldErrors = {}, message?: string) =>
    res.status(status).render('accounts/delete', {
      title: 'Delete your account',
      lastAdmin: accounts.isLastActiveAdmin(req.user!.id),
      errors,
      message,
      scripts: ['/js/account.js'],
    });

  router.get('/register', (req, res) => {
    if (req.user) return res.redirect('/');
    renderRegister(res, 200, {});
  });

  router.post('/register', async (req, res) => {
    const username = field(req, 'username');
    try {
      const user = await accounts.register({ username, password: field(req, 'password'), confirmPassword: field(req, 'confirmPassword') });
      await logIn(req, user);
      req.flash('success', `Welcome, ${user.username}! Your account is ready.`);
      res.redirect('/');
    } catch (err) {
      if (err instanceof ValidationError) return renderRegister(res, 422, { username }, err.fields);
      if (err instanceof ConflictError) return renderRegister(res, 422, { username }, { username: err.message });
      throw err;
    }
  });

  router.get('/login', (req, res) => {
    const next = safeNext(req.query.next);
    if (req.user) return res.redirect(next);
    renderLogin(res, 200, { next });
  });

  router.post('/login', ...loginRateLimit, async (req, res) => {
    const next = safeNext(field(req, 'next') || req.query.next);
    const user = await authenticateLocal(sessionAuth, req, res);
    // One message whether the name is unknown, the password wrong or the account disabled.
    if (!user) return renderLogin(res, 401, { username: field(req, 'username'), next }, LOGIN_FAILED);
    await logIn(req, user);
    req.flash('success', `Signed in as ${user.username}.`);
    res.redirect(next);
  });

  // Logout is a POST only (CSRF-checked by verifyCsrf), so that a link or an image on another site cannot sign
  // anyone out; GET /logout falls through to the 404 page.
  router.post('/logout', async (req, res) => {
    if (req.user) {
      await logOut(req);
      req.flash('success', 'You have been signed out.');
    }
    res.redirect('/');
  });

  router.get('/account', requireLogin, (req, res) => {
    renderAccount(req, res);
  });

  router.post('/account/password', requireLogin, async (req, res) => {
    const user = req.user!;
    try {
      await accounts.changePassword(user.id, field(req, 'currentPassword'), field(req, 'newPassword'), field(req, 'confirmPassword'));
    } catch (err) {
      if (err instanceof ValidationError) return renderAccount(req, res, 422, err.fields);
      throw err;
    }
    // Every session of the user has ended; this browser continues in a fresh one.
    await logIn(req, { id: user.id, username: user.username, role: user.role });
    req.flash('success', 'Your password has been changed. Other devices have been signed out.');
    res.redirect('/account');
  });

  router.get('/account/delete', requireLogin, (req, res) => {
    renderDelete(req, res);
  });

  router.post('/account/delete', requireLogin, async (req, res) => {
    try {
      await accounts.deleteAccount(req.user!.id, field(req, 'password'));
    } catch (err) {
      if (err instanceof ValidationError) return renderDelete(req, res, 422, err.fields, Object.keys(err.fields).length ? undefined : err.message);
      throw err;
    }
    await logOut(req);
    req.flash('success', 'Your account and everything in it have been deleted.');
    res.redirect('/');
  });

  return router;
}
