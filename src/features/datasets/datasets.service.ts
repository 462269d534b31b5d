import type { Db } from '../../db/database.js';
import { AppError, NotFoundError, ValidationError } from '../../http/errors.js';
import type { ImageStore } from '../../storage/index.js';
import { createDatasetImagesService, type LibraryLookup } from './dataset-images.service.js';
import { createDatasetImagesRepo, type DatasetImagesRepo } from './dataset-images.repo.js';
import { exportDataset } from './dataset-export.js';
import { createDatasetImport, type ImportLimits } from './dataset-import.js';
import { createDatasetsRepo, type DatasetsRepo, type DatasetSummary, type Label } from './datasets.repo.js';
import {
  createDatasetSchema,
  datasetNameSchema,
  LABELS_MAX,
  labelNameSchema,
  nameKey,
  parseOrThrow,
  updateDatasetSchema,
  type ExportQuery,
} from './datasets.schemas.js';

/** A name already used: a dataset of the account, or a label of the dataset (409, code name_taken). */
export class NameTakenError extends AppError {
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(409, 'name_taken', message);
  }
}

export interface DatasetDetails extends DatasetSummary {
  labels: Label[];
}

/** What the images and import parts of the service share with it. */
export interface DatasetsCore {
  db: Db;
  store: ImageStore;
  repo: DatasetsRepo;
  imagesRepo: DatasetImagesRepo;
  /** The user's dataset with its counts, or 404. */
  summary(userId: number, id: number): DatasetSummary;
  get(userId: number, id: number): DatasetDetails;
  /** The dataset's label, or 404. */
  label(userId: number, datasetId: number, labelId: number): Label;
  create(userId: number, input: unknown): DatasetDetails;
  remove(userId: number, id: number): Promise<void>;
  /** Adds a label (inside the caller's transaction, if any); 409 when the name is taken. */
  addLabelTo(datasetId: number, name: string): Label;
}

export interface DatasetsServiceDeps {
  db: Db;
  store: ImageStore;
  /** The image library (through its index), for adding library images to a label. */
  library: LibraryLookup;
  importLimits: ImportLimits;
}

export function createDatasetsService({ db, store, library, importLimits }: DatasetsServiceDeps) {
  const repo = createDatasetsRepo(db);
  const imagesRepo = createDatasetImagesRepo(db);

  function summary(userId: number, id: number): DatasetSummary {
    const dataset = repo.find(userId, id);
    // A missing dataset and another user's look the same.
    if (!dataset) throw new NotFoundError('We could not find that dataset.');
    return dataset;
  }

  const get = (userId: number, id: number): DatasetDetails => ({ ...summary(userId, id), labels: repo.labels(id) });

  function label(userId: number, datasetId: number, labelId: number): Label {
    summary(userId, datasetId);
    const found = repo.findLabel(datasetId, labelId);
    if (!found) throw new NotFoundError('We could not find that label.');
    return found;
  }

  function checkDatasetNameFree(userId: number, name: string, exceptId?: number): void {
    const existing = repo.findByKey(userId, nameKey(name));
    if (existing && existing.id !== exceptId) throw new NameTakenError(`You already have a dataset named "${existing.name}" (names are compared ignoring case).`, 'name');
  }

  function addLabelTo(datasetId: number, name: string): Label {
    const existing = repo.findLabelByKey(datasetId, nameKey(name));
    if (existing) throw new NameTakenError(`This dataset already has a label named "${existing.name}" (names are compared ignoring case).`, 'name');
    if (repo.countLabels(datasetId) >= LABELS_MAX) {
      throw new ValidationError(`A dataset has at most ${LABELS_MAX} labels, and this one has them all. Delete a label first.`, { name: `At most ${LABELS_MAX} labels.` }, 'too_many_labels');
    }
    return repo.insertLabel(datasetId, name, nameKey(name));
  }

  function create(userId: number, input: unknown): DatasetDetails {
    const { name, description = '', labels } = parseOrThrow(createDatasetSchema, input);
    const id = db.transaction(() => {
      checkDatasetNameFree(userId, name);
      const datasetId = repo.insert(userId, name, nameKey(name), description);
      for (const labelName of labels) addLabelTo(datasetId, labelName);
      return datasetId;
    })();
    return get(userId, id);
  }

  async function remove(userId: number, id: number): Promise<void> {
    summary(userId, id);
    // The image ids are read and released in one synchronous step: no upload can slip in between.
    await store.release(userId, imagesRepo.storedIdsOfDataset(id), () => repo.remove(userId, id));
  }

  const core: DatasetsCore = { db, store, repo, imagesRepo, summary, label, get, create, remove, addLabelTo };
  const images = createDatasetImagesService(core, library);
  const importArchive = createDatasetImport(core, images, importLimits);

  return {
    get,
    summary,
    label,
    find: (userId: number, id: number) => repo.find(userId, id),
    /** Datasets per user, for the admin user pages. */
    countByUser: () => repo.countByUser(),

    list(userId: number, page: number, perPage: number) {
      const total = repo.count(userId);
      return { items: repo.page(userId, perPage, (page - 1) * perPage), total, page, pages: Math.max(1, Math.ceil(total / perPage)) };
    },

    /** Every dataset of the user with its labels, by name (for choosing where images go). */
    choices(userId: number) {
      const labels = repo.labelsOfUser(userId);
      return repo.all(userId).map((dataset) => ({ ...dataset, labels: labels.filter((l) => l.datasetId === dataset.id) }));
    },

    create,

    update(userId: number, id: number, input: unknown): DatasetDetails {
      const current = summary(userId, id);
      const changes = parseOrThrow(updateDatasetSchema, input);
      const name = changes.name ?? current.name;
      checkDatasetNameFree(userId, name, id);
      repo.update(userId, id, name, nameKey(name), changes.description ?? current.description);
      return get(userId, id);
    },

    remove,

    addLabel(userId: number, datasetId: number, name: unknown): Label {
      summary(userId, datasetId);
      const label = addLabelTo(datasetId, parseOrThrow(labelNameSchema, name));
      repo.touch(datasetId);
      return label;
    },

    renameLabel(userId: number, datasetId: number, labelId: number, name: unknown): Label {
      label(userId, datasetId, labelId);
      const newName = parseOrThrow(labelNameSchema, name);
      const clash = repo.findLabelByKey(datasetId, nameKey(newName));
      if (clash && clash.id !== labelId) throw new NameTakenError(`This dataset already has a label named "${clash.name}" (names are compared ignoring case).`, 'name');
      repo.renameLabel(datasetId, labelId, newName, nameKey(newName));
      repo.touch(datasetId);
      return repo.findLabel(datasetId, labelId)!;
    },

    /** Deletes the label and its images (their files go once nothing else refers to them). */
    async removeLabel(userId: number, datasetId: number, labelId: number): Promise<void> {
      label(userId, datasetId, labelId);
      await store.release(userId, imagesRepo.storedIdsOfLabel(datasetId, labelId), () => {
        repo.removeLabel(datasetId, labelId);
        repo.touch(datasetId);
      });
    },

    ...images,

    /** The zip of the dataset, streamed (see dataset-export.ts). */
    exportZip(userId: number, id: number, options: ExportQuery) {
      const dataset = summary(userId, id);
      const stream = exportDataset({ store, userId, dataset, labels: repo.labels(id), rows: imagesRepo.forExport(id), options });
      return { fileName: `${dataset.name}_dataset.zip`, stream };
    },

    importArchive,

    importReport(userId: number, datasetId: number, importId: number) {
      summary(userId, datasetId);
      const record = repo.findImport(datasetId, importId);
      if (!record) throw new NotFoundError('We could not find that import.');
      return record;
    },

    /** Validates a dataset name as create and update would, without saving (the import form). */
    parseName: (name: unknown) => parseOrThrow(datasetNameSchema, name),
  };
}

export type DatasetsService = ReturnType<typeof createDatasetsService>;
