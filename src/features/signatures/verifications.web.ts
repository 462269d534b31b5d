import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Router, type Request, type Response } from 'express';
import { AppError, NotFoundError, ValidationError } from '../../http/errors.js';
import { field, format, gauge, idParam, parseCrop, wantsJson } from './page-helpers.js';
import type { SignatureSource } from './references.repo.js';
import { sendInkMap, sendStoredImage } from './signature-images.web.js';
import { idSchema, truthSchema } from './signatures.schemas.js';
import type { SignaturesService } from './signatures.service.js';
import type { QuestionedImage } from './verifications.service.js';
import { noteUploadRefusal } from '../../http/security-events.js';

const WEB_SOURCES: SignatureSource[] = ['upload', 'drawing', 'camera', 'library'];
/** How many of the closest references the result shows beside the questioned signature. */
const NEAREST = 3;

export interface VerificationsWebDeps {
  signatures: SignaturesService;
  renderFailure: (req: Request, res: Response, signerId: number, err: AppError) => Promise<void>;
}

/** The questioned image of the form: a library image when one was chosen, else the uploaded file (drawing, camera or upload). */
function questionedImage(req: Request, signatures: SignaturesService): QuestionedImage {
  const library = field(req, 'library_image_id');
  if (library !== undefined && library !== '') {
    const parsed = idSchema.safeParse(library);
    if (!parsed.success) throw new NotFoundError('We could not find that image.');
    return { libraryImageId: parsed.data };
  }
  const files = (req.files ?? []) as Express.Multer.File[];
  if (files.length !== 1 || files[0]!.fieldname !== 'image') {
    throw new ValidationError('Choose, draw or photograph one signature to verify.', { image: 'Choose, draw or photograph one signature.' });
  }
  return { file: signatures.received({ name: files[0]!.originalname || 'signature', path: files[0]!.path }) };
}

/** Verifying on the signer's page, the result page, the history's CSV and images, and marking the true outcome. */
export function createVerificationsWebRoutes({ signatures, renderFailure }: VerificationsWebDeps): Router {
  const { verifications } = signatures;
  const router = Router();

  /** A verification of this signer; another signer's id in the URL answers 404 like a missing one. */
  function verificationOf(req: Request) {
    const signerId = idParam(req.params.id);
    const verification = verifications.get(req.user!.id, idParam(req.params.verificationId, 'verification'));
    if (verification.signerId !== signerId) throw new NotFoundError('We could not find that verification.');
    return verification;
  }

  router.post('/signers/:id/verifications', async (req, res) => {
    const id = idParam(req.params.id);
    try {
      const crop = parseCrop(field(req, 'crop'));
      const image = questionedImage(req, signatures);
      const source = 'libraryImageId' in image ? 'library' : (WEB_SOURCES.find((s) => s === field(req, 'source')) ?? 'upload');
      const verification = await verifications.verify(req.user!.id, id, { image, crop, source });
      const url = `/signers/${id}/verifications/${verification.id}`;
      if (wantsJson(req)) return res.status(201).json({ id: verification.id, decision: verification.decision, url });
      res.redirect(303, url);
    } catch (err) {
      if (wantsJson(req) || !(err instanceof AppError) || err.status >= 500 || err.status === 404) throw err;
      noteUploadRefusal(req, err);
      await renderFailure(req, res, id, err);
    }
  });

  router.get('/signers/:id/verifications.csv', async (req, res) => {
    const id = idParam(req.params.id);
    const lines = verifications.csv(req.user!.id, id);
    res.set({ 'Content-Type': 'text/csv; charset=utf-8', 'Content-Disposition': `attachment; filename="signer-${id}-verifications.csv"`, 'Cache-Control': 'private, no-store' });
    await pipeline(Readable.from(lines), res);
  });

  router.get('/signers/:id/verifications/:verificationId', (req, res) => {
    const verification = verificationOf(req);
    const signer = signatures.signers.get(req.user!.id, verification.signerId);
    const existing = new Set(signatures.references.ids(req.user!.id, signer.id));
    const nearest = [...verification.similarities]
      .sort((a, b) => b.similarity - a.similarity)
      .slice(0, NEAREST)
      .map((s) => ({ ...s, exists: existing.has(s.reference_id) }));
    res.render('signatures/result', { title: `Verification #${verification.id}`, signer, verification, nearest, format, gauge });
  });

  router.post('/signers/:id/verifications/:verificationId/truth', (req, res) => {
    const verification = verificationOf(req);
    const value = field(req, 'truth');
    const truth = truthSchema.safeParse(value === '' || value === undefined ? null : value);
    if (!truth.success) throw new ValidationError(truth.error.issues[0]!.message, { truth: truth.error.issues[0]!.message });
    verifications.markTruth(req.user!.id, verification.id, truth.data);
    req.flash('success', truth.data ? `Marked as ${truth.data}.` : 'The true outcome has been cleared.');
    res.redirect(`/signers/${verification.signerId}/verifications/${verification.id}`);
  });

  for (const variant of ['image', 'thumbnail'] as const) {
    router.get(`/signers/:id/verifications/:verificationId/${variant}`, (req, res) => {
      const verification = verificationOf(req);
      return sendStoredImage(req, res, signatures, verification.storedImageId, variant === 'image' ? 'original' : 'thumbnail', `verification-${verification.id}`);
    });
  }

  router.get('/signers/:id/verifications/:verificationId/ink-map', (req, res) => {
    const verification = verificationOf(req);
    return sendInkMap(req, res, verifications.inkMap(req.user!.id, verification.id), `verification-${verification.id}`);
  });

  return router;
}
