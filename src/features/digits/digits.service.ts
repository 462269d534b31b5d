import type { Readable } from 'node:stream';
import type { Db } from '../../db/database.js';
import { NotFoundError, ServiceUnavailableError, ValidationError } from '../../http/errors.js';
import type { Logger } from '../../logger.js';
import type { DigitModel, ImageInputError } from '../../ml/index.js';
import { fileFromBytes, MIME_TYPES, type ImageStore } from '../../storage/index.js';
import type { LibraryImage } from '../images/index.js';
import type { DatasetsService } from '../datasets/index.js';
import { computeDigitStats, type DigitStats } from './digit-stats.js';
import { createDigitStatsRepo } from './digit-stats.repo.js';
import { zipStream } from '../../lib/zip-stream.js';
import { predictionsCsv, predictionsJson } from './digits-export.js';
import { createPredictionWriter, type PendingPrediction } from './prediction-writer.js';
import { createPredictionsRepo, type Prediction, type PredictionFilter, type PredictionSource } from './predictions.repo.js';

/** A file to read: its bytes and the name it came with (null for drawings). */
export interface DigitFile {
  name: string | null;
  bytes: Uint8Array;
}

/** One file's outcome: the stored prediction and what the model saw (784 values), or why the file was refused. */
export type DigitOutcome = { prediction: Prediction; input: Float32Array; error?: undefined } | { error: ImageInputError };

export interface DigitsServiceDeps {
  db: Db;
  store: ImageStore;
  logger: Logger;
  /** null while the digit model is not loaded: predictions then answer 503, history and analytics still work. */
  model: DigitModel | null;
  /** The image library, for predicting a digit in one of the user's images. */
  libraryImage: (userId: number, id: number) => LibraryImage;
  /** The dataset builder, which takes the corrected images as a dataset with labels 0-9. */
  datasets: Pick<DatasetsService, 'ensureDataset' | 'addStoredImages'>;
}

const DIGIT_LABELS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

/** The refusal of one image as the API and pages report it: 422 with the reason as the code (no_ink, unsupported_type...). */
export function refusalError(error: ImageInputError): ValidationError {
  return new ValidationError(error.message, { image: error.reason }, error.reason);
}

/** Drawings have no name; the stored image gets one from its prediction. */
const imageName = (name: string | null, id: number) => name ?? `digit-${id}.png`;

/** Digit recognition: predictions (stored in batches), history, corrections, analytics, exports. */
export function createDigitsService({ db, store, logger, model, libraryImage, datasets }: DigitsServiceDeps) {
  const repo = createPredictionsRepo(db);
  const statsRepo = createDigitStatsRepo(db);
  const writer = createPredictionWriter({ db, store, logger });

  function requireModel(): DigitModel {
    if (!model) throw new ServiceUnavailableError('Digit recognition is not available right now: its model is not loaded.');
    return model;
  }

  async function get(userId: number, id: number): Promise<Prediction> {
    await writer.flush();
    const prediction = repo.findById(userId, id);
    // A missing prediction and another user's look the same.
    if (!prediction) throw new NotFoundError('We could not find that prediction.');
    return prediction;
  }

  /** Reads the files and records a prediction for each one read; `image` says what to keep as each one's image. */
  async function read(userId: number, files: DigitFile[], source: PredictionSource, image: (file: DigitFile, id: number) => PendingPrediction['image']): Promise<DigitOutcome[]> {
    const digits = requireModel();
    await writer.waitForRoom();
    const readings = await digits.readFiles(files.map((file) => file.bytes));
    const keep = repo.keepImages(userId);
    const createdAt = new Date().toISOString();
    return readings.map((reading, i) => {
      if (reading.error) return { error: reading.error };
      const file = files[i]!;
      const id = writer.nextId();
      const prediction: Prediction = {
        id,
        userId,
        source,
        storedImageId: null,
        fileName: file.name,
        ...reading.prediction,
        // The version that answered, which is not always the active one by now (src/features/models activates others).
        modelVersion: reading.version,
        createdAt,
        correction: null,
      };
      writer.add({ prediction, image: keep ? image(file, id) : null });
      return { prediction, input: reading.input };
    });
  }

  return {
    available: () => model !== null,
    modelVersion: () => model?.card.version ?? null,
    /** Stored predictions per user, for the admin user pages. */
    countByUser: () => repo.countByUser(),
    get,

    /** Predicts the digit in each file, in order; a refused file gets its error and does not fail the others. */
    async predict(userId: number, files: DigitFile[], source: PredictionSource): Promise<DigitOutcome[]> {
      if (files.length === 0) throw new ValidationError('Send at least one image.', { image: 'Send at least one image.' });
      return read(userId, files, source, (file, id) => ({ file: fileFromBytes(imageName(file.name, id), file.bytes), bytes: file.bytes.length }));
    },

    /** Predicts the digit in one of the user's library images; the prediction refers to the library's copy. */
    async predictLibraryImage(userId: number, imageId: number): Promise<DigitOutcome> {
      const image = libraryImage(userId, imageId);
      const stored = store.get(userId, image.storedImageId);
      if (!stored) throw new NotFoundError('We could not find that image.');
      const [outcome] = await read(userId, [{ name: image.name, bytes: await store.readBytes(stored) }], 'library', () => ({ storedImageId: stored.id }));
      return outcome!;
    },

    /** A library image's id and name for the upload page's "predict this image" form; null when it is not the user's. */
    libraryImageOrNull(userId: number, imageId: number): { id: number; name: string } | null {
      try {
        const { id, name } = libraryImage(userId, imageId);
        return { id, name };
      } catch (err) {
        if (err instanceof NotFoundError) return null;
        throw err;
      }
    },

    /**
     * The drawing page predicts after every stroke; each new reading of the same drawing replaces the previous one,
     * so that the history holds finished drawings rather than every half-drawn digit. Only an unreviewed drawing
     * of the user's is replaced.
     */
    async supersede(userId: number, id: number): Promise<void> {
      await writer.flush();
      const previous = repo.findById(userId, id);
      if (previous?.source === 'drawing' && !previous.correction) await remove(userId, [previous]);
    },

    async list(userId: number, filter: PredictionFilter, page: number, perPage: number) {
      await writer.flush();
      const total = repo.count(userId, filter);
      return { items: repo.page(userId, filter, perPage, (page - 1) * perPage), total, page, pages: Math.max(1, Math.ceil(total / perPage)) };
    },

    async getMany(userId: number, ids: number[]): Promise<Prediction[]> {
      await writer.flush();
      const found = repo.findMany(userId, ids);
      if (found.length !== ids.length) throw new NotFoundError('We could not find some of the selected predictions. They may have been deleted already.');
      return found;
    },

    /** Records the true label (null: "not a digit"); a label equal to the prediction confirms it. */
    async correct(userId: number, id: number, label: number | null): Promise<Prediction> {
      await get(userId, id);
      repo.correct(userId, id, label, new Date().toISOString());
      return get(userId, id);
    },

    async removeCorrection(userId: number, id: number): Promise<Prediction> {
      await get(userId, id);
      repo.uncorrect(userId, id);
      return get(userId, id);
    },

    /** Deletes the predictions (all must be the user's); their images go once nothing else refers to them. */
    async remove(userId: number, ids: number[]): Promise<number> {
      await writer.flush();
      const found = repo.findMany(userId, ids);
      if (found.length !== ids.length) throw new NotFoundError('We could not find some of the selected predictions. They may have been deleted already.');
      await remove(userId, found);
      return found.length;
    },

    /** Deletes every prediction of the user, a slice at a time. */
    async removeAll(userId: number): Promise<number> {
      await writer.flush();
      let deleted = 0;
      for (let slice = repo.idsAfter(userId, 0, 500); slice.length; slice = repo.idsAfter(userId, 0, 500)) {
        await remove(userId, slice);
        deleted += slice.length;
      }
      return deleted;
    },

    /** The prediction's stored image or its thumbnail, with what the response headers need; 404 when it was not kept. */
    async openImage(userId: number, id: number, variant: 'original' | 'thumbnail') {
      const prediction = await get(userId, id);
      const stored = prediction.storedImageId === null ? undefined : store.get(userId, prediction.storedImageId);
      if (!stored) throw new NotFoundError('This prediction has no stored image (keeping images was switched off, or the image could not be kept).');
      return {
        fileName: `digit-${prediction.id}.${stored.type === 'jpeg' ? 'jpg' : stored.type}`,
        contentType: variant === 'original' ? MIME_TYPES[stored.type] : 'image/webp',
        bytes: variant === 'original' ? stored.bytes : stored.thumbnailBytes,
        etag: `"${stored.sha256.slice(0, 32)}${variant === 'original' ? '' : '-t'}"`,
        stream: () => store.read(stored, variant),
      };
    },

    /** The stored image's bytes, to read it again (the model's view of an older prediction); null when not kept. */
    async imageBytes(userId: number, id: number): Promise<Uint8Array | null> {
      const prediction = await get(userId, id);
      const stored = prediction.storedImageId === null ? undefined : store.get(userId, prediction.storedImageId);
      return stored ? store.readBytes(stored) : null;
    },

    /** What the model sees for a stored image: run again, since only the image is kept. */
    async inputOf(userId: number, id: number): Promise<Float32Array | null> {
      const bytes = await this.imageBytes(userId, id);
      if (!bytes) return null;
      const [reading] = await requireModel().readFiles([bytes]);
      return reading && !reading.error ? reading.input : null;
    },

    async stats(userId: number | null): Promise<DigitStats> {
      await writer.flush();
      return computeDigitStats(statsRepo, userId);
    },

    /** The history (filtered) as CSV or JSON, streamed a slice at a time. */
    async export(userId: number, filter: PredictionFilter, format: 'csv' | 'json'): Promise<Readable> {
      await writer.flush();
      const slices = (async function* () {
        for (let slice = repo.slice(userId, filter, 0, 1000); slice.length; slice = repo.slice(userId, filter, slice.at(-1)!.id, 1000)) yield slice;
      })();
      return format === 'csv' ? predictionsCsv(slices) : predictionsJson(slices);
    },

    /** The corrected predictions' images as a labelled data set: a zip with one folder per digit. */
    async correctedImages(userId: number): Promise<Readable> {
      await writer.flush();
      const labelled = { corrected: true };
      const entries = (async function* () {
        for (let slice = repo.slice(userId, labelled, 0, 500); slice.length; slice = repo.slice(userId, labelled, slice.at(-1)!.id, 500)) {
          for (const prediction of slice) {
            const label = prediction.correction?.label;
            const stored = prediction.storedImageId === null ? undefined : store.get(userId, prediction.storedImageId);
            if (label === null || label === undefined || !stored) continue;
            yield { name: `${label}/${prediction.id}.${stored.type === 'jpeg' ? 'jpg' : stored.type}`, date: new Date(prediction.createdAt), open: () => store.read(stored) };
          }
        }
      })();
      return zipStream(entries);
    },

    /**
     * Puts the images of the user's corrected predictions into their dataset of this name (created when missing,
     * labels 0-9), by reference: no file is copied, and a slice of 500 is read at a time, so 10,000 corrections
     * never sit in memory. Predictions marked "not a digit" and those kept without their image are left out;
     * images already in the dataset are not added twice, so running it again adds only the new corrections.
     */
    async correctionsToDataset(userId: number, name: string) {
      await writer.flush();
      const dataset = datasets.ensureDataset(userId, { name, description: 'Digit predictions corrected or confirmed in Inkwell, one label per digit.', labels: DIGIT_LABELS });
      let withoutImage = 0;
      const corrected = async function* () {
        for (let slice = repo.slice(userId, { corrected: true }, 0, 500); slice.length; slice = repo.slice(userId, { corrected: true }, slice.at(-1)!.id, 500)) {
          for (const prediction of slice) {
            const label = prediction.correction?.label;
            if (label === null || label === undefined) continue;
            if (prediction.storedImageId === null) withoutImage++;
            else yield { storedImageId: prediction.storedImageId, label: String(label), name: `${label}-${prediction.id}.png` };
          }
        }
      };
      const counts = await datasets.addStoredImages(userId, dataset.id, corrected());
      return { dataset: { id: dataset.id, name: dataset.name }, ...counts, withoutImage };
    },

    keepsImages: (userId: number) => repo.keepImages(userId),
    setKeepImages(userId: number, keep: boolean): void {
      repo.setKeepImages(userId, keep);
    },

    /** Writes the predictions still buffered; at shutdown. */
    close: () => writer.close(),
  };

  async function remove(userId: number, predictions: { id: number; storedImageId: number | null }[]): Promise<void> {
    await store.release(
      userId,
      predictions.flatMap((prediction) => (prediction.storedImageId === null ? [] : [prediction.storedImageId])),
      () => predictions.forEach((prediction) => repo.remove(userId, prediction.id)),
    );
  }
}

export type DigitsService = ReturnType<typeof createDigitsService>;
