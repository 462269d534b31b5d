import type { Db } from '../../db/database.js';
import { AppError, NotFoundError } from '../../http/errors.js';
import type { ImageStore } from '../../storage/index.js';
import { createReferencesRepo } from './references.repo.js';
import { createSignersRepo, type Signer, type SignerFields } from './signers.repo.js';
import { PER_PAGE, type NewSigner, type SignerChanges } from './signatures.schemas.js';
import { createVerificationsRepo } from './verifications.repo.js';

/** An external reference identifies one signer within an account. */
export class ExternalRefTakenError extends AppError {
  readonly fields: Record<string, string>;
  constructor(externalRef: string, holder: string) {
    super(409, 'external_ref_taken', `The external reference "${externalRef}" is already used by ${holder}.`);
    this.fields = { external_ref: `Already used by ${holder}.` };
  }
}

const isUniqueViolation = (err: unknown) => (err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE';

/** Signers: the people whose signatures an account checks. Every query carries the account's id, so another account's signer is "not found". */
export function createSignersService({ db, store }: { db: Db; store: ImageStore }) {
  const repo = createSignersRepo(db);
  const references = createReferencesRepo(db);
  const verifications = createVerificationsRepo(db);

  function get(userId: number, id: number): Signer {
    const signer = repo.findById(userId, id);
    // A missing signer and another account's look the same.
    if (!signer) throw new NotFoundError('We could not find that signer.');
    return signer;
  }

  function checkExternalRef(userId: number, externalRef: string | null, exceptId?: number): void {
    if (externalRef === null) return;
    const holder = repo.findByExternalRef(userId, externalRef);
    if (holder && holder.id !== exceptId) throw new ExternalRefTakenError(externalRef, holder.name);
  }

  /** Writes, turning a lost race for the same external reference into the same answer as the check before it. */
  function write<T>(userId: number, fields: SignerFields, exceptId: number | undefined, action: () => T): T {
    checkExternalRef(userId, fields.externalRef, exceptId);
    try {
      return action();
    } catch (err) {
      if (isUniqueViolation(err)) checkExternalRef(userId, fields.externalRef, exceptId);
      throw err;
    }
  }

  return {
    get,
    countByUser: () => repo.countByUser(),

    create(userId: number, input: NewSigner): Signer {
      const fields = { name: input.name, externalRef: input.external_ref, notes: input.notes };
      return write(userId, fields, undefined, () => repo.insert(userId, fields));
    },

    list(userId: number, q: string, page: number) {
      const total = repo.count(userId, q);
      const pages = Math.max(1, Math.ceil(total / PER_PAGE));
      return { items: repo.page(userId, q, PER_PAGE, (page - 1) * PER_PAGE), total, page, pages };
    },

    update(userId: number, id: number, changes: SignerChanges): Signer {
      const signer = get(userId, id);
      const fields = {
        name: changes.name ?? signer.name,
        externalRef: changes.external_ref === undefined ? signer.externalRef : changes.external_ref,
        notes: changes.notes ?? signer.notes,
      };
      write(userId, fields, id, () => repo.update(userId, id, fields));
      return get(userId, id);
    },

    /** Deletes the signer with its references and verifications; their images go once nothing else refers to them. */
    async remove(userId: number, id: number): Promise<Signer> {
      const signer = get(userId, id);
      // Read and released without an await in between (release opens its transaction synchronously), so no
      // reference added meanwhile can be missed. The rows go by ON DELETE CASCADE in that transaction.
      const images = [...references.storedImageIds(userId, id), ...verifications.storedImageIds(userId, id)];
      await store.release(userId, images, () => repo.remove(userId, id));
      return signer;
    },
  };
}

export type SignersService = ReturnType<typeof createSignersService>;
