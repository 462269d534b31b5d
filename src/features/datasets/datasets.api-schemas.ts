import { ApiErrorSchema, z } from '../../http/openapi.js';
import type { ImportReport } from './dataset-import.js';
import type { Label } from './datasets.repo.js';
import { idSchema } from './datasets.schemas.js';
import type { DatasetDetails } from './datasets.service.js';

/** The JSON shapes of the datasets API (shared by its two route files), with the mappers from the service's records. */
export const LabelSchema = z
  .object({
    id: z.number().int().openapi({ example: 7 }),
    name: z.string().openapi({ example: 'cat' }),
    image_count: z.number().int().openapi({ example: 120 }),
  })
  .openapi('DatasetLabel');

export const DatasetSchema = z
  .object({
    id: z.number().int().openapi({ example: 3 }),
    name: z.string().openapi({ example: 'pets' }),
    description: z.string(),
    labels: z.array(LabelSchema).openapi({ description: 'In the order they were added.' }),
    image_count: z.number().int(),
    bytes: z.number().int().openapi({ description: 'Size of the images as stored (metadata removed).' }),
    created_at: z.string().openapi({ example: '2026-12-02T10:31:05.123Z' }),
  })
  .openapi('Dataset');

export const SkippedSchema = z
  .object({
    file: z.string(),
    code: z.string().openapi({
      description:
        'duplicate, a store refusal (empty, unsupported_type, polyglot, undecodable, too_many_pixels, too_many_frames, bad_dimensions), and for ' +
        'imports: unsafe_path, symlink, special_file, encrypted, unsupported_compression, nested_archive, too_large, compression_ratio, damaged, ' +
        'system_file, metadata_file, no_label, invalid_label.',
    }),
    message: z.string(),
  })
  .openapi('SkippedFile');

export const ImportReportSchema = z
  .object({
    imported_count: z.number().int(),
    skipped_count: z.number().int(),
    imported: z.array(z.object({ file: z.string(), label: z.string(), id: z.number().int() })),
    skipped: z.array(SkippedSchema),
  })
  .openapi('DatasetImportReport');

export const toLabelJson = (label: Label) => ({ id: label.id, name: label.name, image_count: label.imageCount });

export const toDatasetJson = (dataset: DatasetDetails): z.infer<typeof DatasetSchema> => ({
  id: dataset.id,
  name: dataset.name,
  description: dataset.description,
  labels: dataset.labels.map(toLabelJson),
  image_count: dataset.imageCount,
  bytes: dataset.bytes,
  created_at: dataset.createdAt,
});

export const toReportJson = (report: ImportReport) => ({ imported_count: report.imported.length, skipped_count: report.skipped.length, ...report });

export const datasetParams = z.object({ id: idSchema.openapi({ example: 3 }) });
export const labelParams = datasetParams.extend({ label_id: idSchema.openapi({ example: 7 }) });
export const notFound = { description: 'No such dataset (or label, or image) among yours; another user\'s id looks the same.', schema: ApiErrorSchema };
export const nameTaken = { description: 'name_taken: you already have a dataset (or the dataset a label) of this name, ignoring case.', schema: ApiErrorSchema };

