import type { Db } from '../../db/database.js';
import type { ImageType } from '../../ml/image-input.js';

export type DatasetImageSource = 'upload' | 'camera' | 'api' | 'library' | 'import' | 'feature';

/** An image in a dataset's label, with what the store knows of its file. */
export interface DatasetImage {
  id: number;
  datasetId: number;
  labelId: number;
  storedImageId: number;
  name: string;
  source: DatasetImageSource;
  createdAt: string;
  sha256: string;
  type: ImageType;
  width: number;
  height: number;
  bytes: number;
}

/** What a message about a duplicate names: the image already there, as label/name. */
export interface ExistingImage {
  id: number;
  name: string;
  labelName: string;
}

export interface NewDatasetImage {
  datasetId: number;
  labelId: number;
  storedImageId: number;
  name: string;
  source: DatasetImageSource;
}

const select = `SELECT i.id, i.dataset_id AS datasetId, i.label_id AS labelId, i.stored_image_id AS storedImageId, i.name, i.source,
  i.created_at AS createdAt, s.sha256, s.type, s.width, s.height, s.bytes
  FROM dataset_images i JOIN stored_images s ON s.id = i.stored_image_id`;
const existing = `SELECT i.id, i.name, l.name AS labelName FROM dataset_images i JOIN dataset_labels l ON l.id = i.label_id`;

/** Lists of ids go into SQL as a JSON array (one statement for any count, no string building). */
const json = (ids: number[]) => JSON.stringify(ids);

export function createDatasetImagesRepo(db: Db) {
  const statements = {
    insert: db.prepare(`INSERT INTO dataset_images (dataset_id, label_id, stored_image_id, name, source)
      VALUES (@datasetId, @labelId, @storedImageId, @name, @source) RETURNING id`),
    find: db.prepare(`${select} WHERE i.dataset_id = ? AND i.id = ?`),
    many: db.prepare(`${select} WHERE i.dataset_id = ? AND i.id IN (SELECT value FROM json_each(?)) ORDER BY i.id`),
    bySha: db.prepare(`${existing} JOIN stored_images s ON s.id = i.stored_image_id WHERE i.dataset_id = ? AND s.sha256 = ?`),
    byStoredImage: db.prepare(`${existing} WHERE i.dataset_id = ? AND i.stored_image_id = ?`),
    page: db.prepare(`${select} WHERE i.dataset_id = ? ORDER BY i.id DESC LIMIT ? OFFSET ?`),
    pageOfLabel: db.prepare(`${select} WHERE i.dataset_id = ? AND i.label_id = ? ORDER BY i.id DESC LIMIT ? OFFSET ?`),
    count: db.prepare('SELECT COUNT(*) FROM dataset_images WHERE dataset_id = ?').pluck(),
    countOfLabel: db.prepare('SELECT COUNT(*) FROM dataset_images WHERE dataset_id = ? AND label_id = ?').pluck(),
    move: db.prepare('UPDATE dataset_images SET label_id = ? WHERE dataset_id = ? AND id IN (SELECT value FROM json_each(?))'),
    remove: db.prepare('DELETE FROM dataset_images WHERE dataset_id = ? AND id IN (SELECT value FROM json_each(?))'),
    storedIdsOfDataset: db.prepare('SELECT stored_image_id FROM dataset_images WHERE dataset_id = ?').pluck(),
    storedIdsOfLabel: db.prepare('SELECT stored_image_id FROM dataset_images WHERE dataset_id = ? AND label_id = ?').pluck(),
    // Only what an export needs, ordered by label then age: a 10,000-image dataset is a few MB of rows.
    forExport: db.prepare(`SELECT i.id, i.label_id AS labelId, i.stored_image_id AS storedImageId, i.name, i.created_at AS createdAt,
      s.sha256, s.type, s.width, s.height, s.bytes FROM dataset_images i JOIN stored_images s ON s.id = i.stored_image_id
      WHERE i.dataset_id = ? ORDER BY i.label_id, i.id`),
  };

  const find = (datasetId: number, id: number) => statements.find.get(datasetId, id) as DatasetImage | undefined;

  return {
    insert(image: NewDatasetImage): number {
      return (statements.insert.get(image) as { id: number }).id;
    },
    find,
    /** The dataset's images among `ids`; ids that are not in it are left out. */
    many: (datasetId: number, ids: number[]) => statements.many.all(datasetId, json(ids)) as DatasetImage[],
    /** The image of the dataset with these bytes, if any (for refusing duplicates before storing). */
    findBySha: (datasetId: number, sha256: string) => statements.bySha.get(datasetId, sha256) as ExistingImage | undefined,
    findByStoredImage: (datasetId: number, storedImageId: number) => statements.byStoredImage.get(datasetId, storedImageId) as ExistingImage | undefined,
    /** Newest first, of one label or of the whole dataset. */
    page(datasetId: number, labelId: number | null, limit: number, offset: number): DatasetImage[] {
      return (labelId === null ? statements.page.all(datasetId, limit, offset) : statements.pageOfLabel.all(datasetId, labelId, limit, offset)) as DatasetImage[];
    },
    count(datasetId: number, labelId: number | null): number {
      return (labelId === null ? statements.count.get(datasetId) : statements.countOfLabel.get(datasetId, labelId)) as number;
    },
    move(datasetId: number, ids: number[], labelId: number): void {
      statements.move.run(labelId, datasetId, json(ids));
    },
    remove(datasetId: number, ids: number[]): void {
      statements.remove.run(datasetId, json(ids));
    },
    storedIdsOfDataset: (datasetId: number) => statements.storedIdsOfDataset.all(datasetId) as number[],
    storedIdsOfLabel: (datasetId: number, labelId: number) => statements.storedIdsOfLabel.all(datasetId, labelId) as number[],
    forExport: (datasetId: number) => statements.forExport.all(datasetId) as ExportRow[],
  };
}

export type ExportRow = Pick<DatasetImage, 'id' | 'labelId' | 'storedImageId' | 'name' | 'createdAt' | 'sha256' | 'type' | 'width' | 'height' | 'bytes'>;
export type DatasetImagesRepo = ReturnType<typeof createDatasetImagesRepo>;
