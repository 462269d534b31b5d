import { Router, type Request, type Response } from 'express';
import { requireAdmin } from '../../http/auth.js';
import { ConflictError, NotFoundError, ValidationError, type FieldErrors } from '../../http/errors.js';
import { RESET_LINK_HOURS, type AccountsService, type PasswordResetsService, type UserSummary } from '../accounts/index.js';
import { adminLocals, auditAdminAction, flashOutcome, siteOrigin } from './admin.helpers.js';
import { parseDisabledBody, parseNewUserBody, parseResetBody, parseRoleBody, parseUserId } from './admin.schemas.js';
import { collectUsage, type UserUsageSource } from './user-usage.js';

export interface UsersWebDeps {
  accounts: AccountsService;
  resets: PasswordResetsService;
  usage: readonly UserUsageSource[];
}

/**
 * User management: the list (with what each user stores), a user's page, creating a user, resetting a
 * password (a temporary password or a reset link, shown once), disabling, roles and deleting. Every change
 * is recorded as a security event (who did what to whom).
 */
export function createUsersWebRouter({ accounts, resets, usage }: UsersWebDeps): Router {
  const router = Router();

  // An unknown id is a page that does not exist (404), not a form error.
  const findUser = (req: Request): UserSummary => {
    const user = accounts.findUser(parseUserId(req.params.id));
    if (!user) throw new NotFoundError('There is no such user.');
    return user;
  };

  const renderNew = (res: Response, status: number, values: { username?: string; role?: string }, errors: FieldErrors = {}) =>
    res.status(status).render('admin/user-new', { ...adminLocals, title: 'New user', section: 'users', values, errors });

  /** A secret shown once (a temporary password or a reset link): the page is not cached, and nothing keeps it. */
  const renderSecret = (res: Response, locals: { user: { id: number; username: string }; heading: string; secret: string; kind: 'password' | 'link'; note: string }) => {
    res.set('Cache-Control', 'no-store');
    res.render('admin/user-secret', { ...adminLocals, title: locals.heading, section: 'users', ...locals, scripts: ['/js/copy-button.js'] });
  };

  router.get('/users', requireAdmin, (_req, res) => {
    const users = accounts.listUsers();
    res.render('admin/users', {
      ...adminLocals,
      title: 'Users',
      section: 'users',
      users,
      usageOf: collectUsage(usage),
      scripts: ['/js/admin-confirm.js'],
    });
  });

  router.get('/users/new', requireAdmin, (_req, res) => {
    renderNew(res, 200, { role: 'user' });
  });

  router.post('/users', requireAdmin, async (req, res) => {
    const values = req.body as { username?: string; role?: string };
    try {
      const input = parseNewUserBody(req.body);
      const { user, temporaryPassword } = await resets.createUser(req.user!, input);
      auditAdminAction(req, 'user.create', user, `role ${user.role}, temporary password`);
      renderSecret(res.status(201), {
        user,
        heading: `${user.username} has been created`,
        secret: temporaryPassword,
        kind: 'password',
        note: `Give ${user.username} this temporary password. They sign in with it and must then choose their own.`,
      });
    } catch (err) {
      if (err instanceof ValidationError) return renderNew(res, 422, values, Object.keys(err.fields).length ? { username: Object.values(err.fields)[0]! } : { username: err.message });
      if (err instanceof ConflictError) return renderNew(res, 422, values, { username: err.message });
      throw err;
    }
  });

  router.get('/users/:id', requireAdmin, (req, res) => {
    const user = findUser(req);
    res.render('admin/user', {
      ...adminLocals,
      title: user.username,
      section: 'users',
      user,
      self: req.user!.id === user.id,
      figures: collectUsage(usage)(user.id),
      resetLinkHours: RESET_LINK_HOURS,
      scripts: ['/js/admin-confirm.js'],
    });
  });

  router.post('/users/:id/role', requireAdmin, async (req, res) => {
    const userId = parseUserId(req.params.id);
    await flashOutcome(req, () => {
      const role = parseRoleBody(req.body);
      const user = accounts.setRole(req.user!, userId, role);
      auditAdminAction(req, role === 'admin' ? 'user.promote' : 'user.demote', user);
      return `${user.username} ${role === 'admin' ? 'is now an administrator.' : 'is no longer an administrator.'}`;
    });
    res.redirect(backTo(req));
  });

  router.post('/users/:id/disabled', requireAdmin, async (req, res) => {
    const userId = parseUserId(req.params.id);
    await flashOutcome(req, () => {
      const disabled = parseDisabledBody(req.body);
      const user = accounts.setDisabled(req.user!, userId, disabled);
      auditAdminAction(req, disabled ? 'user.disable' : 'user.enable', user);
      return `${user.username} ${disabled ? 'is disabled and signed out everywhere.' : 'is enabled again.'}`;
    });
    res.redirect(backTo(req));
  });

  router.post('/users/:id/password', requireAdmin, async (req, res) => {
    const user = findUser(req);
    let method: 'temporary' | 'link';
    try {
      method = parseResetBody(req.body);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      req.flash('error', err.message);
      return res.redirect(`/admin/users/${user.id}`);
    }
    if (method === 'temporary') {
      const { temporaryPassword } = await resets.setTemporaryPassword(req.user!, user.id);
      auditAdminAction(req, 'user.password_reset', user, 'temporary password; sessions ended');
      return renderSecret(res, {
        user,
        heading: `New temporary password for ${user.username}`,
        secret: temporaryPassword,
        kind: 'password',
        note: `${user.username} has been signed out everywhere. Give them this temporary password: they sign in with it and must then choose their own.`,
      });
    }
    const link = resets.createLink(req.user!, user.id);
    auditAdminAction(req, 'user.password_reset_link', user, `single-use link, valid ${RESET_LINK_HOURS} h`);
    renderSecret(res, {
      user,
      heading: `Password reset link for ${user.username}`,
      secret: `${siteOrigin(req)}/reset-password/${link.token}`,
      kind: 'link',
      note: `Send ${user.username} this link. It works once, for ${RESET_LINK_HOURS} hours; an earlier link stops working. Their current password works until they use it.`,
    });
  });

  router.get('/users/:id/delete', requireAdmin, (req, res) => {
    const user = findUser(req);
    res.render('admin/user-delete', {
      ...adminLocals,
      title: `Delete ${user.username}?`,
      section: 'users',
      user,
      self: req.user!.id === user.id,
      lastAdmin: accounts.isLastActiveAdmin(user.id),
      figures: collectUsage(usage)(user.id).filter((figure) => figure.value > 0),
    });
  });

  router.post('/users/:id/delete', requireAdmin, async (req, res) => {
    const userId = parseUserId(req.params.id);
    try {
      const user = await accounts.deleteUser(req.user!, userId);
      auditAdminAction(req, 'user.delete', user, `role ${user.role}; the account and everything in it`);
      req.flash('success', `${user.username} and everything stored with the account have been deleted.`);
      res.redirect('/admin/users');
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      req.flash('error', err.message);
      res.redirect(`/admin/users/${userId}`);
    }
  });

  return router;
}

/** Back to the page the form was on: the user's page when it came from there, else the list. */
function backTo(req: Request): string {
  const from = (req.body as { from?: unknown } | undefined)?.from;
  return from === 'user' ? `/admin/users/${parseUserId(req.params.id)}` : '/admin/users';
}
