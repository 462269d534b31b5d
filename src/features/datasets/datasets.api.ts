import { ApiErrorSchema, apiRoute, z, type ApiRoutes } from '../../http/openapi.js';
import { ValidationError } from '../../http/errors.js';
import { declareDatasetImagesApi } from './dataset-images.api.js';
import { sendZip } from './dataset-response.js';
import {
  DatasetSchema,
  datasetParams,
  ImportReportSchema,
  labelParams,
  LabelSchema,
  nameTaken,
  notFound,
  toDatasetJson,
  toLabelJson,
  toReportJson,
} from './datasets.api-schemas.js';
import {
  createDatasetSchema,
  datasetNameSchema,
  descriptionSchema,
  exportQuerySchema,
  idSchema,
  labelNameSchema,
  pageQuerySchema,
} from './datasets.schemas.js';
import type { DatasetsService } from './datasets.service.js';

export interface DatasetsApiDeps {
  datasets: DatasetsService;
  /** Multipart limits of the import: one archive of up to DATASET_IMPORT_MAX_MB. */
  archiveLimits: { maxFileBytes: number; maxFiles: number };
}

/** The datasets' JSON API: datasets, labels, images, export and import. */
export function declareDatasetsApi(api: ApiRoutes, { datasets, archiveLimits }: DatasetsApiDeps): void {
  const tags = ['Datasets'];

  apiRoute(
    api,
    {
      method: 'post',
      path: '/v1/datasets',
      auth: true,
      tags,
      summary: 'Create a dataset with its labels',
      description: 'Names (dataset and labels): 1-64 letters, digits, spaces, "-", "_" and "."; unique per account (labels: per dataset), ignoring case.',
      body: createDatasetSchema.openapi('NewDataset', { example: { name: 'pets', description: 'Cats and dogs', labels: ['cat', 'dog'] } }),
      responses: { 201: { description: 'The new dataset', schema: DatasetSchema }, 409: nameTaken },
    },
    ({ body, user }) => toDatasetJson(datasets.create(user.id, body)),
  );

  apiRoute(
    api,
    {
      method: 'get',
      path: '/v1/datasets',
      auth: true,
      tags,
      summary: 'Your datasets, most recently changed first',
      query: pageQuerySchema,
      responses: { 200: { description: 'One page of datasets and the total', schema: z.object({ items: z.array(DatasetSchema), total: z.number().int() }) } },
    },
    ({ query, user }) => {
      const { items, total } = datasets.list(user.id, query.page, query.per_page);
      return { items: items.map((dataset) => toDatasetJson(datasets.get(user.id, dataset.id))), total };
    },
  );

  apiRoute(
    api,
    {
      method: 'post',
      path: '/v1/datasets/import',
      auth: true,
      tags,
      summary: 'Import a zip as a new dataset, or into one of yours',
      description:
        'Layout: <name>/<label>/<file> (an Inkwell export, with or without train/val/test folders) or any class-folder zip (ImageFolder style, one top ' +
        'folder or none). Each entry is checked like an upload; unsafe paths, symbolic links, nested archives, entries that inflate too far (per entry, ' +
        'by ratio) and non-images are skipped and reported. Over DATASET_IMPORT_MAX_ENTRIES, DATASET_IMPORT_MAX_UNCOMPRESSED_MB (counted while ' +
        'inflating) or the storage quota, the import is undone (413). Without dataset_id a new dataset is made, named `name` or after the archive.',
      multipart: { files: { archive: 'The zip file.' }, ...archiveLimits },
      body: z.object({
        dataset_id: z.union([z.literal(''), idSchema]).optional().openapi({ type: 'integer', description: 'Merge into this dataset of yours.' }),
        name: z.union([z.literal(''), datasetNameSchema]).optional().openapi({ type: 'string', description: 'The new dataset\'s name.' }),
      }),
      responses: {
        201: { description: 'The dataset and the report', schema: z.object({ dataset: DatasetSchema, report: ImportReportSchema }) },
        404: notFound,
        409: nameTaken,
        413: { description: 'The archive is over DATASET_IMPORT_MAX_MB, its entries or inflated size over the limits, or the quota would be exceeded.', schema: ApiErrorSchema },
      },
    },
    async ({ req, body, user }) => {
      const files = (req.files ?? []) as Express.Multer.File[];
      const archive = files.find((file) => file.fieldname === 'archive');
      if (!archive || files.length !== 1) throw new ValidationError('Send one zip file in the multipart field "archive".', { archive: 'Send one zip file.' });
      const result = await datasets.importArchive(user.id, {
        archivePath: archive.path,
        archiveName: archive.originalname,
        datasetId: body.dataset_id || null,
        name: body.name || null,
      });
      return { dataset: toDatasetJson(result.dataset), report: toReportJson(result.report) };
    },
  );

  apiRoute(
    api,
    {
      method: 'get',
      path: '/v1/datasets/:id',
      auth: true,
      tags,
      summary: 'One dataset with its labels and counts',
      params: datasetParams,
      responses: { 200: { description: 'The dataset', schema: DatasetSchema }, 404: notFound },
    },
    ({ params, user }) => toDatasetJson(datasets.get(user.id, params.id)),
  );

  apiRoute(
    api,
    {
      method: 'patch',
      path: '/v1/datasets/:id',
      auth: true,
      tags,
      summary: 'Rename or describe a dataset',
      params: datasetParams,
      body: z.object({ name: datasetNameSchema.optional(), description: descriptionSchema.optional() }).openapi('DatasetChanges'),
      responses: { 200: { description: 'The dataset', schema: DatasetSchema }, 404: notFound, 409: nameTaken },
    },
    ({ params, body, user }) => toDatasetJson(datasets.update(user.id, params.id, body)),
  );

  apiRoute(
    api,
    {
      method: 'delete',
      path: '/v1/datasets/:id',
      auth: true,
      tags,
      summary: 'Delete a dataset with its labels and images',
      description: 'An image file goes once nothing else of yours (the library, another dataset) refers to the same bytes.',
      params: datasetParams,
      responses: { 204: { description: 'Deleted' }, 404: notFound },
    },
    async ({ params, user }) => {
      await datasets.remove(user.id, params.id);
    },
  );

  apiRoute(
    api,
    {
      method: 'post',
      path: '/v1/datasets/:id/labels',
      auth: true,
      tags,
      summary: 'Add a label',
      params: datasetParams,
      body: z.object({ name: labelNameSchema }).openapi('NewLabel', { example: { name: 'bird' } }),
      responses: { 201: { description: 'The new label', schema: LabelSchema }, 404: notFound, 409: nameTaken },
    },
    ({ params, body, user }) => toLabelJson(datasets.addLabel(user.id, params.id, body.name)),
  );

  apiRoute(
    api,
    {
      method: 'patch',
      path: '/v1/datasets/:id/labels/:label_id',
      auth: true,
      tags,
      summary: 'Rename a label',
      params: labelParams,
      body: z.object({ name: labelNameSchema }).openapi('LabelRename'),
      responses: { 200: { description: 'The label', schema: LabelSchema }, 404: notFound, 409: nameTaken },
    },
    ({ params, body, user }) => toLabelJson(datasets.renameLabel(user.id, params.id, params.label_id, body.name)),
  );

  apiRoute(
    api,
    {
      method: 'delete',
      path: '/v1/datasets/:id/labels/:label_id',
      auth: true,
      tags,
      summary: 'Delete a label and its images',
      params: labelParams,
      responses: { 204: { description: 'Deleted' }, 404: notFound },
    },
    async ({ params, user }) => {
      await datasets.removeLabel(user.id, params.id, params.label_id);
    },
  );

  declareDatasetImagesApi(api, { datasets });

  apiRoute(
    api,
    {
      method: 'get',
      path: '/v1/datasets/:id/export',
      auth: true,
      tags,
      summary: 'Download the dataset as <name>_dataset.zip',
      description:
        'Streamed. Layout <name>/<label>/<file>, or <name>/{train,val,test}/<label>/<file> with split; <name>/labels.csv ' +
        '(path,label,split,sha256,width,height,bytes) and <name>/README.md. The split is stratified per label and the same for the same seed ' +
        'and images. format: original (as stored), png or jpeg; max_side: longest side in pixels (never enlarged).',
      params: datasetParams,
      query: exportQuerySchema,
      responses: { 200: { description: 'application/zip' }, 404: notFound },
    },
    async ({ params, query, user, res }) => {
      const { fileName, stream } = datasets.exportZip(user.id, params.id, query);
      await sendZip(res, fileName, stream);
    },
  );
}
