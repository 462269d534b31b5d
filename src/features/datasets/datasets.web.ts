import { Router, type Request, type RequestHandler, type Response } from 'express';
import { requireLogin } from '../../http/auth.js';
import { verifyCsrf } from '../../http/csrf.js';
import { AppError, ValidationError } from '../../http/errors.js';
import { multipartParser, pageUploadLimits, type UploadLimits } from '../../http/uploads.js';
import { formatBytes } from '../../lib/format.js';
import type { ImagesService } from '../images/index.js';
import { createDatasetImagesWebRouter } from './dataset-images.web.js';
import { sendZip } from './dataset-response.js';
import type { ImportReport } from './dataset-import.js';
import { field, format, formErrors, idParam, pageOf } from './datasets.forms.js';
import { DEFAULT_SPLIT, exportQuerySchema, labelsFromText, PER_PAGE_DEFAULT } from './datasets.schemas.js';
import type { DatasetsService } from './datasets.service.js';

export interface DatasetsWebDeps {
  datasets: DatasetsService;
  /** The image library, for picking library images into a label. */
  images: ImagesService;
  uploadLimits: UploadLimits;
  /** DATASET_IMPORT_MAX_MB, for the import form's multipart parser. */
  maxArchiveBytes: number;
}

/**
 * The datasets' pages. `archiveUpload` handles the zip import's POST and must be mounted BEFORE the app's
 * webMultipart: an archive is far larger than the image limit that parser enforces. It parses the body itself
 * (signed-in users only), then checks the CSRF token. `pages` is everything else, mounted with the other pages.
 */
export function createDatasetsWebRouters({ datasets, images, uploadLimits, maxArchiveBytes }: DatasetsWebDeps): { archiveUpload: Router; pages: Router } {
  const pages = Router();
  pages.use('/datasets', requireLogin);
  const limits = pageUploadLimits(uploadLimits.maxFileBytes, uploadLimits.maxFiles);
  // First: its fixed paths (/datasets/add-images) must not be taken for a dataset id by /datasets/:id below.
  pages.use(createDatasetImagesWebRouter({ datasets, images, limits }));

  pages.get('/datasets', (req, res) => {
    const list = datasets.list(req.user!.id, pageOf(req.query.page), PER_PAGE_DEFAULT);
    res.render('datasets/index', { title: 'Datasets', ...list, format });
  });

  const renderNew = (res: Response, status = 200, values: Record<string, unknown> = {}, errors: Record<string, string> = {}) =>
    res.status(status).render('datasets/new', { title: 'New dataset', values, errors });

  pages.get('/datasets/new', (_req, res) => renderNew(res));

  pages.post('/datasets', (req, res) => {
    const values = { name: field(req, 'name'), description: field(req, 'description'), labels: field(req, 'labels') };
    try {
      const dataset = datasets.create(req.user!.id, { ...values, labels: labelsFromText(values.labels) });
      req.flash('success', `Created ${dataset.name}${dataset.labels.length ? ` with ${dataset.labels.length} label${dataset.labels.length === 1 ? '' : 's'}` : ''}.`);
      res.redirect(`/datasets/${dataset.id}`);
    } catch (err) {
      const errors = formErrors(err);
      if (!errors) throw err;
      renderNew(res, (err as AppError).status, values, errors);
    }
  });

  const renderImport = (req: Request, res: Response, status = 200, values: Record<string, unknown> = {}, errors: Record<string, string> = {}) =>
    res.status(status).render('datasets/import', {
      title: 'Import a zip',
      choices: datasets.choices(req.user!.id),
      values,
      errors,
      maxArchiveText: formatBytes(maxArchiveBytes),
      scripts: ['/js/dataset-import.js'],
    });

  pages.get('/datasets/import', (req, res) => renderImport(req, res, 200, { dataset_id: String(req.query.dataset ?? '') }));

  function renderDataset(req: Request, res: Response, id: number, status = 200, state: Record<string, unknown> = {}) {
    const dataset = datasets.get(req.user!.id, id);
    res.status(status).render('datasets/show', {
      title: dataset.name,
      dataset,
      format,
      errors: { label: {}, export: {} },
      exportValues: { train: DEFAULT_SPLIT[0], val: DEFAULT_SPLIT[1], test: DEFAULT_SPLIT[2], seed: 1, format: 'original', max_side: '' },
      ...state,
    });
  }

  pages.get('/datasets/:id', (req, res) => renderDataset(req, res, idParam(req.params.id)));

  pages.post('/datasets/:id/labels', (req, res) => {
    const id = idParam(req.params.id);
    try {
      const label = datasets.addLabel(req.user!.id, id, field(req, 'name'));
      req.flash('success', `Added the label ${label.name}.`);
      res.redirect(`/datasets/${id}`);
    } catch (err) {
      const errors = formErrors(err);
      if (!errors) throw err;
      renderDataset(req, res, id, (err as AppError).status, { errors: { label: errors, export: {} }, labelName: field(req, 'name') });
    }
  });

  pages.get('/datasets/:id/export', async (req, res) => {
    const id = idParam(req.params.id);
    const query = req.query as Record<string, string | undefined>;
    // The page's form sends a checkbox and three numbers; the API's `split=80,10,10` works here too.
    const split = query.split === 'on' ? `${query.train ?? ''},${query.val ?? ''},${query.test ?? ''}` : query.split || undefined;
    const parsed = exportQuerySchema.safeParse({ ...query, split });
    if (!parsed.success) {
      const errors = Object.fromEntries(parsed.error.issues.map((issue) => [String(issue.path[0] ?? 'form'), issue.message]));
      return renderDataset(req, res, id, 422, { errors: { label: {}, export: errors }, exportValues: { ...query, split: query.split === 'on' } });
    }
    const { fileName, stream } = datasets.exportZip(req.user!.id, id, parsed.data);
    await sendZip(res, fileName, stream);
  });

  const renderEdit = (req: Request, res: Response, id: number, status = 200, values?: Record<string, unknown>, errors: Record<string, string> = {}) => {
    const dataset = datasets.get(req.user!.id, id);
    res.status(status).render('datasets/edit', { title: `Edit ${dataset.name}`, dataset, values: values ?? dataset, errors });
  };

  pages.get('/datasets/:id/edit', (req, res) => renderEdit(req, res, idParam(req.params.id)));

  pages.post('/datasets/:id/edit', (req, res) => {
    const id = idParam(req.params.id);
    const values = { name: field(req, 'name'), description: field(req, 'description') };
    try {
      datasets.update(req.user!.id, id, values);
      req.flash('success', 'The dataset has been saved.');
      res.redirect(`/datasets/${id}`);
    } catch (err) {
      const errors = formErrors(err);
      if (!errors) throw err;
      renderEdit(req, res, id, (err as AppError).status, values, errors);
    }
  });

  pages.get('/datasets/:id/delete', (req, res) => {
    const dataset = datasets.get(req.user!.id, idParam(req.params.id));
    res.render('datasets/delete', { title: `Delete ${dataset.name}?`, dataset, format });
  });

  pages.post('/datasets/:id/delete', async (req, res) => {
    const id = idParam(req.params.id);
    const { name } = datasets.summary(req.user!.id, id);
    await datasets.remove(req.user!.id, id);
    req.flash('success', `The dataset ${name} has been deleted.`);
    res.redirect('/datasets');
  });

  pages.get('/datasets/:id/imports/:importId', (req, res) => {
    const dataset = datasets.get(req.user!.id, idParam(req.params.id));
    const record = datasets.importReport(req.user!.id, dataset.id, idParam(req.params.importId, 'import'));
    res.render('datasets/import-report', { title: `Import of ${record.archiveName}`, dataset, record, report: JSON.parse(record.report) as ImportReport, format });
  });

  const archiveUpload = Router();
  const parseArchive = multipartParser({ ...uploadLimits, maxFileBytes: maxArchiveBytes, maxFiles: 1 });
  const signedInMultipart: RequestHandler = (req, res, next) => {
    if (!req.is('multipart/form-data')) return next();
    parseArchive(req, res, next);
  };

  archiveUpload.post('/datasets/import', requireLogin, signedInMultipart, verifyCsrf, async (req, res) => {
    const values = { dataset_id: field(req, 'dataset_id'), name: field(req, 'name') };
    const archive = ((req.files ?? []) as Express.Multer.File[]).find((file) => file.fieldname === 'archive');
    try {
      if (!archive) throw new ValidationError('Choose a zip file to import.', { archive: 'Choose a zip file to import.' });
      const datasetId = values.dataset_id ? idParam(values.dataset_id) : null;
      const name = datasetId || !values.name ? null : datasets.parseName(values.name);
      const result = await datasets.importArchive(req.user!.id, { archivePath: archive.path, archiveName: archive.originalname, datasetId, name });
      const { imported, skipped } = result.report;
      req.flash('success', `Imported ${imported.length} image${imported.length === 1 ? '' : 's'} into ${result.dataset.name}; ${skipped.length} skipped.`);
      res.redirect(`/datasets/${result.dataset.id}/imports/${result.importId}`);
    } catch (err) {
      if (!(err instanceof AppError) || err.status >= 500 || err.status === 404) throw err;
      renderImport(req, res, err.status, values, formErrors(err) ?? { archive: err.message });
    }
  });

  return { archiveUpload, pages };
}
