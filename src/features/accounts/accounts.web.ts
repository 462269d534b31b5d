import { Router, type Request, type RequestHandler, type Response } from 'express';
import { requireLogin } from '../../http/auth.js';
import { ConflictError, ValidationError, type FieldErrors } from '../../http/errors.js';
import { noteSecurityEvent } from '../../http/security-events.js';
import { formatBytes } from '../../lib/format.js';
import { PASSWORD_MAX_BYTES, PASSWORD_MIN_LENGTH } from './accounts.schemas.js';
import { WrongPasswordError, type AccountsService, type AccountUser } from './accounts.service.js';
import type { SessionAuth } from './passport.js';
import { ResetLinkInvalidError, type PasswordResetsService } from './password-resets.service.js';
import { RegistrationClosedError, type RegistrationMode, type RegistrationService } from './registration.service.js';

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

/** Where a user with a temporary password is sent until they have chosen their own. */
export const NEW_PASSWORD_PATH = '/account/new-password';

export interface AccountsWebDeps {
  accounts: AccountsService;
  registration: RegistrationService;
  resets: PasswordResetsService;
  sessionAuth: SessionAuth;
  /** Shared with the API's token endpoint (createLoginRateLimit). */
  loginRateLimit: RequestHandler[];
  /** Counts wrong passwords on the forms that ask a signed-in user for theirs (createPasswordCheckRateLimit). */
  passwordCheckRateLimit: RequestHandler;
  /** Bytes the user's images take and their quota, for the account page. */
  storageUsage: (userId: number) => { usedBytes: number; quotaBytes: number };
}

/**
 * Pages, for a user signed in with a temporary password, lead to the page where they choose their own first
 * (and back to where they were going). Mounted after the session; the API (Bearer tokens) is not affected.
 */
export const requireOwnPassword: RequestHandler = (req, res, next) => {
  if (!req.user?.mustChangePassword || req.path === NEW_PASSWORD_PATH || req.path === '/logout') return next();
  res.redirect(303, `${NEW_PASSWORD_PATH}?next=${encodeURIComponent(req.method === 'GET' ? req.originalUrl : '/')}`);
};

export function createAccountsWebRouter({ accounts, registration, resets, sessionAuth, loginRateLimit, passwordCheckRateLimit, storageUsage }: AccountsWebDeps): Router {
  const router = Router();

  const renderRegister = (res: Response, status: number, mode: RegistrationMode, values: { username?: string; invite?: string }, errors: FieldErrors = {}, message?: string) =>
    res.status(status).render('accounts/register', { title: mode.kind === 'setup' ? 'Set up Inkwell' : 'Create an account', mode, values, errors, message, passwordRules });

  const renderLogin = (res: Response, status: number, values: { username?: string; next: string }, error?: string, reason?: string) =>
    res.status(status).render('accounts/login', { title: 'Log in', values, error, reason });

  const renderAccount = (req: Request, res: Response, status = 200, errors: FieldErrors = {}) =>
    res.status(status).render('accounts/account', {
      title: 'Your account',
      account: accounts.findByUsername(req.user!.username),
      usage: storageUsage(req.user!.id),
      // For the API example: the address this page was reached at (behind a trusted proxy, the public one).
      origin: `${req.protocol}://${req.get('host') ?? 'localhost'}`,
      formatBytes,
      errors,
      passwordRules,
      sharesDigitCorrections: accounts.sharesDigitCorrections(req.user!.id),
    });

  const renderDelete = (req: Request, res: Response, status = 200, errors: FieldErrors = {}, message?: string) =>
    res.status(status).render('accounts/delete', {
      title: 'Delete your account',
      lastAdmin: accounts.isLastActiveAdmin(req.user!.id),
      errors,
      message,
      scripts: ['/js/account.js'],
    });

  const renderNewPassword = (res: Response, status: number, next: string, errors: FieldErrors = {}) =>
    res.status(status).render('accounts/new-password', { title: 'Choose a new password', next, errors, passwordRules });

  const renderResetLink = (res: Response, status: number, token: string, username: string, errors: FieldErrors = {}) =>
    res.status(status).render('accounts/reset-password', { title: 'Choose a new password', token, username, errors, passwordRules });

  const registerStatus = (mode: RegistrationMode) => (mode.kind === 'closed' ? 403 : 200);

  router.get('/register', (req, res) => {
    if (req.user) return res.redirect('/');
    const invite = typeof req.query.invite === 'string' ? req.query.invite : undefined;
    const mode = registration.mode(invite);
    renderRegister(res, registerStatus(mode), mode, { invite });
  });

  router.post('/register', async (req, res) => {
    const username = field(req, 'username');
    const invite = field(req, 'invite') || undefined;
    try {
      const user = await registration.register({
        username,
        password: field(req, 'password'),
        confirmPassword: field(req, 'confirmPassword'),
        setupCode: field(req, 'setupCode'),
        invite,
      });
      await logIn(req, user);
      if (user.firstAdmin) {
        noteSecurityEvent(req, { kind: 'admin_action', action: 'setup.first_admin', targetUserId: user.id, targetUsername: user.username, detail: 'first administrator, with the setup code' });
        req.flash('success', `Welcome, ${user.username}! You are the administrator of this server. Choose who may register:`);
        return res.redirect('/admin/registration');
      }
      req.flash('success', `Welcome, ${user.username}! Your account is ready.`);
      res.redirect('/');
    } catch (err) {
      const mode = registration.mode(invite);
      if (err instanceof ValidationError) return renderRegister(res, 422, mode, { username, invite }, err.fields, Object.keys(err.fields).length ? undefined : err.message);
      if (err instanceof ConflictError) return renderRegister(res, 422, mode, { username, invite }, { username: err.message });
      if (err instanceof RegistrationClosedError) return renderRegister(res, 403, mode, { username, invite }, {}, err.message);
      throw err;
    }
  });

  router.get('/login', (req, res) => {
    const next = safeNext(req.query.next);
    if (req.user) return res.redirect(next);
    // Sent here from a page that needs an account (requireLogin): say so.
    renderLogin(res, 200, { next }, undefined, next !== '/' ? 'Please log in to see that page. You will be taken back to it.' : undefined);
  });

  router.post('/login', ...loginRateLimit, async (req, res) => {
    const next = safeNext(field(req, 'next') || req.query.next);
    const user = await authenticateLocal(sessionAuth, req, res);
    // One message whether the name is unknown, the password wrong or the account disabled.
    if (!user) {
      noteSecurityEvent(req, { kind: 'login_failed', username: field(req, 'username'), detail: 'web sign-in' });
      return renderLogin(res, 401, { username: field(req, 'username'), next }, LOGIN_FAILED);
    }
    await logIn(req, user);
    if (user.mustChangePassword) {
      req.flash('success', 'An administrator has set a temporary password for your account. Choose your own to continue.');
      return res.redirect(`${NEW_PASSWORD_PATH}?next=${encodeURIComponent(next)}`);
    }
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

  /** A wrong password counts towards passwordCheckRateLimit; other mistakes (a weak new password) do not. */
  const noteWrongPassword = (err: unknown, res: Response) => {
    if (err instanceof WrongPasswordError) res.locals.wrongPassword = true;
  };

  router.post('/account/password', requireLogin, passwordCheckRateLimit, async (req, res) => {
    const user = req.user!;
    try {
      await accounts.changePassword(user.id, field(req, 'currentPassword'), field(req, 'newPassword'), field(req, 'confirmPassword'));
    } catch (err) {
      noteWrongPassword(err, res);
      if (err instanceof ValidationError) return renderAccount(req, res, 422, err.fields);
      throw err;
    }
    // Every session of the user has ended; this browser continues in a fresh one.
    await logIn(req, { id: user.id, username: user.username, role: user.role });
    req.flash('success', 'Your password has been changed. Other devices have been signed out.');
    res.redirect('/account');
  });

  router.post('/account/digit-sharing', requireLogin, (req, res) => {
    const on = field(req, 'share') === 'on';
    accounts.setShareDigitCorrections(req.user!.id, on);
    req.flash('success', on ? 'Your corrected digits may now be used to improve the shared digit model.' : 'Your corrected digits will no longer be used to improve the shared digit model.');
    res.redirect('/account#digit-sharing');
  });

  router.get(NEW_PASSWORD_PATH, requireLogin, (req, res) => {
    const next = safeNext(req.query.next);
    if (!req.user!.mustChangePassword) return res.redirect(next);
    renderNewPassword(res, 200, next);
  });

  router.post(NEW_PASSWORD_PATH, requireLogin, async (req, res) => {
    const user = req.user!;
    const next = safeNext(field(req, 'next'));
    try {
      await accounts.replaceTemporaryPassword(user.id, field(req, 'newPassword'), field(req, 'confirmPassword'));
    } catch (err) {
      if (err instanceof ValidationError) return renderNewPassword(res, 422, next, Object.keys(err.fields).length ? err.fields : { newPassword: err.message });
      throw err;
    }
    await logIn(req, { id: user.id, username: user.username, role: user.role, mustChangePassword: false });
    req.flash('success', 'Your new password is set.');
    res.redirect(next);
  });

  // The token is in the path, never in the log: the request log records the route pattern only.
  router.get('/reset-password/:token', (req, res) => {
    try {
      renderResetLink(res, 200, req.params.token, resets.linkOwner(req.params.token).username);
    } catch (err) {
      if (err instanceof ResetLinkInvalidError) return res.status(404).render('accounts/reset-password', { title: 'Link not valid', invalid: err.message });
      throw err;
    }
  });

  router.post('/reset-password/:token', async (req, res) => {
    const token = req.params.token;
    try {
      const user = await resets.resetWithLink(token, { newPassword: field(req, 'newPassword'), confirmPassword: field(req, 'confirmPassword') });
      await logIn(req, user);
      req.flash('success', `Your new password is set. You are signed in as ${user.username}.`);
      res.redirect('/');
    } catch (err) {
      if (err instanceof ResetLinkInvalidError) return res.status(404).render('accounts/reset-password', { title: 'Link not valid', invalid: err.message });
      if (err instanceof ValidationError) return renderResetLink(res, 422, token, resets.linkOwner(token).username, err.fields);
      throw err;
    }
  });

  router.get('/account/delete', requireLogin, (req, res) => {
    renderDelete(req, res);
  });

  router.post('/account/delete', requireLogin, passwordCheckRateLimit, async (req, res) => {
    try {
      await accounts.deleteAccount(req.user!.id, field(req, 'password'));
    } catch (err) {
      noteWrongPassword(err, res);
      if (err instanceof ValidationError) return renderDelete(req, res, 422, err.fields, Object.keys(err.fields).length ? undefined : err.message);
      throw err;
    }
    await logOut(req);
    req.flash('success', 'Your account and everything in it have been deleted.');
    res.redirect('/');
  });

  return router;
}
