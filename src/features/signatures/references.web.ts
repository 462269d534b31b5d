import { Router } from 'express';
import { AppError, ValidationError } from '../../http/errors.js';
import { THUMBNAIL_SIDE } from '../../storage/index.js';
import type { SignatureSource } from './references.repo.js';
import { sendInkMap, sendStoredImage } from './signature-images.web.js';
import { field, format, idParam, wantsJson } from './page-helpers.js';
import { pageSchema, pickedIdsSchema } from './signatures.schemas.js';
import type { SignaturesService } from './signatures.service.js';
import { noteUploadRefusal } from '../../http/security-events.js';

const LIBRARY_PER_PAGE = 24;
const WEB_SOURCES: SignatureSource[] = ['upload', 'drawing', 'camera'];

/** Reference signatures on the signer's page: upload, drawing and camera (one file per request from the page scripts), the library, delete, images. */
export function createReferencesWebRoutes({ signatures }: { signatures: SignaturesService }): Router {
  const { references } = signatures;
  const router = Router();

  router.post('/signers/:id/references', async (req, res) => {
    const id = idParam(req.params.id);
    const source = WEB_SOURCES.find((s) => s === field(req, 'source')) ?? 'upload';
    const files = ((req.files ?? []) as Express.Multer.File[]).map((file, i) => signatures.received({ name: file.originalname || `image-${i + 1}`, path: file.path }));
    try {
      const { items, warnings } = await references.add(req.user!.id, id, files, source);
      if (wantsJson(req)) {
        return res.status(201).json({ items: items.map((r) => ({ id: r.id, name: `Reference #${r.id}`, url: `/signers/${id}#reference-${r.id}` })), warnings });
      }
      req.flash('success', items.length === 1 ? 'The reference signature has been added.' : `${items.length} reference signatures have been added.`);
      for (const warning of warnings) req.flash('error', warning.message);
      res.redirect(`/signers/${id}#references`);
    } catch (err) {
      if (wantsJson(req) || !(err instanceof AppError) || err.status >= 500 || err.status === 404) throw err;
      noteUploadRefusal(req, err);
      req.flash('error', err.message);
      res.redirect(`/signers/${id}#references`);
    }
  });

  /** Picks images of the library: several as references, or one to verify (then back to the signer's page with it). */
  router.get('/signers/:id/library', (req, res) => {
    const userId = req.user!.id;
    const signer = signatures.signers.get(userId, idParam(req.params.id));
    const purpose = req.query.for === 'verify' ? 'verify' : 'reference';
    const query = pageSchema.safeParse(req.query);
    const list = signatures.libraryPage(userId, query.success ? query.data.page : 1, LIBRARY_PER_PAGE);
    res.render('signatures/library', {
      title: purpose === 'verify' ? 'Choose the signature to verify' : 'Add references from your images',
      signer,
      purpose,
      ...list,
      thumbnailSide: THUMBNAIL_SIDE,
      format,
      room: signatures.limits.maxReferences - signer.referenceCount,
    });
  });

  router.post('/signers/:id/references/library', async (req, res) => {
    const id = idParam(req.params.id);
    try {
      const parsed = pickedIdsSchema.safeParse(field(req, 'ids'));
      if (!parsed.success) throw new ValidationError(parsed.error.issues[0]!.message, { ids: parsed.error.issues[0]!.message });
      const { items, warnings } = await references.addFromLibrary(req.user!.id, id, parsed.data);
      req.flash('success', items.length === 1 ? 'The image has been added as a reference signature.' : `${items.length} images have been added as reference signatures.`);
      for (const warning of warnings) req.flash('error', warning.message);
    } catch (err) {
      if (!(err instanceof AppError) || err.status >= 500 || err.status === 404) throw err;
      req.flash('error', err.message);
    }
    res.redirect(`/signers/${id}#references`);
  });

  // One click, as the outlier warning promises: a reference is cheap to add again, unlike a signer or its history.
  router.post('/signers/:id/references/:referenceId/delete', async (req, res) => {
    const id = idParam(req.params.id);
    const referenceId = idParam(req.params.referenceId, 'reference signature');
    await references.remove(req.user!.id, id, referenceId);
    req.flash('success', `Reference #${referenceId} has been deleted.`);
    res.redirect(`/signers/${id}#references`);
  });

  for (const variant of ['image', 'thumbnail'] as const) {
    router.get(`/signers/:id/references/:referenceId/${variant}`, (req, res) => {
      const reference = references.get(req.user!.id, idParam(req.params.id), idParam(req.params.referenceId, 'reference signature'));
      return sendStoredImage(req, res, signatures, reference.storedImageId, variant === 'image' ? 'original' : 'thumbnail', `reference-${reference.id}`);
    });
  }

  router.get('/signers/:id/references/:referenceId/ink-map', (req, res) => {
    const referenceId = idParam(req.params.referenceId, 'reference signature');
    return sendInkMap(req, res, references.inkMap(req.user!.id, idParam(req.params.id), referenceId), `reference-${referenceId}`);
  });

  return router;
}
