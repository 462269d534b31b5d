import { setImmediate as nextTurn } from 'node:timers/promises';
import { ConflictError, NotFoundError, ValidationError } from '../../http/errors.js';
import { baseName, safeFileName } from '../../lib/file-names.js';
import { MIME_TYPES, type CheckedImage, type CheckResult } from '../../storage/index.js';
import type { ImagesService } from '../images/index.js';
import type { DatasetImage, DatasetImageSource } from './dataset-images.repo.js';
import type { Label } from './datasets.repo.js';
import { createDatasetSchema, labelNameSchema, nameKey, parseOrThrow } from './datasets.schemas.js';
import type { DatasetDetails, DatasetsCore } from './datasets.service.js';

/** The image library, as far as datasets use it: the user's library images by id (404 if one is not theirs). */
export type LibraryLookup = Pick<ImagesService, 'getAll'>;

/** A file as multer received it into the store's incoming folder. */
export interface UploadedFile {
  originalname?: string;
  path: string;
}

/** A file that was not added, and why: a store refusal code (unsupported_type, too_many_pixels...) or `duplicate`. */
export interface Skipped {
  file: string;
  code: string;
  message: string;
}

/** One file on its way into a dataset: where it goes and what the store's check said of it. */
export interface Candidate {
  /** As the user knows it (the upload's name, the path in a zip): for the report. */
  file: string;
  /** The name kept with the image. */
  name: string;
  labelId: number;
  check: CheckResult;
}

export type Outcome = { image: DatasetImage } | { skipped: Skipped };

/** What another feature hands over, one by one: an image it has stored, and the label (by name) it belongs to. */
export interface StoredImageToAdd {
  storedImageId: number;
  label: string;
  name: string;
}

/** A label chosen on a page, by its id alone. */
export interface LabelById {
  id: number;
}
const isLabelById = (ref: unknown): ref is LabelById => typeof ref === 'object' && ref !== null && typeof (ref as LabelById).id === 'number';

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/** The name an image is kept under: the upload's base name without control characters, never a path. */
export function nameFromUpload(originalName: string | undefined, fallback: string): string {
  const name = baseName(originalName ?? '').replace(CONTROL, '').trim().slice(0, 200);
  return name || fallback;
}

/** "capture 2026-12-02 14-05-09-123.jpg": camera captures are named by their time (UTC). */
const captureName = (now = new Date()) => `capture ${now.toISOString().slice(0, 23).replace('T', ' ').replace(/[:.]/g, '-')}.jpg`;

const EXTENSIONS = { png: 'png', jpeg: 'jpg', webp: 'webp', gif: 'gif' } as const;
/** Rows per transaction when another feature adds images: short write locks, and the event loop gets turns. */
const FEATURE_CHUNK = 500;

export function createDatasetImagesService(core: DatasetsCore, library: LibraryLookup) {
  const { db, store, repo, imagesRepo, summary, label, get, create, addLabelTo } = core;

  /**
   * The label a request names. The API's `label` is a name or an id, matched by name first (labels named "0"-"9"
   * are common), then by id; the pages choose labels by id alone (`{ id }`: a path or a select), never by name.
   */
  function resolveLabel(datasetId: number, ref: unknown): Label {
    if (isLabelById(ref)) {
      const byId = repo.findLabel(datasetId, ref.id);
      if (!byId) throw new ValidationError('That label is not in this dataset (any more).', { label: 'Choose a label of this dataset.' });
      return byId;
    }
    const text = typeof ref === 'number' ? String(ref) : typeof ref === 'string' ? ref.normalize('NFC').trim() : '';
    if (!text) throw new ValidationError('Choose the label the images go to.', { label: 'Give a label id or name.' });
    const found = repo.findLabelByKey(datasetId, nameKey(text)) ?? (/^\d{1,15}$/.test(text) ? repo.findLabel(datasetId, Number(text)) : undefined);
    if (!found) throw new ValidationError(`This dataset has no label "${text}".`, { label: 'No label of this dataset has this name or id.' });
    return found;
  }

  function imagesOf(datasetId: number, ids: number[]): DatasetImage[] {
    const found = imagesRepo.many(datasetId, ids);
    if (found.length !== ids.length) throw new NotFoundError('Some of the selected images are not in this dataset (any more).');
    return found;
  }

  const duplicate = (file: string, existing: string): Skipped => ({ file, code: 'duplicate', message: `The same image is already in this dataset: ${existing}.` });

  /**
   * Stores the accepted candidates in one go and reports each file: a store refusal and a duplicate (the same bytes as
   * an image of the dataset, or as an earlier file of the batch) are skipped with their reason. Quota: 413 for all.
   */
  async function storeBatch(userId: number, datasetId: number, source: DatasetImageSource, candidates: Candidate[]): Promise<Outcome[]> {
    const outcomes = new Array<Outcome>(candidates.length);
    const firstFileOf = new Map<string, string>();
    const accepted: { index: number; image: CheckedImage }[] = [];
    candidates.forEach((candidate, index) => {
      if ('refusal' in candidate.check) {
        const { reason, message } = candidate.check.refusal;
        outcomes[index] = { skipped: { file: candidate.file, code: reason, message } };
        return;
      }
      const { image } = candidate.check;
      const there = imagesRepo.findBySha(datasetId, image.sha256);
      const earlier = firstFileOf.get(image.sha256);
      if (there || earlier !== undefined) {
        outcomes[index] = { skipped: duplicate(candidate.file, there ? `${there.labelName}/${there.name}` : `${earlier} (in the same upload)`) };
        return;
      }
      firstFileOf.set(image.sha256, candidate.file);
      accepted.push({ index, image });
    });
    if (accepted.length === 0) return outcomes;

    const ids = await store.addChecked(
      userId,
      accepted.map(({ image }) => image),
      (stored) => {
        const inserted = stored.map((storedImage, k) => {
          const candidate = candidates[accepted[k]!.index]!;
          // Another request may have added the same bytes since the check above; this batch then stops whole.
          if (imagesRepo.findByStoredImage(datasetId, storedImage.id)) {
            throw new ConflictError(`${candidate.file} was added to this dataset by another request at the same time. Nothing of this batch was stored; try again.`);
          }
          return imagesRepo.insert({ datasetId, labelId: candidate.labelId, storedImageId: storedImage.id, name: candidate.name, source });
        });
        repo.touch(datasetId);
        return inserted;
      },
    );
    const rows = new Map(imagesRepo.many(datasetId, ids).map((row) => [row.id, row]));
    accepted.forEach(({ index }, k) => (outcomes[index] = { image: rows.get(ids[k]!)! }));
    return outcomes;
  }

  return {
    resolveLabel,
    storeBatch,

    /** Checks and stores uploaded files into one label; refused files and duplicates are skipped, the others kept. */
    async upload(userId: number, datasetId: number, labelRef: LabelById | unknown, files: UploadedFile[], source: 'upload' | 'camera' | 'api') {
      summary(userId, datasetId);
      const target = resolveLabel(datasetId, labelRef);
      if (files.length === 0) throw new ValidationError('Choose at least one image to upload.', { images: 'Choose at least one image.' });
      const names = files.map((file, i) => (source === 'camera' ? captureName() : nameFromUpload(file.originalname, `image-${i + 1}`)));
      const checks = await store.checkEach(files.map((file, i) => store.receivedFile(names[i]!, file.path)));
      const outcomes = await storeBatch(userId, datasetId, source, checks.map((check, i) => ({ file: names[i]!, name: names[i]!, labelId: target.id, check })));
      return {
        label: repo.findLabel(datasetId, target.id)!,
        items: outcomes.flatMap((outcome) => ('image' in outcome ? [outcome.image] : [])),
        skipped: outcomes.flatMap((outcome) => ('skipped' in outcome ? [outcome.skipped] : [])),
      };
    },

    listImages(userId: number, datasetId: number, labelId: number | null, page: number, perPage: number) {
      summary(userId, datasetId);
      if (labelId !== null) label(userId, datasetId, labelId);
      const total = imagesRepo.count(datasetId, labelId);
      return { items: imagesRepo.page(datasetId, labelId, perPage, (page - 1) * perPage), total, page, pages: Math.max(1, Math.ceil(total / perPage)) };
    },

    getImage(userId: number, datasetId: number, imageId: number): DatasetImage {
      summary(userId, datasetId);
      const image = imagesRepo.find(datasetId, imageId);
      if (!image) throw new NotFoundError('We could not find that image.');
      return image;
    },

    /** An image's bytes or thumbnail with what the response headers need (the shape images' sendImage takes). */
    openImage(userId: number, datasetId: number, imageId: number, variant: 'original' | 'thumbnail') {
      summary(userId, datasetId);
      const image = imagesRepo.find(datasetId, imageId);
      const stored = image && store.get(userId, image.storedImageId);
      if (!image || !stored) throw new NotFoundError('We could not find that image.');
      return {
        fileName: safeFileName(image.name, EXTENSIONS[stored.type]),
        contentType: variant === 'original' ? MIME_TYPES[stored.type] : 'image/webp',
        bytes: variant === 'original' ? stored.bytes : stored.thumbnailBytes,
        etag: `"${stored.sha256.slice(0, 32)}${variant === 'original' ? '' : '-t'}"`,
        stream: () => store.read(stored, variant),
      };
    },

    /** Moves images (all of this dataset, else 404) to another label of it. */
    moveImages(userId: number, datasetId: number, imageIds: number[], labelRef: LabelById | unknown): DatasetImage[] {
      summary(userId, datasetId);
      const target = resolveLabel(datasetId, labelRef);
      imagesOf(datasetId, imageIds);
      db.transaction(() => {
        imagesRepo.move(datasetId, imageIds, target.id);
        repo.touch(datasetId);
      })();
      return imagesRepo.many(datasetId, imageIds);
    },

    /** Deletes images of the dataset; a file goes once nothing else (the library, another dataset) refers to it. */
    async removeImages(userId: number, datasetId: number, imageIds: number[]): Promise<number> {
      summary(userId, datasetId);
      const images = imagesOf(datasetId, imageIds);
      await store.release(
        userId,
        images.map((image) => image.storedImageId),
        () => {
          imagesRepo.remove(datasetId, imageIds);
          repo.touch(datasetId);
        },
      );
      return images.length;
    },

    /** Adds library images to a label (of any of the user's datasets) by reference: the bytes are not copied. */
    addFromLibrary(userId: number, datasetId: number, labelId: number, libraryImageIds: number[]) {
      const target = label(userId, datasetId, labelId);
      const picked = library.getAll(userId, libraryImageIds);
      const added: DatasetImage[] = [];
      const skipped: Skipped[] = [];
      db.transaction(() => {
        for (const image of picked) {
          const there = imagesRepo.findByStoredImage(datasetId, image.storedImageId);
          if (there) {
            skipped.push(duplicate(image.name, `${there.labelName}/${there.name}`));
            continue;
          }
          const id = store.reference(userId, image.storedImageId, () =>
            imagesRepo.insert({ datasetId, labelId: target.id, storedImageId: image.storedImageId, name: image.name, source: 'library' }),
          );
          if (id !== null) added.push(imagesRepo.find(datasetId, id)!);
        }
        repo.touch(datasetId);
      })();
      return { dataset: summary(userId, datasetId), label: repo.findLabel(datasetId, target.id)!, added, skipped };
    },

    /**
     * For other features (such as digit corrections): the user's dataset of this name, created when missing, with
     * every label in `labels` added when missing. Names follow the dataset rules (422 otherwise).
     */
    ensureDataset(userId: number, input: { name: string; description?: string; labels: string[] }): DatasetDetails {
      const { name, description, labels } = parseOrThrow(createDatasetSchema, input);
      const existing = repo.findByKey(userId, nameKey(name));
      if (!existing) return create(userId, { name, description, labels });
      db.transaction(() => {
        for (const labelName of labels) if (!repo.findLabelByKey(existing.id, nameKey(labelName))) addLabelTo(existing.id, labelName);
        repo.touch(existing.id);
      })();
      return get(userId, existing.id);
    },

    /**
     * For other features: adds images they have already stored (by stored image id) to the dataset by reference,
     * with missing labels created. `images` is read one item at a time and written 500 per transaction, so 10,000
     * corrections never sit in memory at once; yield them from keyset-paged queries (a live better-sqlite3 iterate()
     * cannot stay open while we write). Ids that are not the user's count as `missing`, the same bytes already in
     * the dataset as `duplicates`.
     */
    async addStoredImages(userId: number, datasetId: number, images: Iterable<StoredImageToAdd> | AsyncIterable<StoredImageToAdd>) {
      summary(userId, datasetId);
      const counts = { added: 0, duplicates: 0, missing: 0 };
      const labelIds = new Map<string, number>();
      const labelFor = (name: string) => {
        const key = nameKey(name);
        let id = labelIds.get(key) ?? repo.findLabelByKey(datasetId, key)?.id;
        id ??= addLabelTo(datasetId, parseOrThrow(labelNameSchema, name)).id;
        labelIds.set(key, id);
        return id;
      };
      const write = (chunk: StoredImageToAdd[]) =>
        db.transaction(() => {
          for (const item of chunk) {
            if (imagesRepo.findByStoredImage(datasetId, item.storedImageId)) {
              counts.duplicates++;
              continue;
            }
            const labelId = labelFor(item.label);
            const name = nameFromUpload(item.name, `image-${item.storedImageId}`);
            const id = store.reference(userId, item.storedImageId, () => imagesRepo.insert({ datasetId, labelId, storedImageId: item.storedImageId, name, source: 'feature' }));
            if (id === null) counts.missing++;
            else counts.added++;
          }
          repo.touch(datasetId);
        })();
      let chunk: StoredImageToAdd[] = [];
      for await (const item of images) {
        chunk.push(item);
        if (chunk.length < FEATURE_CHUNK) continue;
        write(chunk);
        chunk = [];
        await nextTurn();
      }
      write(chunk);
      return counts;
    },
  };
}

export type DatasetImagesService = ReturnType<typeof createDatasetImagesService>;
