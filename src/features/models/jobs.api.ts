import type { RequestHandler } from 'express';
import { ForbiddenError } from '../../http/errors.js';
import { ApiErrorSchema, apiRoute, z, type ApiRoutes } from '../../http/openapi.js';
import type { EvaluationService } from './evaluation.service.js';
import type { Job } from './jobs.repo.js';
import { trainingSettingsSchema, type TrainingService } from './training.service.js';

const JobSchema = z
  .object({
    id: z.number().int(),
    kind: z.enum(['evaluation', 'training']),
    model: z.string(),
    version: z.string().nullable().openapi({ description: 'Evaluation: the version evaluated. Training: the version made, once it succeeded.' }),
    dataset_id: z.number().int().nullable(),
    status: z.enum(['queued', 'running', 'succeeded', 'failed', 'cancelled']),
    settings: z.record(z.string(), z.unknown()),
    progress: z
      .record(z.string(), z.unknown())
      .openapi({ description: 'Evaluation: done, total. Training: phase (exporting, training, evaluating, registering), epoch, epochs, loss, val_accuracy, history.' }),
    result: z
      .record(z.string(), z.unknown())
      .nullable()
      .openapi({ description: 'Digits evaluation: n, accuracy, per_digit_accuracy, confusion[true][predicted], rejected. Signatures: far, frr, inconclusive (%), curve. Training: version, mnist_test_accuracy, held_out_corrections, counts.' }),
    error: z.string().nullable(),
    created_by: z.string().nullable(),
    created_at: z.string(),
    started_at: z.string().nullable(),
    finished_at: z.string().nullable(),
  })
  .openapi('ModelJob');

const TrainingJobSchema = JobSchema.extend({ log_tail: z.string().openapi({ description: 'The end of the kept log.' }) }).openapi('TrainingJob');

export const toJobJson = (job: Job) => ({
  id: job.id,
  kind: job.kind,
  model: job.model,
  version: job.version,
  dataset_id: job.datasetId,
  status: job.status,
  settings: job.settings,
  progress: job.progress,
  result: job.result,
  error: job.error,
  created_by: job.createdByName,
  created_at: job.createdAt,
  started_at: job.startedAt,
  finished_at: job.finishedAt,
});

function adminOnly(user: Express.User): Express.User {
  if (user.role !== 'admin') throw new ForbiddenError('Model management is for administrators.');
  return user;
}

/** The role is checked right after the token, before the body is validated: a non-administrator learns nothing more. */
const requireApiAdmin: RequestHandler = (req, _res, next) => {
  adminOnly(req.user!);
  next();
};

const forbidden = { description: 'Not an administrator.', schema: ApiErrorSchema };
const notFound = { description: 'No such model or job.', schema: ApiErrorSchema };
const busy = { description: 'The model already has a job queued or running.', schema: ApiErrorSchema };

/** Evaluations and training jobs (administrators only). */
export function declareModelJobsApi(api: ApiRoutes, { evaluations, training }: { evaluations: EvaluationService; training: TrainingService }): void {
  const tags = ['Models'];
  const adminFirst = [api.requireApiUser, requireApiAdmin];
  const modelParams = z.object({ model: z.enum(['digits', 'signatures']) });

  apiRoute(
    api,
    {
      method: 'post',
      path: '/v1/models/:model/evaluations',
      auth: true,
      before: adminFirst,
      tags,
      summary: 'Evaluate a version of a model (a background job)',
      description:
        'Digits: on one of your datasets whose labels are 0-9 (accuracy, per-digit accuracy, confusion matrix). Signatures: on the verifications whose true outcome was recorded (FAR, FRR, share of inconclusive decisions); no dataset. Answers 202 with the job; poll GET .../evaluations/{id}.',
      params: modelParams,
      body: z.object({ version: z.string().min(1).max(100), dataset_id: z.number().int().positive().optional() }).openapi('NewEvaluation', { example: { version: '1.0.0', dataset_id: 3 } }),
      responses: { 202: { description: 'The job, queued', schema: JobSchema }, 403: forbidden, 404: notFound, 409: busy },
    },
    ({ params, body, user }) => toJobJson(evaluations.start(adminOnly(user).id, params.model, { version: body.version, datasetId: body.dataset_id })),
  );

  apiRoute(
    api,
    {
      method: 'get',
      path: '/v1/models/:model/evaluations/:id',
      auth: true,
      before: adminFirst,
      tags,
      summary: 'An evaluation: status, progress and result',
      params: modelParams.extend({ id: z.coerce.number().int().positive() }),
      responses: { 200: { description: 'The job', schema: JobSchema }, 403: forbidden, 404: notFound },
    },
    ({ params, user }) => (adminOnly(user), toJobJson(evaluations.get(params.model, params.id))),
  );

  apiRoute(
    api,
    {
      method: 'post',
      path: '/v1/models/digits/training-jobs',
      auth: true,
      before: adminFirst,
      tags,
      summary: 'Retrain the digit model (a background job)',
      description:
        'MNIST plus the corrected digits of the accounts that allowed it (all, since a date, or none) and optionally one of your datasets with labels 0-9. Every 5th correction is held out to measure the result. The new version is registered but not activated. 503 when Python with torch is missing.',
      body: trainingSettingsSchema.openapi('TrainingSettings', { example: { epochs: 5, augment: true, learning_rate: 0.003, corrections: 'since', since: '2026-11-01' } }),
      responses: { 202: { description: 'The job, queued', schema: JobSchema }, 403: forbidden, 409: busy, 503: { description: 'Training is not available on this server.', schema: ApiErrorSchema } },
    },
    async ({ body, user }) => toJobJson(await training.start(adminOnly(user).id, body)),
  );

  const jobParams = z.object({ id: z.coerce.number().int().positive() });

  apiRoute(
    api,
    {
      method: 'get',
      path: '/v1/models/training-jobs/:id',
      auth: true,
      before: adminFirst,
      tags,
      summary: 'A training job: status, progress and the end of its log',
      params: jobParams,
      responses: { 200: { description: 'The job', schema: TrainingJobSchema }, 403: forbidden, 404: notFound },
    },
    async ({ params, user }) => {
      adminOnly(user);
      const job = training.get(params.id);
      return { ...toJobJson(job), log_tail: await training.logTail(job) };
    },
  );

  apiRoute(
    api,
    {
      method: 'delete',
      path: '/v1/models/training-jobs/:id',
      auth: true,
      before: adminFirst,
      tags,
      summary: 'Cancel a training job (its process is stopped); a finished job is left as it is',
      params: jobParams,
      responses: { 200: { description: 'The job after cancelling', schema: JobSchema }, 403: forbidden, 404: notFound },
    },
    ({ params, user }) => (adminOnly(user), toJobJson(training.cancel(params.id))),
  );
}
