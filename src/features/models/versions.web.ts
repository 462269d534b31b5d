import { readFile } from 'node:fs/promises';
import { Router, type Request, type RequestHandler, type Response } from 'express';
import { requireAdmin } from '../../http/auth.js';
import { verifyCsrf } from '../../http/csrf.js';
import { AppError, ValidationError } from '../../http/errors.js';
import { noteSecurityEvent } from '../../http/security-events.js';
import { multipartParser, type UploadLimits } from '../../http/uploads.js';
import { formatBytes } from '../../lib/format.js';
import type { Job } from './jobs.repo.js';
import type { ModelName } from './versions.repo.js';
import { parseModelName, type ModelVersionsService } from './versions.service.js';
import { cardFacts, cardJson, cardLicence, cardMetrics, cardTrainingData, evaluationSummary, metricText } from './versions.format.js';

export interface ModelsWebDeps {
  versions: ModelVersionsService;
  uploadLimits: UploadLimits;
  /** MODEL_UPLOAD_MAX_MB: the largest .onnx file an upload may send. */
  maxUploadBytes: number;
  /** The newest succeeded evaluation of each version (the evaluation jobs of this feature), shown beside it. */
  latestEvaluations: (model: ModelName) => Map<string, Job>;
}

/** Records an administrator's change to the models in the security events (Admin → Security, "Admin action"). */
export function auditModelAction(req: Request, action: 'activate' | 'rollback' | 'delete' | 'upload', detail: string): void {
  noteSecurityEvent(req, { kind: 'admin_action', action: `model.${action}`, detail });
}

const MODEL_LABELS: Record<ModelName, string> = { digits: 'Digit recognition', signatures: 'Signature verification' };

/** What the versions page needs besides the service's overview. */
const pageHelpers = { cardFacts, cardJson, cardLicence, cardMetrics, cardTrainingData, evaluationSummary, metricText, formatBytes, modelLabels: MODEL_LABELS };

/**
 * /admin/models: versions, activation, roll back, delete and upload. `upload` handles the upload's POST and must
 * be mounted BEFORE the app's webMultipart (an ONNX file is far larger than the image limit that parser enforces):
 * it lets only administrators send a body at all, parses it with MODEL_UPLOAD_MAX_MB, then checks the CSRF token.
 * `pages` is the rest, mounted at the root with the other pages.
 */
export function createModelsWebRouters({ versions, uploadLimits, maxUploadBytes, latestEvaluations }: ModelsWebDeps): { upload: Router; pages: Router } {
  const pages = Router();

  const render = (res: Response, status = 200, upload: { model?: ModelName; errors?: Record<string, string> } = {}) =>
    res.status(status).render('models/versions', {
      title: 'Models',
      section: 'models',
      models: versions.list().map((overview) => ({ ...overview, evaluations: latestEvaluations(overview.model) })),
      available: versions.available(),
      maxUploadText: formatBytes(maxUploadBytes),
      upload,
      ...pageHelpers,
    });

  pages.get('/admin/models', requireAdmin, (_req, res) => render(res));

  /** Post/redirect/get: success and refusals as flashes (an activation failure keeps its reason on the page too). */
  const act = (change: (req: Request, model: ModelName) => Promise<string>): RequestHandler => async (req, res) => {
    const model = parseModelName(String(req.params.model));
    try {
      req.flash('success', await change(req, model));
    } catch (err) {
      if (!(err instanceof AppError) || err.status >= 500 || err.status === 404) throw err;
      req.flash('error', err.message);
    }
    res.redirect(`/admin/models#model-${model}`);
  };

  pages.post(
    '/admin/models/:model/versions/:version/activate',
    requireAdmin,
    act(async (req, model) => {
      const version = String(req.params.version);
      const { changed } = await versions.activate(req.user!.id, model, version);
      if (changed) auditModelAction(req, 'activate', `${model} ${version}`);
      return changed ? `Version ${version} of the ${model} model is active. Requests already under way finished on the previous version.` : `Version ${version} was already active.`;
    }),
  );

  pages.post(
    '/admin/models/:model/rollback',
    requireAdmin,
    act(async (req, model) => {
      const { version } = await versions.rollback(req.user!.id, model);
      auditModelAction(req, 'rollback', `${model} ${version.version}`);
      return `Rolled the ${model} model back to version ${version.version}.`;
    }),
  );

  pages.get('/admin/models/:model/versions/:version/delete', requireAdmin, (req, res) => {
    const model = parseModelName(String(req.params.model));
    const version = versions.get(model, String(req.params.version));
    const active = versions.activeVersion(model) === version.version;
    res.render('models/version-delete', { title: `Delete ${model} ${version.version}?`, section: 'models', model, version, active, formatBytes });
  });

  pages.post(
    '/admin/models/:model/versions/:version/delete',
    requireAdmin,
    act(async (req, model) => {
      const removed = await versions.remove(model, String(req.params.version));
      auditModelAction(req, 'delete', `${model} ${removed.version}`);
      return `Deleted version ${removed.version} of the ${model} model and its files.`;
    }),
  );

  const upload = Router();
  const parse = multipartParser({ ...uploadLimits, maxFileBytes: maxUploadBytes, maxFiles: 2 });
  const adminMultipart: RequestHandler = (req, res, next) => {
    if (!req.is('multipart/form-data')) return next();
    parse(req, res, next);
  };
  upload.post('/admin/models/:model/versions', requireAdmin, adminMultipart, verifyCsrf, async (req, res) => {
    const model = parseModelName(String(req.params.model));
    const files = (req.files ?? []) as Express.Multer.File[];
    const onnx = files.find((file) => file.fieldname === 'onnx');
    const card = files.find((file) => file.fieldname === 'card');
    try {
      const errors: Record<string, string> = {};
      if (!onnx) errors.onnx = 'Choose the .onnx file.';
      if (!card) errors.card = 'Choose the model card (.json).';
      if (!onnx || !card) throw new ValidationError('Choose both files.', errors);
      const created = await versions.registerVersion({ model, onnxPath: onnx.path, card: await readText(card), source: 'uploaded', createdBy: req.user!.id });
      auditModelAction(req, 'upload', `${model} ${created.version}`);
      req.flash('success', `Version ${created.version} of the ${model} model passed every check and was added. It is not active until you activate it.`);
      res.redirect(`/admin/models#model-${model}`);
    } catch (err) {
      if (!(err instanceof AppError) || err.status >= 500 || err.status === 404) throw err;
      const errors = err instanceof ValidationError && Object.keys(err.fields).length ? err.fields : { onnx: err.message };
      render(res, err.status, { model, errors });
    }
  });

  return { upload, pages };
}

async function readText(file: Express.Multer.File): Promise<string> {
  return file.buffer ? file.buffer.toString('utf8') : readFile(file.path, 'utf8');
}
