import { readFile } from 'node:fs/promises';
import { Router, type Request, type Response } from 'express';
import { requireLogin } from '../../http/auth.js';
import { AppError, ValidationError } from '../../http/errors.js';
import { pageUploadLimits } from '../../http/uploads.js';
import { createdJson } from './prediction-json.js';
import { idSchema } from './digits.schemas.js';
import { field, idOf, wantsJson } from './page-input.js';
import { refusalError, type DigitOutcome, type DigitsService } from './digits.service.js';
import { createHistoryWebRouter } from './history.web.js';
import { toPredictionJson } from './prediction-json.js';

const uploaded = (req: Request) => (req.files ?? []) as Express.Multer.File[];

/** What a page script gets for a prediction: the API's answer with the model's view, the whole prediction and its page. */
function scriptJson(outcome: Extract<DigitOutcome, { prediction: object }>) {
  return { ...createdJson(outcome, true), prediction: toPredictionJson(outcome.prediction), url: `/digits/predictions/${outcome.prediction.id}` };
}

/** A result row of the upload page: the file's name and its outcome. */
export interface UploadResult {
  name: string;
  outcome: DigitOutcome;
}

export interface DigitsWebDeps {
  digits: DigitsService;
  maxFileBytes: number;
  /** Files per upload request (DIGITS_BATCH_MAX_FILES). */
  maxFiles: number;
}

/** The digit pages: draw, upload (and a library image), plus history, analytics and exports (history.web.ts). */
export function createDigitsWebRouter({ digits, maxFileBytes, maxFiles }: DigitsWebDeps): Router {
  const router = Router();
  router.use('/digits', requireLogin);
  const limits = pageUploadLimits(maxFileBytes, maxFiles);
  const common = (req: Request) => ({ available: digits.available(), keepImages: digits.keepsImages(req.user!.id), modelVersion: digits.modelVersion() });

  router.get('/digits', (req, res) => {
    res.render('digits/draw', { title: 'Digits', section: 'draw', ...common(req), scripts: ['/js/drawing-pad.js', '/js/digits-correction.js', '/js/digits-draw.js'] });
  });

  /**
   * One image from a page script (the drawing pad after each stroke, the uploader for each file): JSON with the
   * prediction and what the model saw. A drawing may replace the previous reading of the same drawing.
   */
  router.post('/digits/predictions', async (req, res) => {
    const file = uploaded(req).find((candidate) => candidate.fieldname === 'image' || candidate.fieldname === 'images');
    if (!file) throw new ValidationError('Send an image.', { image: 'Send an image.' });
    const source = field(req, 'source') === 'drawing' ? 'drawing' : 'upload';
    const [outcome] = await digits.predict(req.user!.id, [{ name: source === 'drawing' ? null : file.originalname, bytes: await readFile(file.path) }], source);
    if (outcome!.error) throw refusalError(outcome!.error);
    const replaces = idSchema.safeParse(field(req, 'replaces'));
    if (source === 'drawing' && replaces.success) await digits.supersede(req.user!.id, replaces.data);
    res.status(201).json(scriptJson(outcome!));
  });

  router.get('/digits/upload', (req, res) => {
    const libraryId = idSchema.safeParse(req.query.image);
    const libraryImage = libraryId.success ? digits.libraryImageOrNull(req.user!.id, libraryId.data) : null;
    renderUpload(req, res, { libraryImage });
  });

  /**
   * Uploads: the page script sends each file alone and gets JSON (a refused file answers 422 with its reason);
   * the form without script sends every file in one request and gets the results on the page.
   */
  router.post('/digits/upload', async (req, res) => {
    const files = uploaded(req);
    if (files.length === 0) {
      if (wantsJson(req)) throw new ValidationError('Choose at least one image.', { images: 'Choose at least one image.' });
      req.flash('error', 'Choose at least one image.');
      return res.redirect('/digits/upload');
    }
    const read = await Promise.all(files.map(async (file) => ({ name: file.originalname, bytes: await readFile(file.path) })));
    const outcomes = await digits.predict(req.user!.id, read, 'upload');
    if (!wantsJson(req)) return renderUpload(req, res, { results: outcomes.map((outcome, i) => ({ name: read[i]!.name, outcome })) });
    if (outcomes.length === 1 && outcomes[0]!.error) throw refusalError(outcomes[0]!.error);
    res.status(201).json({ items: outcomes.map((outcome, i) => (outcome.error ? { file: read[i]!.name, error: { code: outcome.error.reason, message: outcome.error.message } } : { file: read[i]!.name, ...scriptJson(outcome) })) });
  });

  router.post('/digits/library/:id', async (req, res) => {
    const imageId = idOf(req.params.id, 'image');
    try {
      const outcome = await digits.predictLibraryImage(req.user!.id, imageId);
      if (outcome.error) throw refusalError(outcome.error);
      req.flash('success', `Read as ${outcome.prediction.digit}.`);
      res.redirect(`/digits/predictions/${outcome.prediction.id}`);
    } catch (err) {
      if (!(err instanceof AppError) || err.status !== 422) throw err;
      req.flash('error', err.message);
      res.redirect(`/digits/upload?image=${imageId}`);
    }
  });

  router.post('/digits/settings', (req, res) => {
    const keep = field(req, 'keep_images') === 'on';
    digits.setKeepImages(req.user!.id, keep);
    req.flash('success', keep ? 'The images of new predictions will be kept.' : 'New predictions will be kept without their images.');
    res.redirect('/digits/history#settings');
  });

  router.use(createHistoryWebRouter({ digits }));

  function renderUpload(req: Request, res: Response, state: { results?: UploadResult[]; libraryImage?: { id: number; name: string } | null }) {
    res.render('digits/upload', {
      title: 'Upload digits',
      section: 'upload',
      ...common(req),
      limits,
      results: state.results ?? null,
      libraryImage: state.libraryImage ?? null,
      scripts: ['/js/uploader.js', '/js/digits-upload.js', '/js/digits-correction.js'],
    });
  }

  return router;
}
