import { create as contentDisposition } from 'content-disposition';
import { readFile } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import type { Request } from 'express';
import { ApiErrorSchema, apiRoute, z, type ApiRoutes } from '../../http/openapi.js';
import { ForbiddenError, ValidationError } from '../../http/errors.js';
import { sendImage } from '../images/index.js';
import { correctionSchema, dataUrlSchema, exportQuerySchema, historyQuerySchema, idSchema } from './digits.schemas.js';
import { refusalError, type DigitFile, type DigitsService } from './digits.service.js';
import { createdJson, CreatedSchema, PredictionSchema, probabilities, toPredictionJson } from './prediction-json.js';
import { StatsSchema, toStatsJson } from './stats-json.js';

const BatchItemSchema = z.object({
  file: z.string().openapi({ description: 'The file name as sent.' }),
  id: z.number().int().optional(),
  digit: z.number().int().optional(),
  confidence: z.number().optional(),
  probabilities: probabilities.optional(),
  error: z.object({ code: z.enum(['no_ink', 'unsupported_type', 'undecodable', 'too_many_pixels']), message: z.string() }).optional(),
});

const idParams = z.object({ id: idSchema.openapi({ example: 1207 }) });
const notFound = { description: "No such prediction among yours (another user's id looks the same).", schema: ApiErrorSchema };
const refused = {
  description: 'The image was refused; error.code is no_ink (blank), unsupported_type, undecodable or too_many_pixels.',
  schema: ApiErrorSchema,
};
const unavailable = { description: 'The digit model is not loaded.', schema: ApiErrorSchema };

const uploadedFiles = (req: Request) => (req.files ?? []) as Express.Multer.File[];
/** Drawings are a few KB: the prediction routes receive files up to this size in memory, bigger ones to disk. */
const IN_MEMORY_BYTES = 256 * 1024;
const bytesOf = (file: Express.Multer.File) => (file.buffer ? Promise.resolve(file.buffer) : readFile(file.path));

/** The one image of a prediction request: the multipart field `image`, or a data URL in JSON. */
async function singleImage(req: Request, dataUrl: Buffer | undefined): Promise<DigitFile> {
  const files = uploadedFiles(req);
  if (files.length === 0) {
    if (dataUrl) return { name: null, bytes: dataUrl };
    throw new ValidationError('Send an image: the multipart field "image", or JSON {"image": "data:image/png;base64,..."}.', { image: 'Send an image.' });
  }
  const wrong = files.find((file) => file.fieldname !== 'image');
  if (wrong) throw new ValidationError('Send the file in the multipart field "image".', { [wrong.fieldname]: 'Unknown field: use "image".' });
  if (files.length > 1) throw new ValidationError('Send one image here; several go to POST /api/v1/digits/predictions/batch.', { image: 'One image only.' });
  return { name: files[0]!.originalname || null, bytes: await bytesOf(files[0]!) };
}

/** Digit recognition's JSON API. The export and batch paths are declared before /:id, which would otherwise take them. */
export function declareDigitsApi(api: ApiRoutes, { digits, batchMaxFiles }: { digits: DigitsService; batchMaxFiles: number }): void {
  apiRoute(
    api,
    {
      method: 'post',
      path: '/v1/digits/predictions',
      auth: true,
      tags: ['Digits'],
      summary: 'Predict the digit in one image',
      description:
        'The image is a multipart file in the field `image`, or JSON `{"image": "data:image/png;base64,..."}` (JSON bodies up to 1 MB). ' +
        'Any polarity, size and position; the prediction is stored in your history (with the image, unless you switched keeping images off).',
      multipart: { files: { image: 'One image (PNG, JPEG, WebP or GIF).' }, orJson: true, memoryBytes: IN_MEMORY_BYTES },
      body: z.object({ image: dataUrlSchema.optional().openapi({ type: 'string', description: 'A data URL (JSON requests only).', example: 'data:image/png;base64,iVBORw0KGgo...' }) }).openapi('DigitImageJson'),
      query: z.object({ include: z.enum(['input'], { error: 'include must be input' }).optional() }),
      responses: {
        201: { description: 'The prediction', schema: CreatedSchema },
        413: { description: 'The file is over UPLOAD_MAX_FILE_MB (or the JSON body over 1 MB).', schema: ApiErrorSchema },
        422: refused,
        503: unavailable,
      },
    },
    async ({ req, body, query, user }) => {
      const [outcome] = await digits.predict(user.id, [await singleImage(req, body.image)], 'api');
      if (outcome!.error) throw refusalError(outcome!.error);
      return createdJson(outcome!, query.include === 'input');
    },
  );

  apiRoute(
    api,
    {
      method: 'post',
      path: '/v1/digits/predictions/batch',
      auth: true,
      tags: ['Digits'],
      summary: `Predict the digits in 1 to ${batchMaxFiles} images`,
      description: 'One item per file, in order. A refused file (a blank image: no_ink) gets its own `error` and does not fail the others.',
      multipart: { files: { images: `1 to ${batchMaxFiles} images (DIGITS_BATCH_MAX_FILES).` }, maxFiles: batchMaxFiles, memoryBytes: IN_MEMORY_BYTES },
      responses: {
        200: { description: 'One item per file', schema: z.object({ items: z.array(BatchItemSchema) }).openapi('DigitBatch') },
        413: { description: `A file is over UPLOAD_MAX_FILE_MB, or more than ${batchMaxFiles} files.`, schema: ApiErrorSchema },
        503: unavailable,
      },
    },
    async ({ req, user }) => {
      const files = uploadedFiles(req);
      if (files.length === 0) throw new ValidationError('Send the images in the multipart field "images".', { images: 'Send at least one image.' });
      const wrong = files.find((file) => file.fieldname !== 'images');
      if (wrong) throw new ValidationError('Send the files in the multipart field "images".', { [wrong.fieldname]: 'Unknown field: use "images".' });
      const read = await Promise.all(files.map(async (file) => ({ name: file.originalname, bytes: await bytesOf(file) })));
      const outcomes = await digits.predict(user.id, read, 'api');
      return {
        items: outcomes.map((outcome, i) => {
          const file = files[i]!.originalname;
          if (outcome.error) return { file, error: { code: outcome.error.reason, message: outcome.error.message } };
          const { id, digit, confidence, probabilities: p } = outcome.prediction;
          return { file, id, digit, confidence, probabilities: p };
        }),
      };
    },
  );

  apiRoute(
    api,
    {
      method: 'get',
      path: '/v1/digits/predictions/export',
      auth: true,
      tags: ['Digits'],
      summary: 'Your history as CSV or JSON (streamed)',
      description: 'Oldest first; the same filters as the list. CSV columns: ' + 'id, created_at, source, file_name, digit, confidence, p0-p9, model_version, label (a digit, not_a_digit, or empty), corrected_at, has_image.',
      query: exportQuerySchema,
      responses: { 200: { description: 'text/csv, or a JSON array of DigitPrediction' } },
    },
    async ({ query: { format, ...filter }, user, res }) => {
      const stream = await digits.export(user.id, filter, format);
      res.set({
        'Content-Type': format === 'csv' ? 'text/csv; charset=utf-8' : 'application/json; charset=utf-8',
        'Content-Disposition': contentDisposition(`digit-predictions.${format}`),
        'Cache-Control': 'no-store',
      });
      await pipeline(stream, res).catch((err: unknown) => res.destroy(err as Error));
    },
  );

  apiRoute(
    api,
    {
      method: 'get',
      path: '/v1/digits/predictions',
      auth: true,
      tags: ['Digits'],
      summary: 'Your predictions, newest first',
      description: 'Filters: digit (predicted), corrected (true/false), source (drawing, upload, api, library), from/to (dates, to inclusive).',
      query: historyQuerySchema,
      responses: { 200: { description: 'One page and the total', schema: z.object({ items: z.array(PredictionSchema), total: z.number().int(), page: z.number().int(), pages: z.number().int() }) } },
    },
    async ({ query: { page, per_page, ...filter }, user }) => {
      const list = await digits.list(user.id, filter, page, per_page);
      return { items: list.items.map(toPredictionJson), total: list.total, page: list.page, pages: list.pages };
    },
  );

  apiRoute(
    api,
    {
      method: 'get',
      path: '/v1/digits/predictions/:id',
      auth: true,
      tags: ['Digits'],
      summary: 'One prediction',
      params: idParams,
      responses: { 200: { description: 'The prediction', schema: PredictionSchema }, 404: notFound },
    },
    async ({ params, user }) => toPredictionJson(await digits.get(user.id, params.id)),
  );

  apiRoute(
    api,
    {
      method: 'get',
      path: '/v1/digits/predictions/:id/image',
      auth: true,
      tags: ['Digits'],
      summary: 'The image of a prediction',
      description: 'Binary body with its sniffed Content-Type; 404 when the image was not kept.',
      params: idParams,
      responses: { 200: { description: 'The image bytes' }, 304: { description: 'Not modified' }, 404: notFound },
    },
    async ({ params, user, req, res }) => sendImage(req, res, await digits.openImage(user.id, params.id, 'original')),
  );

  apiRoute(
    api,
    {
      method: 'delete',
      path: '/v1/digits/predictions/:id',
      auth: true,
      tags: ['Digits'],
      summary: 'Delete a prediction (and its image, unless something else of yours uses it)',
      params: idParams,
      responses: { 204: { description: 'Deleted' }, 404: notFound },
    },
    async ({ params, user }) => {
      await digits.remove(user.id, [params.id]);
    },
  );

  apiRoute(
    api,
    {
      method: 'put',
      path: '/v1/digits/predictions/:id/correction',
      auth: true,
      tags: ['Digits'],
      summary: 'Correct or confirm a prediction',
      description: '`label` is the true digit (equal to the prediction: a confirmation), or null for "not a digit".',
      params: idParams,
      body: correctionSchema.openapi('DigitCorrection', { example: { label: 7 } }),
      responses: { 200: { description: 'The corrected prediction', schema: PredictionSchema }, 404: notFound },
    },
    async ({ params, body, user }) => toPredictionJson(await digits.correct(user.id, params.id, body.label)),
  );

  apiRoute(
    api,
    {
      method: 'delete',
      path: '/v1/digits/predictions/:id/correction',
      auth: true,
      tags: ['Digits'],
      summary: 'Remove a correction',
      params: idParams,
      responses: { 204: { description: 'The prediction is unreviewed again' }, 404: notFound },
    },
    async ({ params, user }) => {
      await digits.removeCorrection(user.id, params.id);
    },
  );

  const SettingsSchema = z
    .object({ keep_images: z.boolean().openapi({ description: 'Keep the image of each new prediction (default true); images already kept stay.' }) })
    .openapi('DigitSettings');
  apiRoute(
    api,
    { method: 'get', path: '/v1/digits/settings', auth: true, tags: ['Digits'], summary: 'Your digit settings', responses: { 200: { description: 'The settings', schema: SettingsSchema } } },
    ({ user }) => ({ keep_images: digits.keepsImages(user.id) }),
  );
  apiRoute(
    api,
    {
      method: 'put',
      path: '/v1/digits/settings',
      auth: true,
      tags: ['Digits'],
      summary: 'Change your digit settings',
      body: SettingsSchema,
      responses: { 200: { description: 'The settings now', schema: SettingsSchema } },
    },
    ({ body, user }) => {
      digits.setKeepImages(user.id, body.keep_images);
      return { keep_images: digits.keepsImages(user.id) };
    },
  );

  apiRoute(
    api,
    {
      method: 'get',
      path: '/v1/digits/stats',
      auth: true,
      tags: ['Digits'],
      summary: 'Analytics of your predictions',
      description:
        'Accuracy on the reviewed predictions with a digit label (n and a 95% Wilson interval), the confusion matrix (rows: true label, ' +
        'columns: predicted), per-digit accuracy, a confidence histogram, the most confused pairs, predictions per day (30 days, UTC) and ' +
        'the review queue. Administrators may ask for scope=all: everyone\'s predictions, without a review queue.',
      query: z.object({ scope: z.enum(['mine', 'all'], { error: 'scope must be mine or all' }).default('mine') }),
      responses: { 200: { description: 'The analytics', schema: StatsSchema }, 403: { description: 'scope=all is for administrators.', schema: ApiErrorSchema } },
    },
    async ({ query, user }) => toStatsJson(await digits.stats(scopeOf(user, query.scope))),
  );
}

/** The user id whose predictions the analytics cover, or null for everyone's (administrators only). */
export function scopeOf(user: Express.User, scope: 'mine' | 'all'): number | null {
  if (scope === 'mine') return user.id;
  if (user.role !== 'admin') throw new ForbiddenError('Only administrators can see everyone\'s analytics.');
  return null;
}
