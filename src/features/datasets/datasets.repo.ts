import type { Db } from '../../db/database.js';

export interface Dataset {
  id: number;
  userId: number;
  name: string;
  description: string;
  createdAt: string;
  updatedAt: string;
}

/** A dataset with what the list shows: how many labels and images, and the images' bytes. */
export interface DatasetSummary extends Dataset {
  labelCount: number;
  imageCount: number;
  bytes: number;
}

export interface Label {
  id: number;
  datasetId: number;
  name: string;
  imageCount: number;
}

export interface ImportRecord {
  id: number;
  datasetId: number;
  archiveName: string;
  importedCount: number;
  skippedCount: number;
  report: string;
  createdAt: string;
}

const datasetColumns = 'd.id, d.user_id AS userId, d.name, d.description, d.created_at AS createdAt, d.updated_at AS updatedAt';
const summaryColumns = `${datasetColumns},
  (SELECT COUNT(*) FROM dataset_labels l WHERE l.dataset_id = d.id) AS labelCount,
  (SELECT COUNT(*) FROM dataset_images i WHERE i.dataset_id = d.id) AS imageCount,
  (SELECT COALESCE(SUM(s.bytes), 0) FROM dataset_images i JOIN stored_images s ON s.id = i.stored_image_id WHERE i.dataset_id = d.id) AS bytes`;
const labelColumns = 'l.id, l.dataset_id AS datasetId, l.name, (SELECT COUNT(*) FROM dataset_images i WHERE i.label_id = l.id) AS imageCount';
const now = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

/** Datasets, their labels and their import reports. Callers check ownership through the dataset (user id first). */
export function createDatasetsRepo(db: Db) {
  const statements = {
    insert: db.prepare('INSERT INTO datasets (user_id, name, name_key, description) VALUES (?, ?, ?, ?) RETURNING id'),
    find: db.prepare(`SELECT ${summaryColumns} FROM datasets d WHERE d.user_id = ? AND d.id = ?`),
    findByKey: db.prepare(`SELECT ${datasetColumns} FROM datasets d WHERE d.user_id = ? AND d.name_key = ?`),
    page: db.prepare(`SELECT ${summaryColumns} FROM datasets d WHERE d.user_id = ? ORDER BY d.updated_at DESC, d.id DESC LIMIT ? OFFSET ?`),
    count: db.prepare('SELECT COUNT(*) FROM datasets WHERE user_id = ?').pluck(),
    countByUser: db.prepare('SELECT user_id AS userId, COUNT(*) AS count FROM datasets GROUP BY user_id'),
    all: db.prepare(`SELECT ${datasetColumns} FROM datasets d WHERE d.user_id = ? ORDER BY d.name_key`),
    update: db.prepare(`UPDATE datasets SET name = ?, name_key = ?, description = ?, updated_at = ${now} WHERE user_id = ? AND id = ?`),
    touch: db.prepare(`UPDATE datasets SET updated_at = ${now} WHERE id = ?`),
    remove: db.prepare('DELETE FROM datasets WHERE user_id = ? AND id = ?'),

    labels: db.prepare(`SELECT ${labelColumns} FROM dataset_labels l WHERE l.dataset_id = ? ORDER BY l.id`),
    labelsOfUser: db.prepare(`SELECT ${labelColumns} FROM dataset_labels l JOIN datasets d ON d.id = l.dataset_id WHERE d.user_id = ? ORDER BY d.name_key, l.id`),
    findLabel: db.prepare(`SELECT ${labelColumns} FROM dataset_labels l WHERE l.dataset_id = ? AND l.id = ?`),
    findLabelByKey: db.prepare(`SELECT ${labelColumns} FROM dataset_labels l WHERE l.dataset_id = ? AND l.name_key = ?`),
    countLabels: db.prepare('SELECT COUNT(*) AS count FROM dataset_labels WHERE dataset_id = ?'),
    insertLabel: db.prepare('INSERT INTO dataset_labels (dataset_id, name, name_key) VALUES (?, ?, ?) RETURNING id'),
    renameLabel: db.prepare('UPDATE dataset_labels SET name = ?, name_key = ? WHERE dataset_id = ? AND id = ?'),
    removeLabel: db.prepare('DELETE FROM dataset_labels WHERE dataset_id = ? AND id = ?'),

    insertImport: db.prepare('INSERT INTO dataset_imports (dataset_id, archive_name, imported_count, skipped_count, report) VALUES (?, ?, ?, ?, ?) RETURNING id'),
    findImport: db.prepare(`SELECT id, dataset_id AS datasetId, archive_name AS archiveName, imported_count AS importedCount, skipped_count AS skippedCount,
      report, created_at AS createdAt FROM dataset_imports WHERE dataset_id = ? AND id = ?`),
  };

  const findLabel = (datasetId: number, labelId: number) => statements.findLabel.get(datasetId, labelId) as Label | undefined;

  return {
    countByUser: () => new Map((statements.countByUser.all() as { userId: number; count: number }[]).map((row) => [row.userId, row.count])),
    insert(userId: number, name: string, key: string, description: string): number {
      return (statements.insert.get(userId, name, key, description) as { id: number }).id;
    },
    find: (userId: number, id: number) => statements.find.get(userId, id) as DatasetSummary | undefined,
    findByKey: (userId: number, key: string) => statements.findByKey.get(userId, key) as Dataset | undefined,
    /** Most recently changed first. */
    page: (userId: number, limit: number, offset: number) => statements.page.all(userId, limit, offset) as DatasetSummary[],
    count: (userId: number) => statements.count.get(userId) as number,
    /** Every dataset of the user by name, without counts (for choosing one). */
    all: (userId: number) => statements.all.all(userId) as Dataset[],
    update(userId: number, id: number, name: string, key: string, description: string): void {
      statements.update.run(name, key, description, userId, id);
    },
    touch(id: number): void {
      statements.touch.run(id);
    },
    remove(userId: number, id: number): void {
      statements.remove.run(userId, id);
    },

    /** In the order they were added. */
    labels: (datasetId: number) => statements.labels.all(datasetId) as Label[],
    labelsOfUser: (userId: number) => statements.labelsOfUser.all(userId) as Label[],
    findLabel,
    findLabelByKey: (datasetId: number, key: string) => statements.findLabelByKey.get(datasetId, key) as Label | undefined,
    countLabels: (datasetId: number) => (statements.countLabels.get(datasetId) as { count: number }).count,
    insertLabel(datasetId: number, name: string, key: string): Label {
      const { id } = statements.insertLabel.get(datasetId, name, key) as { id: number };
      return findLabel(datasetId, id)!;
    },
    renameLabel(datasetId: number, id: number, name: string, key: string): void {
      statements.renameLabel.run(name, key, datasetId, id);
    },
    removeLabel(datasetId: number, id: number): void {
      statements.removeLabel.run(datasetId, id);
    },

    insertImport(datasetId: number, archiveName: string, importedCount: number, skippedCount: number, report: string): number {
      return (statements.insertImport.get(datasetId, archiveName, importedCount, skippedCount, report) as { id: number }).id;
    },
    findImport: (datasetId: number, id: number) => statements.findImport.get(datasetId, id) as ImportRecord | undefined,
  };
}

export type DatasetsRepo = ReturnType<typeof createDatasetsRepo>;
