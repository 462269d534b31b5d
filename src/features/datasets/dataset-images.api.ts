import { ApiErrorSchema, apiRoute, z, type ApiRoutes } from '../../http/openapi.js';
import { ValidationError } from '../../http/errors.js';
import { MIME_TYPES } from '../../storage/index.js';
import { sendImage } from '../images/index.js';
import { datasetParams, notFound, SkippedSchema } from './datasets.api-schemas.js';
import type { DatasetImage } from './dataset-images.repo.js';
import { idSchema, imageIdsSchema, pageQuerySchema } from './datasets.schemas.js';
import type { DatasetsService } from './datasets.service.js';

const DatasetImageRefSchema = z
  .object({
    id: z.number().int().openapi({ example: 812 }),
    label_id: z.number().int().openapi({ example: 7 }),
    name: z.string().openapi({ example: 'IMG_0042.jpg' }),
    sha256: z.string().openapi({ description: 'Of the stored bytes (metadata removed).' }),
  })
  .openapi('DatasetImageRef');

const DatasetImageSchema = DatasetImageRefSchema.extend({
  type: z.enum(Object.values(MIME_TYPES) as [string, ...string[]]),
  width: z.number().int(),
  height: z.number().int(),
  bytes: z.number().int(),
  created_at: z.string(),
}).openapi('DatasetImage');

const toRefJson = (image: DatasetImage) => ({ id: image.id, label_id: image.labelId, name: image.name, sha256: image.sha256 });
const toImageJson = (image: DatasetImage) => ({
  ...toRefJson(image),
  type: MIME_TYPES[image.type],
  width: image.width,
  height: image.height,
  bytes: image.bytes,
  created_at: image.createdAt,
});

const imageParams = datasetParams.extend({ image_id: idSchema.openapi({ example: 812 }) });
const labelRef = z.union([z.string().min(1), z.number().int()], { error: 'Give the label\'s id or name.' }).openapi({
  description: 'The label\'s name or id (a name is matched first, so a label named "3" wins over the label with id 3).',
  example: 'cat',
});

/** The images of a dataset: upload into a label, list, file, move, delete. */
export function declareDatasetImagesApi(api: ApiRoutes, { datasets }: { datasets: DatasetsService }): void {
  const tags = ['Datasets'];

  apiRoute(
    api,
    {
      method: 'post',
      path: '/v1/datasets/:id/images',
      auth: true,
      tags,
      summary: 'Upload images into a label',
      description:
        'Each file is checked like a library upload. Refused files and exact duplicates (the same bytes as an image of the dataset) are listed in ' +
        '`skipped` with a code and a message naming the existing image; the others are stored. Over the storage quota nothing is stored (413).',
      params: datasetParams,
      multipart: { files: { images: 'One or more image files (PNG, JPEG, WebP, GIF), up to UPLOAD_MAX_FILES.' } },
      body: z.object({ label: labelRef }),
      responses: {
        201: { description: 'What was stored and what was skipped', schema: z.object({ items: z.array(DatasetImageRefSchema), skipped: z.array(SkippedSchema) }) },
        404: notFound,
        413: { description: 'A file over UPLOAD_MAX_FILE_MB, too many files, or over the storage quota.', schema: ApiErrorSchema },
      },
    },
    async ({ params, body, req, user }) => {
      const files = (req.files ?? []) as Express.Multer.File[];
      const wrongField = files.find((file) => file.fieldname !== 'images');
      if (wrongField) throw new ValidationError('Send the files in the multipart field "images".', { [wrongField.fieldname]: 'Unknown field: use "images".' });
      const { items, skipped } = await datasets.upload(user.id, params.id, body.label, files, 'api');
      return { items: items.map(toRefJson), skipped };
    },
  );

  apiRoute(
    api,
    {
      method: 'get',
      path: '/v1/datasets/:id/images',
      auth: true,
      tags,
      summary: 'The images of a dataset or of one label, newest first',
      params: datasetParams,
      query: pageQuerySchema.extend({ label: labelRef.optional() }),
      responses: { 200: { description: 'One page of images and the total', schema: z.object({ items: z.array(DatasetImageSchema), total: z.number().int() }) }, 404: notFound },
    },
    ({ params, query, user }) => {
      const labelId = query.label === undefined ? null : datasets.resolveLabel(datasets.summary(user.id, params.id).id, query.label).id;
      const { items, total } = datasets.listImages(user.id, params.id, labelId, query.page, query.per_page);
      return { items: items.map(toImageJson), total };
    },
  );

  for (const [suffix, variant, summary] of [
    ['file', 'original', 'The image file, with its sniffed Content-Type'],
    ['thumbnail', 'thumbnail', 'The thumbnail: WebP, longer side 320 px'],
  ] as const) {
    apiRoute(
      api,
      {
        method: 'get',
        path: `/v1/datasets/:id/images/:image_id/${suffix}`,
        auth: true,
        tags,
        summary,
        params: imageParams,
        responses: { 200: { description: 'The image bytes' }, 304: { description: 'Not modified' }, 404: notFound },
      },
      ({ params, user, req, res }) => sendImage(req, res, datasets.openImage(user.id, params.id, params.image_id, variant)),
    );
  }

  apiRoute(
    api,
    {
      method: 'delete',
      path: '/v1/datasets/:id/images/:image_id',
      auth: true,
      tags,
      summary: 'Delete an image from the dataset',
      params: imageParams,
      responses: { 204: { description: 'Deleted' }, 404: notFound },
    },
    async ({ params, user }) => {
      await datasets.removeImages(user.id, params.id, [params.image_id]);
    },
  );

  apiRoute(
    api,
    {
      method: 'post',
      path: '/v1/datasets/:id/images/move',
      auth: true,
      tags,
      summary: 'Move images to another label',
      params: datasetParams,
      body: z.object({ image_ids: imageIdsSchema.openapi({ type: 'array', items: { type: 'integer' }, example: [812, 813] }), label: labelRef }).openapi('DatasetImagesMove'),
      responses: { 200: { description: 'The moved images', schema: z.object({ items: z.array(DatasetImageSchema) }) }, 404: notFound },
    },
    ({ params, body, user }) => ({ items: datasets.moveImages(user.id, params.id, body.image_ids, body.label).map(toImageJson) }),
  );
}
