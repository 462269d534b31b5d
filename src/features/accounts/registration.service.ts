import type { Db } from '../../db/database.js';
import { ForbiddenError, NotFoundError, ValidationError } from '../../http/errors.js';
import type { AccountsService, AccountUser } from './accounts.service.js';
import type { RegisterInput } from './accounts.schemas.js';
import { createInvitesRepo, type Invite } from './invites.repo.js';
import { newLinkToken, readableCode, sameCode, sha256Hex } from './secrets.js';
import { createSettingsRepo } from './settings.repo.js';

export const REGISTRATION_POLICIES = ['open', 'invite', 'closed'] as const;
export type RegistrationPolicy = (typeof REGISTRATION_POLICIES)[number];

/** How long a new invitation link may stay valid, in days (the admin picks one). */
export const INVITE_LIFETIME_DAYS = [1, 7, 30] as const;
const DAY_MS = 24 * 60 * 60 * 1000;
const POLICY_KEY = 'registration_policy';
const INVITE_NOTE_MAX = 100;

/** Registering is not possible now (closed, invitation only, or an invite that is used up); the page says which. */
export class RegistrationClosedError extends ForbiddenError {
  constructor(message: string) {
    super(message, 'registration_closed');
  }
}

/**
 * What the register page offers: the first administrator's sign-up with the setup code, an open sign-up,
 * a sign-up through a valid invitation, or nothing (with the reason).
 */
export type RegistrationMode =
  | { kind: 'setup' }
  | { kind: 'open' }
  | { kind: 'invite'; invite: Invite }
  | { kind: 'closed'; reason: 'closed' | 'invite_only' | 'invite_invalid' };

export type InviteStatus = 'pending' | 'used' | 'expired';

export interface RegistrationInput extends RegisterInput {
  setupCode?: string;
  invite?: string;
}

export type RegistrationService = ReturnType<typeof createRegistrationService>;

/**
 * Who may create an account. On a database without an administrator, only the holder of the one-time
 * setup code (printed in the server's log at start) may, and becomes the administrator. Afterwards the
 * policy decides: open, by invitation (single-use links with an expiry), or closed (administrators create
 * accounts). The policy is set on the admin pages; REGISTRATION is its default.
 */
export function createRegistrationService({
  db,
  accounts,
  defaultPolicy,
  now = Date.now,
}: {
  db: Db;
  accounts: AccountsService;
  defaultPolicy: RegistrationPolicy;
  now?: () => number;
}) {
  const settings = createSettingsRepo(db);
  const invites = createInvitesRepo(db);
  // In memory only: a restart before the administrator exists prints a new one and the old one stops working.
  let setupCode: string | null = null;

  const policy = (): RegistrationPolicy => {
    const stored = settings.get(POLICY_KEY);
    return (REGISTRATION_POLICIES as readonly string[]).includes(stored ?? '') ? (stored as RegistrationPolicy) : defaultPolicy;
  };

  const requireAdmin = (actor: AccountUser) => {
    if (actor.role !== 'admin') throw new ForbiddenError('Only administrators can change who may register.');
  };

  const validInvite = (token: string): Invite | null => {
    const invite = invites.findByToken(sha256Hex(token));
    return invite && invite.usedAt === null && invite.expiresAt > now() ? invite : null;
  };

  function mode(inviteToken?: string): RegistrationMode {
    if (accounts.needsFirstAdmin()) return { kind: 'setup' };
    const current = policy();
    if (current === 'closed') return { kind: 'closed', reason: 'closed' };
    if (inviteToken) {
      const invite = validInvite(inviteToken);
      if (invite) return { kind: 'invite', invite };
      return current === 'open' ? { kind: 'open' } : { kind: 'closed', reason: 'invite_invalid' };
    }
    return current === 'open' ? { kind: 'open' } : { kind: 'closed', reason: 'invite_only' };
  }

  return {
    policy,
    mode,

    /** Whether a visitor without an invitation can register now (the login page and the menu link to it only then). */
    canRegister: () => mode().kind !== 'closed',

    /** The one-time setup code while there is no administrator (made on first use), else null. */
    setupCode(): string | null {
      if (!accounts.needsFirstAdmin()) {
        setupCode = null;
        return null;
      }
      return (setupCode ??= readableCode(3));
    },

    setPolicy(actor: AccountUser, value: string): RegistrationPolicy {
      requireAdmin(actor);
      if (!(REGISTRATION_POLICIES as readonly string[]).includes(value)) throw new ValidationError('Choose open, invitation only or closed.');
      settings.set(POLICY_KEY, value);
      return value as RegistrationPolicy;
    },

    /**
     * Creates an account as the current mode allows: the first administrator with the setup code (used up
     * with the account, in one transaction), a user through an invite (likewise), or a user when registering
     * is open. Throws RegistrationClosedError when it is not possible, ValidationError for a wrong setup code.
     */
    async register(input: RegistrationInput): Promise<AccountUser & { firstAdmin: boolean }> {
      const current = mode(input.invite || undefined);
      if (current.kind === 'setup') {
        if (!setupCode || !sameCode(input.setupCode ?? '', setupCode)) {
          throw new ValidationError('Please correct the marked fields.', {
            setupCode: 'That is not the setup code. It is in the server log, in the line that says "setup code".',
          });
        }
        const user = await accounts.register(input, {
          role: 'admin',
          claim: () => {
            // Checked again inside the transaction: two sign-ups with the right code cannot both become administrator.
            if (!setupCode || !sameCode(input.setupCode ?? '', setupCode)) throw new RegistrationClosedError('The setup code has just been used.');
            setupCode = null;
          },
        });
        return { ...user, firstAdmin: true };
      }
      if (current.kind === 'closed') throw new RegistrationClosedError(closedMessages[current.reason]);
      const token = current.kind === 'invite' ? input.invite! : null;
      const user = await accounts.register(input, {
        role: 'user',
        claim: (userId) => {
          if (token && !invites.claim(sha256Hex(token), userId, now())) throw new RegistrationClosedError(closedMessages.invite_invalid);
        },
      });
      return { ...user, firstAdmin: false };
    },

    /** A new single-use invitation; the token is returned once (only its hash is kept). */
    createInvite(actor: AccountUser, { days, note }: { days: number; note: string }): { invite: Invite; token: string } {
      requireAdmin(actor);
      if (!(INVITE_LIFETIME_DAYS as readonly number[]).includes(days)) throw new ValidationError('Choose how long the link stays valid.');
      const trimmed = note.trim();
      if (trimmed.length > INVITE_NOTE_MAX) throw new ValidationError(`The note may have at most ${INVITE_NOTE_MAX} characters.`);
      const token = newLinkToken();
      const created = now();
      return { invite: invites.insert(sha256Hex(token), trimmed, actor.id, created, created + days * DAY_MS), token };
    },

    /** The newest invitations with their status. */
    listInvites(limit = 50): (Invite & { status: InviteStatus })[] {
      return invites.recent(limit).map((invite) => ({ ...invite, status: invite.usedAt !== null ? 'used' : invite.expiresAt <= now() ? 'expired' : 'pending' }));
    },

    /** Withdraws an unused invitation; a used one stays as the record of who came in with it. */
    revokeInvite(actor: AccountUser, id: number): Invite {
      requireAdmin(actor);
      const invite = invites.findById(id);
      if (!invite) throw new NotFoundError('There is no such invitation.');
      if (!invites.remove(id)) throw new ValidationError('This invitation has been used; it stays as the record of who registered with it.');
      return invite;
    },
  };
}

const closedMessages = {
  closed: 'Registration is closed on this server. Ask an administrator to create an account for you.',
  invite_only: 'This server is open by invitation only. Ask an administrator for an invitation link.',
  invite_invalid: 'This invitation link has expired or has already been used. Ask an administrator for a new one.',
} as const;
