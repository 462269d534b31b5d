import { Router, type Request, type Response } from 'express';
import { AppError, NotFoundError, ValidationError } from '../../http/errors.js';
import type { PageUploadLimits } from '../../http/uploads.js';
import { sendImage, type ImagesService } from '../images/index.js';
import { THUMBNAIL_SIDE } from '../../storage/index.js';
import type { DatasetsService } from './datasets.service.js';
import { field, format, formErrors, idParam, pageOf, plural, selectedIds, wantsJson } from './datasets.forms.js';
import { PER_PAGE_DEFAULT } from './datasets.schemas.js';

export interface DatasetImagesWebDeps {
  datasets: DatasetsService;
  images: ImagesService;
  limits: PageUploadLimits;
}

/** A label's page (grid, upload, move, delete), rapid capture, and adding images from the library. */
export function createDatasetImagesWebRouter({ datasets, images, limits }: DatasetImagesWebDeps): Router {
  const router = Router();

  function renderLabel(req: Request, res: Response, status = 200, state: Record<string, unknown> = {}) {
    const userId = req.user!.id;
    const dataset = datasets.get(userId, idParam(req.params.id));
    const label = datasets.label(userId, dataset.id, idParam(req.params.labelId, 'label'));
    const list = datasets.listImages(userId, dataset.id, label.id, pageOf(req.query.page), PER_PAGE_DEFAULT);
    res.status(status).render('datasets/label', {
      title: `${label.name} · ${dataset.name}`,
      dataset,
      label,
      ...list,
      limits,
      format,
      thumbnailSide: THUMBNAIL_SIDE,
      errors: {},
      labelName: label.name,
      ...state,
      scripts: ['/js/uploader.js', '/js/images-gallery.js'],
    });
  }

  router.get('/datasets/:id/labels/:labelId', (req, res) => renderLabel(req, res));

  router.post('/datasets/:id/labels/:labelId/rename', (req, res) => {
    const id = idParam(req.params.id);
    const labelId = idParam(req.params.labelId, 'label');
    try {
      const label = datasets.renameLabel(req.user!.id, id, labelId, field(req, 'name'));
      req.flash('success', `The label is now called ${label.name}.`);
      res.redirect(`/datasets/${id}/labels/${labelId}`);
    } catch (err) {
      const errors = formErrors(err);
      if (!errors) throw err;
      renderLabel(req, res, (err as AppError).status, { errors, labelName: field(req, 'name') });
    }
  });

  router.get('/datasets/:id/labels/:labelId/delete', (req, res) => {
    const dataset = datasets.get(req.user!.id, idParam(req.params.id));
    const label = datasets.label(req.user!.id, dataset.id, idParam(req.params.labelId, 'label'));
    res.render('datasets/label-delete', { title: `Delete the label ${label.name}?`, dataset, label });
  });

  router.post('/datasets/:id/labels/:labelId/delete', async (req, res) => {
    const id = idParam(req.params.id);
    const label = datasets.label(req.user!.id, id, idParam(req.params.labelId, 'label'));
    await datasets.removeLabel(req.user!.id, id, label.id);
    req.flash('success', `The label ${label.name} and its ${plural(label.imageCount, 'image')} have been deleted.`);
    res.redirect(`/datasets/${id}`);
  });

  // Uploads and camera captures into a label. One file per request from the scripts: a refused file or a
  // duplicate answers 422 with the reason, shown beside that file.
  router.post('/datasets/:id/labels/:labelId/images', async (req, res) => {
    const id = idParam(req.params.id);
    const labelId = idParam(req.params.labelId, 'label');
    const files = (req.files ?? []) as Express.Multer.File[];
    const source = field(req, 'source') === 'camera' ? 'camera' : 'upload';
    try {
      const { label, items, skipped } = await datasets.upload(req.user!.id, id, { id: labelId }, files, source);
      if (wantsJson(req)) {
        if (items.length === 0 && skipped.length > 0) throw new ValidationError(skipped.map((s) => s.message).join(' '), Object.fromEntries(skipped.map((s) => [s.file, s.code])), skipped[0]!.code === 'duplicate' ? 'duplicate' : 'image_refused');
        return res.status(201).json({
          items: items.map((image) => ({ id: image.id, label_id: image.labelId, name: image.name, sha256: image.sha256, url: `/datasets/${id}/images/${image.id}/file` })),
          skipped,
          label: { id: label.id, name: label.name, image_count: label.imageCount },
        });
      }
      if (items.length) req.flash('success', `Stored ${plural(items.length, 'image')} in ${label.name}.`);
      for (const skip of skipped) req.flash('error', `${skip.file}: ${skip.message}`);
      res.redirect(`/datasets/${id}/labels/${labelId}`);
    } catch (err) {
      if (wantsJson(req) || !(err instanceof AppError) || err.status >= 500 || err.status === 404) throw err;
      req.flash('error', err.message);
      res.redirect(`/datasets/${id}/labels/${labelId}`);
    }
  });

  router.get('/datasets/:id/images/:imageId/file', (req, res) =>
    sendImage(req, res, datasets.openImage(req.user!.id, idParam(req.params.id), idParam(req.params.imageId, 'image'), 'original'), { download: req.query.download === '1' }),
  );
  router.get('/datasets/:id/images/:imageId/thumbnail', (req, res) =>
    sendImage(req, res, datasets.openImage(req.user!.id, idParam(req.params.id), idParam(req.params.imageId, 'image'), 'thumbnail')),
  );

  /** Back to the label the selection came from (a hidden field of the form), else the dataset. */
  const backTo = (req: Request, id: number) => {
    const from = Number(field(req, 'from_label'));
    return Number.isInteger(from) && from > 0 ? `/datasets/${id}/labels/${from}` : `/datasets/${id}`;
  };

  router.post('/datasets/:id/images/move', (req, res) => {
    const id = idParam(req.params.id);
        const target = Number(field(req, 'label'));
    const moved = datasets.moveImages(req.user!.id, id, selectedIds(field(req, 'ids')), { id: Number.isSafeInteger(target) ? target : 0 });
    const label = datasets.label(req.user!.id, id, moved[0]!.labelId);
    req.flash('success', `Moved ${plural(moved.length, 'image')} to ${label.name}.`);
    res.redirect(backTo(req, id));
  });

  // The selection form posts here for the confirmation page (a POST, so that its CSRF field never lands in a URL).
  router.post('/datasets/:id/images/delete/confirm', (req, res) => {
    const dataset = datasets.get(req.user!.id, idParam(req.params.id));
    const ids = selectedIds(field(req, 'ids'));
    const selected = ids.map((imageId) => datasets.getImage(req.user!.id, dataset.id, imageId));
    res.render('datasets/images-delete', { title: selected.length === 1 ? 'Delete this image?' : `Delete ${selected.length} images?`, dataset, selected, fromLabel: Number(field(req, 'from_label')) || null, format });
  });

  router.post('/datasets/:id/images/delete', async (req, res) => {
    const id = idParam(req.params.id);
    const count = await datasets.removeImages(req.user!.id, id, selectedIds(field(req, 'ids')));
    req.flash('success', count === 1 ? 'The image has been deleted from the dataset.' : `${count} images have been deleted from the dataset.`);
    res.redirect(backTo(req, id));
  });

  router.get('/datasets/:id/capture', (req, res) => {
    const dataset = datasets.get(req.user!.id, idParam(req.params.id));
    if (dataset.labels.length === 0) {
      req.flash('error', 'Add a label first: each photo is stored in the label you choose.');
      return res.redirect(`/datasets/${dataset.id}`);
    }
    const wanted = Number(req.query.label);
    const current = dataset.labels.find((label) => label.id === wanted) ?? dataset.labels[0]!;
    res.render('datasets/capture', { title: `Capture · ${dataset.name}`, dataset, current, scripts: ['/js/uploader.js', '/js/camera.js', '/js/dataset-capture.js'] });
  });

  router.get('/datasets/:id/library', (req, res) => {
    const dataset = datasets.get(req.user!.id, idParam(req.params.id));
    const list = images.list(req.user!.id, pageOf(req.query.page), PER_PAGE_DEFAULT);
    const wanted = Number(req.query.label);
    res.render('datasets/library', {
      title: `Add from your images · ${dataset.name}`,
      dataset,
      current: dataset.labels.find((label) => label.id === wanted) ?? dataset.labels[0] ?? null,
      ...list,
      format,
      thumbnailSide: THUMBNAIL_SIDE,
      scripts: ['/js/images-gallery.js'],
    });
  });

  router.get('/datasets/add-images', (req, res) => {
    const picked = images.getAll(req.user!.id, selectedIds(req.query.ids));
    res.render('datasets/add-images', { title: picked.length === 1 ? 'Add to a dataset' : `Add ${picked.length} images to a dataset`, picked, choices: datasets.choices(req.user!.id) });
  });

  // From the library picker and the image page: `target` is "<dataset id>:<label id>".
  router.post('/datasets/add-images', (req, res) => {
    const [datasetId, labelId] = String(field(req, 'target') ?? '').split(':').map(Number);
    if (!Number.isInteger(datasetId) || !Number.isInteger(labelId)) throw new NotFoundError('We could not find that label.');
    const result = datasets.addFromLibrary(req.user!.id, datasetId!, labelId!, selectedIds(field(req, 'ids')));
    if (result.added.length) req.flash('success', `Added ${plural(result.added.length, 'image')} to ${result.dataset.name} / ${result.label.name}.`);
    for (const skip of result.skipped) req.flash('error', `${skip.file}: ${skip.message}`);
    res.redirect(`/datasets/${result.dataset.id}/labels/${result.label.id}`);
  });

  return router;
}
