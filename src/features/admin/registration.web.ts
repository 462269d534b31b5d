import { Router, type Request, type Response } from 'express';
import { requireAdmin } from '../../http/auth.js';
import { ValidationError } from '../../http/errors.js';
import { INVITE_LIFETIME_DAYS, type RegistrationService } from '../accounts/index.js';
import { adminLocals, auditAdminAction, flashOutcome, siteOrigin } from './admin.helpers.js';
import { parseId, parseInviteBody, parsePolicyBody } from './admin.schemas.js';

const policyLabels = { open: 'Open: anyone who can reach this server can register', invite: 'By invitation: only with a single-use link from an administrator', closed: 'Closed: only administrators create accounts' } as const;

/** Who may register: the policy, and invitation links (each shown once, when it is made). */
export function createRegistrationWebRouter({ registration }: { registration: RegistrationService }): Router {
  const router = Router();

  const render = (req: Request, res: Response, status = 200, extra: { newInvite?: { link: string; expiresAt: number; note: string }; inviteError?: string } = {}) => {
    if (extra.newInvite) res.set('Cache-Control', 'no-store');
    res.status(status).render('admin/registration', {
      ...adminLocals,
      title: 'Registration',
      section: 'registration',
      policy: registration.policy(),
      policyLabels,
      lifetimes: INVITE_LIFETIME_DAYS,
      invites: registration.listInvites(),
      origin: siteOrigin(req),
      scripts: ['/js/copy-button.js', '/js/admin-confirm.js'],
      ...extra,
    });
  };

  router.get('/registration', requireAdmin, (req, res) => {
    render(req, res);
  });

  router.post('/registration/policy', requireAdmin, async (req, res) => {
    await flashOutcome(req, () => {
      const before = registration.policy();
      const policy = registration.setPolicy(req.user!, parsePolicyBody(req.body));
      auditAdminAction(req, 'registration.policy', null, `${before} -> ${policy}`);
      return `Registration is now ${policy === 'invite' ? 'by invitation only' : policy}.`;
    });
    res.redirect('/admin/registration');
  });

  router.post('/invites', requireAdmin, (req, res) => {
    try {
      const { days, note } = parseInviteBody(req.body);
      const { invite, token } = registration.createInvite(req.user!, { days, note });
      auditAdminAction(req, 'invite.create', null, `invite #${invite.id}, valid ${days} day${days === 1 ? '' : 's'}${invite.note ? ` (${invite.note})` : ''}`);
      render(req, res, 201, { newInvite: { link: `${siteOrigin(req)}/register?invite=${token}`, expiresAt: invite.expiresAt, note: invite.note } });
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      render(req, res, 422, { inviteError: err.message });
    }
  });

  router.post('/invites/:id/revoke', requireAdmin, async (req, res) => {
    const id = parseId(req.params.id, 'There is no such invitation.');
    await flashOutcome(req, () => {
      const invite = registration.revokeInvite(req.user!, id);
      auditAdminAction(req, 'invite.revoke', null, `invite #${invite.id}${invite.note ? ` (${invite.note})` : ''}`);
      return 'The invitation has been withdrawn; its link no longer works.';
    });
    res.redirect('/admin/registration');
  });

  return router;
}
