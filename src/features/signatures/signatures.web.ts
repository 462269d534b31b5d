import { Router, type Request, type Response } from 'express';
import { requireLogin } from '../../http/auth.js';
import { NotFoundError } from '../../http/errors.js';
import { pageUploadLimits } from '../../http/uploads.js';
import { field, format, idParam } from './page-helpers.js';
import { createReferencesWebRoutes } from './references.web.js';
import { idSchema, listQuerySchema, newSignerSchema, pageSchema, signerChangesSchema, type NewSigner } from './signatures.schemas.js';
import type { SignaturesService } from './signatures.service.js';
import { ExternalRefTakenError } from './signers.service.js';
import { createVerificationsWebRoutes } from './verifications.web.js';

/** The messages of a failed zod parse, by field. */
function fieldErrors(issues: { path: PropertyKey[]; message: string }[]): Record<string, string> {
  const errors: Record<string, string> = {};
  for (const issue of issues) errors[String(issue.path[0] ?? 'form')] ??= issue.message;
  return errors;
}

export interface SignaturesWebDeps {
  signatures: SignaturesService;
  maxFileBytes: number;
  maxFiles: number;
}

/** Signature verification's pages: signers (list, create, edit, delete) and, per signer, references and verifications. */
export function createSignaturesWebRouter({ signatures, maxFileBytes, maxFiles }: SignaturesWebDeps): Router {
  const { signers } = signatures;
  const router = Router();
  router.use('/signers', requireLogin);

  router.get('/signers', (req, res) => {
    const query = listQuerySchema.safeParse(req.query);
    const { q, page } = query.success ? query.data : { q: '', page: 1 };
    const list = signers.list(req.user!.id, q, page);
    if (page > list.pages) return res.redirect(`/signers?${new URLSearchParams({ ...(q ? { q } : {}), ...(list.pages > 1 ? { page: String(list.pages) } : {}) })}`);
    res.render('signatures/index', { title: 'Signers', ...list, q, format, minReferences: signatures.limits.minReferences });
  });

  const renderForm = (res: Response, signer: { id: number } | null, values: Partial<Record<keyof NewSigner, unknown>>, errors: Record<string, string> = {}, status = 200) =>
    res.status(status).render('signatures/form', { title: signer ? 'Edit signer' : 'New signer', signer, values, errors });

  router.get('/signers/new', (_req, res) => renderForm(res, null, {}));

  router.post('/signers', (req, res) => {
    const parsed = newSignerSchema.safeParse(req.body);
    if (!parsed.success) return renderForm(res, null, req.body as object, fieldErrors(parsed.error.issues), 422);
    try {
      const signer = signers.create(req.user!.id, parsed.data);
      req.flash('success', `${signer.name} has been added. Add at least ${signatures.limits.minReferences} reference signatures next.`);
      res.redirect(`/signers/${signer.id}`);
    } catch (err) {
      if (err instanceof ExternalRefTakenError) return renderForm(res, null, req.body as object, err.fields, 409);
      throw err;
    }
  });

  /** From an image's page in the library: pick the signer to add it to, or to verify it against. */
  router.get('/signers/use-image', (req, res) => {
    const purpose = req.query.for === 'verify' ? 'verify' : 'reference';
    const image = signatures.findLibraryImage(req.user!.id, idParam(req.query.image, 'image'));
    if (!image) throw new NotFoundError('We could not find that image.');
    const query = listQuerySchema.safeParse(req.query);
    const { q, page } = query.success ? query.data : { q: '', page: 1 };
    const list = signers.list(req.user!.id, q, page);
    res.render('signatures/use-image', {
      title: purpose === 'verify' ? 'Verify against a signer' : 'Add as a reference signature',
      purpose,
      image,
      ...list,
      q,
      format,
      minReferences: signatures.limits.minReferences,
    });
  });

  router.get('/signers/:id/edit', (req, res) => {
    const signer = signers.get(req.user!.id, idParam(req.params.id));
    renderForm(res, signer, { name: signer.name, external_ref: signer.externalRef, notes: signer.notes });
  });

  router.post('/signers/:id/edit', (req, res) => {
    const signer = signers.get(req.user!.id, idParam(req.params.id));
    const parsed = signerChangesSchema.safeParse({ name: '', external_ref: '', notes: '', ...(req.body as object) });
    if (!parsed.success) return renderForm(res, signer, req.body as object, fieldErrors(parsed.error.issues), 422);
    try {
      signers.update(req.user!.id, signer.id, parsed.data);
    } catch (err) {
      if (err instanceof ExternalRefTakenError) return renderForm(res, signer, req.body as object, err.fields, 409);
      throw err;
    }
    req.flash('success', 'The signer has been saved.');
    res.redirect(`/signers/${signer.id}`);
  });

  router.get('/signers/:id/delete', (req, res) => {
    const userId = req.user!.id;
    const signer = signers.get(userId, idParam(req.params.id));
    const history = signatures.verifications.history(userId, signer.id, 1);
    res.render('signatures/delete', { title: `Delete ${signer.name}?`, signer, verificationCount: history.total });
  });

  router.post('/signers/:id/delete', async (req, res) => {
    const signer = await signers.remove(req.user!.id, idParam(req.params.id));
    req.flash('success', `${signer.name} has been deleted, with the reference signatures and the verification history.`);
    res.redirect('/signers');
  });

  router.get('/signers/:id', async (req, res) => {
    await renderSigner(req, res, idParam(req.params.id));
  });

  /** The signer's page: details, references (with their warnings), the verification form and the history. */
  async function renderSigner(req: Request, res: Response, id: number, status = 200, verifyState: { error?: string; crop?: unknown } = {}) {
    const userId = req.user!.id;
    const signer = signers.get(userId, id);
    const pageQuery = pageSchema.safeParse(req.query);
    const history = signatures.verifications.history(userId, id, pageQuery.success ? pageQuery.data.page : 1);
    const { items: references, warnings } = await signatures.references.list(userId, id);
    const questionedId = idSchema.safeParse(req.query.image ?? field(req, 'library_image_id'));
    // A library image chosen to verify (from the picker or the image's page); one that is gone is simply not offered.
    const questioned = questionedId.success ? (signatures.findLibraryImage(userId, questionedId.data) ?? null) : null;
    res.status(status).render('signatures/show', {
      title: signer.name,
      signer,
      references,
      warnings,
      history,
      questioned,
      verifyState,
      available: signatures.available(),
      limits: { ...signatures.limits, ...pageUploadLimits(maxFileBytes, maxFiles) },
      format,
      scripts: ['/js/uploader.js', '/js/drawing-pad.js', '/js/camera.js', '/js/signer-page.js'],
    });
  }

  router.use(createReferencesWebRoutes({ signatures }));
  router.use(
    createVerificationsWebRoutes({
      signatures,
      // A verification the form could not run re-renders the signer's page with the message and the crop typed.
      renderFailure: (req, res, id, err) => renderSigner(req, res, id, err.status, { error: err.message, crop: field(req, 'crop') }),
    }),
  );
  return router;
}
