import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Router, type Request } from 'express';
import { requireAdmin } from '../../http/auth.js';
import { ConflictError, NotFoundError, ServiceUnavailableError, ValidationError } from '../../http/errors.js';
import type { DatasetsService } from '../datasets/index.js';
import type { EvaluationService, ModelName, VersionCatalogue } from './evaluation.service.js';
import { toJobJson } from './jobs.api.js';
import type { JobsRepo } from './jobs.repo.js';
import type { TrainingService } from './training.service.js';

export interface ModelJobsWebDeps {
  repo: JobsRepo;
  evaluations: EvaluationService;
  training: TrainingService;
  catalogue: VersionCatalogue;
  /** The admin's datasets with their labels (to offer those labelled 0-9). */
  datasetChoices: DatasetsService['choices'];
}

const field = (req: Request, name: string): string => {
  const value = (req.body as Record<string, unknown> | undefined)?.[name];
  return typeof value === 'string' ? value.trim() : '';
};
const positiveId = (value: unknown): number => {
  const id = Number(value);
  if (!Number.isSafeInteger(id) || id < 1) throw new NotFoundError();
  return id;
};
const scripts = ['/js/model-jobs.js', '/js/admin-confirm.js'];

/**
 * Evaluation and training pages, mounted at /admin/models (before the versions pages, whose `/:model` would take
 * "training"). Every route requires an administrator.
 */
export function createModelJobsWebRouter({ repo, evaluations, training, catalogue, datasetChoices }: ModelJobsWebDeps): Router {
  const router = Router();

  const digitDatasets = (userId: number) =>
    datasetChoices(userId)
      .filter((d) => d.labels.length > 0 && d.labels.every((l) => /^[0-9]$/.test(l.name)))
      .map((d) => ({ id: d.id, name: d.name, images: d.labels.reduce((sum, l) => sum + l.imageCount, 0) }));

  /** Polled by public/js/model-jobs.js while a job is queued or running. */
  router.get('/jobs/:id/status', requireAdmin, async (req, res) => {
    const job = repo.find(positiveId(req.params.id));
    if (!job) throw new NotFoundError('We could not find that job.');
    res.set('Cache-Control', 'no-store');
    res.json({ ...toJobJson(job), log_tail: job.kind === 'training' ? await training.logTail(job) : '' });
  });

  // Training (digits only).
  const renderTraining = async (req: Request, res: import('express').Response, status = 200, errors: Record<string, string> = {}, values: Record<string, string> = {}) => {
    const availability = await training.checkAvailability();
    res.status(status).render('models/training', {
      title: 'Training the digit model',
      section: 'models',
      availability,
      errors,
      values,
      datasets: digitDatasets(req.user!.id),
      consenting: training.consentingCorrections(),
      active: repo.active('digits') ?? null,
      jobs: training.list(),
      activeVersion: catalogue.activeVersion('digits'),
      scripts,
    });
  };

  router.get('/training', requireAdmin, async (req, res) => {
    await renderTraining(req, res);
  });

  router.post('/training', requireAdmin, async (req, res) => {
    const values = { epochs: field(req, 'epochs'), learning_rate: field(req, 'learning_rate'), corrections: field(req, 'corrections'), since: field(req, 'since'), dataset_id: field(req, 'dataset_id'), mnist_limit: field(req, 'mnist_limit'), augment: field(req, 'augment') };
    const settings = {
      epochs: values.epochs || undefined,
      learning_rate: values.learning_rate || undefined,
      augment: values.augment === 'on',
      corrections: values.corrections || undefined,
      since: values.since || undefined,
      dataset_id: values.dataset_id || undefined,
      mnist_limit: values.mnist_limit || undefined,
    };
    try {
      const job = await training.start(req.user!.id, settings);
      req.flash('success', `Training job ${job.id} started. It is not activated when it finishes: you choose.`);
      res.redirect(`/admin/models/training/${job.id}`);
    } catch (error) {
      if (error instanceof ValidationError) return renderTraining(req, res, 422, { ...error.fields, form: error.message }, values);
      if (error instanceof ConflictError || error instanceof ServiceUnavailableError) return renderTraining(req, res, error.status, { form: error.message }, values);
      throw error;
    }
  });

  router.get('/training/:id', requireAdmin, async (req, res) => {
    const job = training.get(positiveId(req.params.id));
    const activeDir = catalogue.dirOf('digits', catalogue.activeVersion('digits'));
    const activeCard = activeDir ? await readFile(path.join(activeDir, 'digits.json'), 'utf8').then((text) => JSON.parse(text) as { evaluation?: { mnist_test?: { accuracy?: number } } }, () => null) : null;
    res.render('models/training-job', {
      activeMnist: activeCard?.evaluation?.mnist_test?.accuracy ?? null,
      title: `Training job ${job.id}`,
      section: 'models',
      job,
      log: await training.log(job),
      activeVersion: catalogue.activeVersion('digits'),
      activeEvaluations: evaluations.ofVersion('digits', catalogue.activeVersion('digits')),
      scripts,
    });
  });

  router.post('/training/:id/cancel', requireAdmin, (req, res) => {
    const job = training.cancel(positiveId(req.params.id));
    req.flash('success', job.status === 'cancelled' ? `Training job ${job.id} was cancelled.` : `Training job ${job.id} had already ended.`);
    res.redirect(`/admin/models/training/${job.id}`);
  });

  // Evaluations.
  const renderEvaluations = (req: Request, res: import('express').Response, model: ModelName, status = 200, errors: Record<string, string> = {}, values: Record<string, string> = {}) => {
    res.status(status).render('models/evaluations', {
      title: `Evaluating the ${model} model`,
      section: 'models',
      model,
      versions: catalogue.versions(model),
      activeVersion: catalogue.activeVersion(model),
      datasets: model === 'digits' ? digitDatasets(req.user!.id) : [],
      jobs: evaluations.list(model),
      active: repo.active(model) ?? null,
      errors,
      values,
      scripts,
    });
  };

  router.get('/:model/evaluations', requireAdmin, (req, res) => {
    renderEvaluations(req, res, evaluations.parseModel(String(req.params.model)));
  });

  router.post('/:model/evaluations', requireAdmin, (req, res) => {
    const model = evaluations.parseModel(String(req.params.model));
    const values = { version: field(req, 'version'), dataset_id: field(req, 'dataset_id') };
    try {
      const job = evaluations.start(req.user!.id, model, { version: values.version, datasetId: Number(values.dataset_id) || null });
      res.redirect(`/admin/models/${model}/evaluations/${job.id}`);
    } catch (error) {
      if (error instanceof ValidationError) return renderEvaluations(req, res, model, 422, { ...error.fields, form: error.message }, values);
      if (error instanceof ConflictError) return renderEvaluations(req, res, model, 409, { form: error.message }, values);
      throw error;
    }
  });

  router.get('/:model/evaluations/compare', requireAdmin, (req, res) => {
    const model = evaluations.parseModel(String(req.params.model));
    try {
      const comparison = evaluations.compare(model, positiveId(String(req.query.a)), positiveId(String(req.query.b)));
      res.render('models/evaluation-compare', { title: `Comparing two ${model} evaluations`, section: 'models', model, ...comparison });
    } catch (error) {
      if (error instanceof ValidationError) return renderEvaluations(req, res, model, 422, { compare: error.message });
      throw error;
    }
  });

  router.get('/:model/evaluations/:id', requireAdmin, (req, res) => {
    const model = evaluations.parseModel(String(req.params.model));
    const job = evaluations.get(model, positiveId(req.params.id));
    res.render('models/evaluation', { title: `Evaluation ${job.id} of ${model} ${job.version ?? ''}`, section: 'models', model, job, scripts });
  });

  return router;
}
