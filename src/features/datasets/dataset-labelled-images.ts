import type { Db } from '../../db/database.js';
import { NotFoundError } from '../../http/errors.js';
import type { ImageStore } from '../../storage/index.js';

export interface LabelCount {
  name: string;
  count: number;
}

export interface LabelledImage {
  label: string;
  bytes: Buffer;
}

/**
 * Read-only access to a dataset's images with their label names, for evaluating and training models
 * (src/features/models). Images are read a slice at a time (keyset pages), never the whole dataset at once.
 */
export function createLabelledImagesReader({ db, store }: { db: Db; store: ImageStore }) {
  const owned = db.prepare<[number, number], { id: number; name: string }>('SELECT id, name FROM datasets WHERE id = ? AND user_id = ?');
  const counts = db.prepare<[number], LabelCount>(
    `SELECT l.name, count(i.id) AS count FROM dataset_labels l LEFT JOIN dataset_images i ON i.label_id = l.id
     WHERE l.dataset_id = ? GROUP BY l.id ORDER BY l.name`,
  );
  const page = db.prepare<[number, number, number], { id: number; label: string; storedImageId: number }>(
    `SELECT i.id, l.name AS label, i.stored_image_id AS storedImageId FROM dataset_images i JOIN dataset_labels l ON l.id = i.label_id
     WHERE i.dataset_id = ? AND i.id > ? ORDER BY i.id LIMIT ?`,
  );

  function dataset(userId: number, datasetId: number) {
    const found = owned.get(datasetId, userId);
    // A missing dataset and another user's look the same.
    if (!found) throw new NotFoundError('We could not find that dataset.');
    return found;
  }

  return {
    /** The user's dataset: its name and each label with its number of images; 404 when it is not theirs. */
    describe(userId: number, datasetId: number): { id: number; name: string; labels: LabelCount[] } {
      return { ...dataset(userId, datasetId), labels: counts.all(datasetId) };
    },

    /** The dataset's images, `size` at a time, in insertion order; an image whose file cannot be read is skipped. */
    async *batches(userId: number, datasetId: number, size = 32): AsyncGenerator<LabelledImage[]> {
      dataset(userId, datasetId);
      let after = 0;
      for (;;) {
        const rows = page.all(datasetId, after, size);
        if (!rows.length) return;
        after = rows.at(-1)!.id;
        const batch: LabelledImage[] = [];
        for (const row of rows) {
          const image = store.get(userId, row.storedImageId);
          if (!image) continue;
          try {
            batch.push({ label: row.label, bytes: await store.readBytes(image) });
          } catch {
            // A file gone missing is left out; the caller counts what it got.
          }
        }
        yield batch;
      }
    },
  };
}

export type LabelledImagesReader = ReturnType<typeof createLabelledImagesReader>;
