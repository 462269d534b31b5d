import { Router, type Request, type Response } from 'express';
import { create as contentDisposition } from 'content-disposition';
import { requireLogin } from '../../http/auth.js';
import { AppError, NotFoundError, ValidationError } from '../../http/errors.js';
import { noteUploadRefusal } from '../../http/security-events.js';
import { formatBytes } from '../../lib/format.js';
import { pageUploadLimits } from '../../http/uploads.js';
import { THUMBNAIL_SIDE } from '../../storage/index.js';
import { toImageJson } from './images.api.js';
import { sendImage } from './image-response.js';
import { backgroundRemovalSchema, BACKGROUND_MODES, idListSchema, idSchema, pageQuerySchema, PER_PAGE_DEFAULT } from './images.schemas.js';
import type { ImagesService } from './images.service.js';

const format = { bytes: formatBytes };

/** The upload script asks for JSON (Accept: application/json); a plain form post gets a page. */
const wantsJson = (req: Request) => req.accepts(['html', 'json']) === 'json';

function imageId(value: unknown): number {
  const parsed = idSchema.safeParse(value);
  if (!parsed.success) throw new NotFoundError('We could not find that image.');
  return parsed.data;
}

function selectedIds(value: unknown): number[] {
  const parsed = idListSchema.safeParse(value);
  if (!parsed.success) throw new ValidationError(parsed.error.issues[0]!.message, { ids: parsed.error.issues[0]!.message });
  return parsed.data;
}

const field = (req: Request, name: string): unknown => (req.body as Record<string, unknown> | undefined)?.[name];

export interface ImagesWebDeps {
  images: ImagesService;
  maxFileBytes: number;
  maxFiles: number;
}

/** The image library's pages: gallery and upload, camera capture, one image, selection download and delete. */
export function createImagesWebRouter({ images, maxFileBytes, maxFiles }: ImagesWebDeps): Router {
  const router = Router();
  router.use('/images', requireLogin);

  const limits = pageUploadLimits(maxFileBytes, maxFiles);

  router.get('/images', (req, res) => {
    const query = pageQuerySchema.safeParse({ page: req.query.page });
    const page = query.success ? query.data.page : 1;
    const list = images.list(req.user!.id, page, PER_PAGE_DEFAULT);
    if (page > list.pages) return res.redirect(list.pages > 1 ? `/images?page=${list.pages}` : '/images');
    res.render('images/index', {
      title: 'Images',
      ...list,
      usage: images.usage(req.user!.id),
      limits,
      format,
      thumbnailSide: THUMBNAIL_SIDE,
      scripts: ['/js/uploader.js', '/js/images-gallery.js'],
    });
  });

  router.post('/images', async (req, res) => {
    const files = (req.files ?? []) as Express.Multer.File[];
    const source = field(req, 'source') === 'camera' ? 'camera' : 'upload';
    try {
      const stored = await images.upload(req.user!.id, files, source);
      if (wantsJson(req)) return res.status(201).json({ items: stored.map((image) => ({ ...toImageJson(image), url: `/images/${image.id}` })) });
      req.flash('success', stored.length === 1 ? `Stored ${stored[0]!.name}.` : `Stored ${stored.length} images.`);
      res.redirect(stored.length === 1 ? `/images/${stored[0]!.id}` : '/images');
    } catch (err) {
      if (wantsJson(req) || !(err instanceof AppError) || err.status >= 500) throw err;
      // Answered here rather than by the error handler, so the refusal is recorded here.
      noteUploadRefusal(req, err);
      req.flash('error', err.message);
      res.redirect('/images');
    }
  });

  router.get('/images/capture', (_req, res) => {
    res.render('images/capture', { title: 'Take a photo', scripts: ['/js/uploader.js', '/js/camera.js', '/js/images-capture.js'] });
  });

  router.get('/images/download', (req, res) => {
    const ids = selectedIds(req.query.ids);
    const archive = images.zip(req.user!.id, ids);
    const name = `inkwell-images-${new Date().toISOString().slice(0, 10)}.zip`;
    res.set({ 'Content-Type': 'application/zip', 'Content-Disposition': contentDisposition(name), 'Cache-Control': 'private, no-store' });
    archive.on('error', (err) => res.destroy(err));
    archive.pipe(res);
  });

  router.get('/images/delete', (req, res) => {
    const selected = images.getAll(req.user!.id, selectedIds(req.query.ids));
    res.render('images/delete', { title: selected.length === 1 ? 'Delete this image?' : `Delete ${selected.length} images?`, selected, format });
  });

  router.post('/images/delete', async (req, res) => {
    const count = await images.remove(req.user!.id, selectedIds(field(req, 'ids')));
    req.flash('success', count === 1 ? 'The image has been deleted.' : `${count} images have been deleted.`);
    res.redirect('/images');
  });

  router.get('/images/:id', (req, res) => {
    const image = images.get(req.user!.id, imageId(req.params.id));
    renderImage(req, res, image.id);
  });

  router.get('/images/:id/file', (req, res) => sendImage(req, res, images.open(req.user!.id, imageId(req.params.id), 'original'), { download: req.query.download === '1' }));
  router.get('/images/:id/thumbnail', (req, res) => sendImage(req, res, images.open(req.user!.id, imageId(req.params.id), 'thumbnail')));

  router.post('/images/:id/rename', (req, res) => {
    const id = imageId(req.params.id);
    try {
      images.rename(req.user!.id, id, field(req, 'name'));
    } catch (err) {
      if (err instanceof ValidationError) return renderImage(req, res, id, 422, { errors: { rename: err.fields, background: {} }, name: field(req, 'name') });
      throw err;
    }
    req.flash('success', 'The image has been renamed.');
    res.redirect(`/images/${id}`);
  });

  router.post('/images/:id/background-removal', async (req, res) => {
    const id = imageId(req.params.id);
    images.get(req.user!.id, id);
    const parsed = backgroundRemovalSchema.safeParse(req.body);
    if (!parsed.success) {
      const fields = Object.fromEntries(parsed.error.issues.map((issue) => [String(issue.path[0] ?? 'mode'), issue.message]));
      return renderImage(req, res, id, 422, { errors: { rename: {}, background: fields }, backgroundValues: req.body as object });
    }
    try {
      const { image, notice } = await images.removeBackground(req.user!.id, id, parsed.data);
      if (notice) req.flash('error', notice);
      req.flash('success', `Saved ${image.name}; the original is unchanged.`);
      res.redirect(`/images/${image.id}`);
    } catch (err) {
      if (!(err instanceof AppError) || err.status >= 500 || err.status === 404) throw err;
      renderImage(req, res, id, err.status, { errors: { rename: {}, background: { form: err.message, ...(err instanceof ValidationError ? err.fields : {}) } }, backgroundValues: req.body as object });
    }
  });

  function renderImage(req: Request, res: Response, id: number, status = 200, state: Record<string, unknown> = {}) {
    const userId = req.user!.id;
    const image = images.get(userId, id);
    const original = image.derivedFromId === null ? null : (images.find(userId, image.derivedFromId) ?? null);
    res.status(status).render('images/show', {
      title: image.name,
      image,
      original,
      format,
      modes: BACKGROUND_MODES,
      providers: images.externalProviders(),
      backgroundAvailable: images.backgroundAvailable(),
      errors: { rename: {}, background: {} },
      backgroundValues: {},
      name: image.name,
      ...state,
      scripts: ['/js/image-page.js'],
    });
  }

  return router;
}
