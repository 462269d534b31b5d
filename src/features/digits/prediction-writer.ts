import type { Db } from '../../db/database.js';
import { AppError } from '../../http/errors.js';
import type { Logger } from '../../logger.js';
import type { ImageStore, IncomingFile } from '../../storage/index.js';
import { createPredictionsRepo, type NewPrediction } from './predictions.repo.js';

/** A prediction waiting to be written, with the image to keep: a new file for the store, a library image to refer to, or none. */
export interface PendingPrediction {
  prediction: NewPrediction;
  image: { file: IncomingFile; bytes: number } | { storedImageId: number } | null;
}

export interface PredictionWriterOptions {
  db: Db;
  store: ImageStore;
  logger: Logger;
  /** Predictions kept in memory before they are written together (default 100). */
  batchSize?: number;
  /** Longest time a prediction waits in memory (default 200 ms). */
  flushIntervalMs?: number;
  /** Image bytes kept in memory before a write is started whatever the count (default 32 MB). */
  maxBufferedBytes?: number;
}

/**
 * Writes predictions in batches, as the request log does, so that the prediction path never waits for a
 * database transaction or an image write of its own: a request gets its id at once (ids are given out here, in
 * memory; this process is the only writer of the table) and its row is written with the others of the next
 * batch, its image through the image store in the same transaction. Everything that reads predictions calls
 * flush() first, so a client never misses its own prediction. A crash loses at most the last batch (up to
 * flushIntervalMs), like the request log; image files written without their rows are swept by the store.
 */
const imageBytes = (row: PendingPrediction) => (row.image && 'file' in row.image ? row.image.bytes : 0);

export function createPredictionWriter({ db, store, logger, batchSize = 100, flushIntervalMs = 200, maxBufferedBytes = 32 * 1024 * 1024 }: PredictionWriterOptions) {
  const repo = createPredictionsRepo(db);
  // Read on first use rather than at start-up, so that rows inserted before the first prediction are counted.
  let lastId: number | null = null;
  let buffer: PendingPrediction[] = [];
  /** Image bytes held in memory: buffered, or in a write under way. */
  let heldBytes = 0;
  let writes: Promise<void> = Promise.resolve();

  /** Inserts rows one transaction at a time; a row that cannot be written (its account was deleted meanwhile) is logged and dropped. */
  function insertRows(rows: PendingPrediction[]): void {
    const insertOne = ({ prediction, image }: PendingPrediction) => {
      if (image && 'storedImageId' in image) {
        // A library image deleted since the prediction: the row is kept without it.
        const linked = store.reference(prediction.userId, image.storedImageId, () => repo.insert({ ...prediction, storedImageId: image.storedImageId }));
        if (linked === null) repo.insert({ ...prediction, storedImageId: null });
      } else {
        repo.insert({ ...prediction, storedImageId: null });
      }
    };
    try {
      db.transaction(() => rows.forEach(insertOne))();
    } catch {
      for (const row of rows) {
        try {
          db.transaction(() => insertOne(row))();
        } catch (err) {
          logger.error({ err, predictionId: row.prediction.id }, 'a digit prediction could not be written');
        }
      }
    }
  }

  /** One user's predictions with new images: stored all at once by the store, which inserts the rows in its transaction. */
  async function storeWithImages(userId: number, rows: PendingPrediction[]): Promise<void> {
    const files = rows.map((row) => (row.image as { file: IncomingFile }).file);
    try {
      await store.add(userId, files, (stored) => stored.forEach((image, i) => repo.insert({ ...rows[i]!.prediction, storedImageId: image.id })));
    } catch (err) {
      // The store's answer is all or nothing: try each image alone, so one refusal costs only its own image.
      if (rows.length > 1) {
        for (const row of rows) await storeWithImages(userId, [row]);
        return;
      }
      // Refused by the store (over the quota, a polyglot, a size it does not keep...): the prediction stays, without its image.
      if (err instanceof AppError && err.status < 500) logger.info({ predictionId: rows[0]!.prediction.id, reason: err.code }, 'digit image not kept');
      else logger.error({ err, predictionId: rows[0]!.prediction.id }, 'digit image could not be stored');
      insertRows([{ ...rows[0]!, image: null }]);
    }
  }

  async function write(batch: PendingPrediction[]): Promise<void> {
    if (batch.length === 0) return;
    insertRows(batch.filter((row) => !row.image || !('file' in row.image)));
    const byUser = new Map<number, PendingPrediction[]>();
    for (const row of batch) {
      if (row.image && 'file' in row.image) byUser.set(row.prediction.userId, [...(byUser.get(row.prediction.userId) ?? []), row]);
    }
    for (const [userId, rows] of byUser) await storeWithImages(userId, rows);
  }

  /** Writes what is buffered now, after any write already under way; resolves when it is in the database. */
  function flush(): Promise<void> {
    writes = writes
      .then(async () => {
        const batch = buffer;
        buffer = [];
        try {
          await write(batch);
        } finally {
          heldBytes -= batch.reduce((sum, row) => sum + imageBytes(row), 0);
        }
      })
      // A failure is logged and the next batch goes ahead: the chain must never stay rejected.
      .catch((err: unknown) => logger.error({ err }, 'digit predictions could not be written'));
    return writes;
  }

  // unref: the timer does not keep the process (or a test run) alive.
  const timer = setInterval(() => {
    if (buffer.length) void flush();
  }, flushIntervalMs).unref();

  return {
    /** The id the next prediction gets. */
    nextId(): number {
      lastId ??= repo.lastId();
      return ++lastId;
    },
    add(pending: PendingPrediction): void {
      buffer.push(pending);
      heldBytes += imageBytes(pending);
      if (buffer.length >= batchSize || heldBytes >= maxBufferedBytes) void flush();
    },
    /**
     * Waits while more than maxBufferedBytes of images are waiting to be stored: when the store cannot keep up
     * (every kept image is checked, thumbnailed and written), new predictions wait rather than memory growing.
     */
    async waitForRoom(): Promise<void> {
      while (heldBytes >= maxBufferedBytes) await flush();
    },
    flush,
    /** Stops the timer and writes what is left. */
    close(): Promise<void> {
      clearInterval(timer);
      return flush();
    },
  };
}

export type PredictionWriter = ReturnType<typeof createPredictionWriter>;
