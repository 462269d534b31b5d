import { readFile } from 'node:fs/promises';
import type { RequestHandler } from 'express';
import { ForbiddenError, ValidationError } from '../../http/errors.js';
import { ApiErrorSchema, apiRoute, z, type ApiRoutes } from '../../http/openapi.js';
import type { ModelVersion } from './versions.repo.js';
import { parseModelName, type ModelOverview, type ModelVersionsService } from './versions.service.js';
import { auditModelAction } from './versions.web.js';

const ModelVersionSchema = z
  .object({
    model: z.enum(['digits', 'signatures']),
    version: z.string().openapi({ example: '1.0.1' }),
    source: z.enum(['shipped', 'trained', 'uploaded']),
    active: z.boolean(),
    sha256: z.string(),
    bytes: z.number().int(),
    created_at: z.string(),
    created_by: z.string().nullable().openapi({ description: 'The username that trained or uploaded it; null for shipped versions.' }),
    card: z.record(z.string(), z.unknown()).openapi({ description: 'The model card (metrics, training data, licence, parameters).' }),
  })
  .openapi('ModelVersion');

const ModelSchema = z
  .object({
    model: z.enum(['digits', 'signatures']),
    active_version: z.string(),
    previous_version: z.string().nullable().openapi({ description: 'What POST .../rollback returns to.' }),
    last_error: z.string().nullable().openapi({ description: 'Why the last activation failed, until one succeeds.' }),
    versions: z.array(ModelVersionSchema),
  })
  .openapi('Model');

const toVersionJson = (version: ModelVersion, activeVersion: string): z.infer<typeof ModelVersionSchema> => ({
  model: version.model,
  version: version.version,
  source: version.source,
  active: version.version === activeVersion,
  sha256: version.sha256,
  bytes: version.bytes,
  created_at: version.createdAt,
  created_by: version.createdByName,
  card: version.card,
});

const toModelJson = (overview: ModelOverview): z.infer<typeof ModelSchema> => ({
  model: overview.model,
  active_version: overview.activeVersion,
  previous_version: overview.previousVersion,
  last_error: overview.lastError,
  versions: overview.versions.map((version) => toVersionJson(version, overview.activeVersion)),
});

const modelParams = z.object({ model: z.string() });
const versionParams = z.object({ model: z.string(), version: z.string() });
const forbidden = { description: 'Not an administrator.', schema: ApiErrorSchema };
const notFound = { description: 'No such model or version.', schema: ApiErrorSchema };

/**
 * Model versions for administrators. The role is checked right after the token, before anything else: an upload's
 * body is not even received from a non-administrator.
 */
export function declareModelVersionsApi(api: ApiRoutes, { versions, maxUploadBytes }: { versions: ModelVersionsService; maxUploadBytes: number }): void {
  const requireApiAdmin: RequestHandler = (req, _res, next) => {
    if (req.user?.role !== 'admin') throw new ForbiddenError('Model versions are for administrators.');
    next();
  };
  const adminFirst = [api.requireApiUser, requireApiAdmin];

  apiRoute(
    api,
    {
      method: 'get',
      path: '/v1/models',
      auth: true,
      before: adminFirst,
      tags: ['Models'],
      summary: 'Each model, its active version and its versions',
      responses: { 200: { description: 'Digits and signatures', schema: z.array(ModelSchema) }, 403: forbidden },
    },
    () => versions.list().map(toModelJson),
  );

  apiRoute(
    api,
    {
      method: 'post',
      path: '/v1/models/:model/versions',
      auth: true,
      before: adminFirst,
      tags: ['Models'],
      summary: 'Upload a version (ONNX file and model card)',
      description:
        'Multipart fields `onnx` (the .onnx file, at most MODEL_UPLOAD_MAX_MB) and `card` (the model card, JSON, as a file or a text field). ' +
        'Checked before it is accepted; a refusal names the check: 422 with error.code card_incomplete, shapes_mismatch, sha256_mismatch or ' +
        'inference_failed; 409 version_exists. A card without file.sha256 gets the file\'s. The new version is not active.',
      params: modelParams,
      body: z.object({ card: z.string().optional() }),
      multipart: { files: { onnx: 'The ONNX model', card: 'The model card (JSON)' }, maxFiles: 2, maxFileBytes: maxUploadBytes },
      responses: {
        201: { description: 'Accepted (not active yet)', schema: ModelVersionSchema },
        403: forbidden,
        404: notFound,
        409: { description: 'The version exists already (version_exists).', schema: ApiErrorSchema },
        413: { description: 'The ONNX file is larger than MODEL_UPLOAD_MAX_MB.', schema: ApiErrorSchema },
      },
    },
    async ({ params, body, req, user }) => {
      const model = parseModelName(params.model);
      const files = (req.files ?? []) as Express.Multer.File[];
      const onnx = files.find((file) => file.fieldname === 'onnx');
      const cardFile = files.find((file) => file.fieldname === 'card');
      const card = cardFile ? (cardFile.buffer?.toString('utf8') ?? (await readFile(cardFile.path, 'utf8'))) : body.card;
      if (!onnx || card === undefined) {
        const fields: Record<string, string> = {};
        if (!onnx) fields.onnx = 'Send the .onnx file.';
        if (card === undefined) fields.card = 'Send the model card.';
        throw new ValidationError('Send both the onnx file and the card.', fields);
      }
      const created = await versions.registerVersion({ model, onnxPath: onnx.path, card, source: 'uploaded', createdBy: user.id });
      auditModelAction(req, 'upload', `${model} ${created.version}`);
      return toVersionJson(created, versions.activeVersion(model));
    },
  );

  apiRoute(
    api,
    {
      method: 'post',
      path: '/v1/models/:model/versions/:version/activate',
      auth: true,
      before: adminFirst,
      tags: ['Models'],
      summary: 'Activate a version without a restart',
      description:
        'Loads the version in every inference worker (sha256 checked, warmed up) while the active one keeps answering, then switches; ' +
        'requests under way finish on the version they started with. On failure (409 activation_failed) the active version stays and the message says why.',
      params: versionParams,
      responses: { 200: { description: 'The model, with the new active version', schema: ModelSchema }, 403: forbidden, 404: notFound, 409: { description: 'Loading failed.', schema: ApiErrorSchema } },
    },
    async ({ params, user, req }) => {
      const model = parseModelName(params.model);
      const { changed } = await versions.activate(user.id, model, params.version);
      if (changed) auditModelAction(req, 'activate', `${model} ${params.version}`);
      return toModelJson(versions.overview(model));
    },
  );

  apiRoute(
    api,
    {
      method: 'post',
      path: '/v1/models/:model/rollback',
      auth: true,
      before: adminFirst,
      tags: ['Models'],
      summary: 'Activate the version that was active before the last activation',
      params: modelParams,
      responses: { 200: { description: 'The model, rolled back', schema: ModelSchema }, 403: forbidden, 404: notFound, 422: { description: 'Nothing to roll back to.', schema: ApiErrorSchema } },
    },
    async ({ params, user, req }) => {
      const model = parseModelName(params.model);
      const { version } = await versions.rollback(user.id, model);
      auditModelAction(req, 'rollback', `${model} ${version.version}`);
      return toModelJson(versions.overview(model));
    },
  );

  apiRoute(
    api,
    {
      method: 'delete',
      path: '/v1/models/:model/versions/:version',
      auth: true,
      before: adminFirst,
      tags: ['Models'],
      summary: 'Delete a trained or uploaded version and its files',
      description: 'Not the active version, and not a shipped one (422).',
      params: versionParams,
      responses: { 204: { description: 'Deleted' }, 403: forbidden, 404: notFound },
    },
    async ({ params, req }) => {
      const model = parseModelName(params.model);
      await versions.remove(model, params.version);
      auditModelAction(req, 'delete', `${model} ${params.version}`);
    },
  );
}
