import { availableParallelism } from 'node:os';
import type { ReadStream } from 'node:fs';
import type { Db } from '../db/database.js';
import { ConflictError, PayloadTooLargeError, ValidationError } from '../http/errors.js';
import { createLimiter } from '../lib/limiter.js';
import { formatBytes } from '../lib/format.js';
import { createFileArea } from './files.js';
import { checkImage, ImageRefusal, type CheckedImage, type ImageRefusalReason } from './image-check.js';
import { createStoredImagesRepo, type StoredImage } from './stored-images.repo.js';

export interface IncomingFile {
  /** The name the user gave the file; only used in messages. */
  name: string;
  /** Called when the store is ready to check the file, so that only a few are in memory at once. */
  read(): Promise<Uint8Array>;
}

/** A file made in memory (such as a background-removal result). */
export const fileFromBytes = (name: string, bytes: Uint8Array): IncomingFile => ({ name, read: async () => bytes });

export interface FileRefusal {
  name: string;
  /** The store's ImageRefusalReason, or a feature's own check of the content (signatures refuse blank images: no_ink). */
  reason: ImageRefusalReason | (string & {});
  message: string;
}

/** What checkEach says of one file: the image as it would be stored (bytes, sha256, size), or why it was refused. */
export type CheckResult = { image: CheckedImage } | { refusal: FileRefusal };

/**
 * One or more files were refused, so nothing was stored. `fields` maps each refused file's name to its
 * reason code (API clients switch on it); the message says the same in words.
 */
export class ImagesRefusedError extends ValidationError {
  constructor(
    readonly refusals: FileRefusal[],
    total: number,
  ) {
    const message =
      total === 1
        ? refusals[0]!.message
        : `Nothing was stored: ${refusals.length} of ${total} files ${refusals.length === 1 ? 'was' : 'were'} refused. ` +
          refusals.map((r) => `${r.name}: ${r.message}`).join(' ');
    super(message, Object.fromEntries(refusals.map((r) => [r.name, r.reason])), 'image_refused');
  }
}

export interface StorageUsage {
  usedBytes: number;
  quotaBytes: number;
}

export interface ImageStoreOptions {
  db: Db;
  uploadDir: string;
  maxPixels: number;
  quotaBytes: number;
}

/** Files without a row younger than this survive the sweep: they may belong to an upload still in progress. */
export const SWEEP_GRACE_MS = 60 * 60 * 1000;

/** Unique keys for error.fields when one request carries two files of the same name. */
function uniqueNames(files: IncomingFile[]): string[] {
  const seen = new Map<string, number>();
  return files.map(({ name }) => {
    const count = (seen.get(name) ?? 0) + 1;
    seen.set(name, count);
    return count === 1 ? name : `${name} (${count})`;
  });
}

/**
 * The one place that writes, reads and deletes image files. Features keep their own tables, point at a
 * stored image's id and call `add` / `reference` / `release` with a callback that writes their own rows in
 * the same transaction as the store's, so a feature row never points at a missing image.
 */
export function createImageStore({ db, uploadDir, maxPixels, quotaBytes }: ImageStoreOptions) {
  const repo = createStoredImagesRepo(db);
  const files = createFileArea(uploadDir);
  // Decoding is the memory-hungry step (a 50 MP image is 200 MB of pixels): a few at a time, whatever the load.
  const limitDecoding = createLimiter(Math.max(2, availableParallelism()));

  /** Checks each file on its own: its checked image, or why it was refused. Nothing is thrown for a refusal, nothing stored. */
  async function checkEach(incoming: IncomingFile[]): Promise<CheckResult[]> {
    const names = uniqueNames(incoming);
    const results = await Promise.allSettled(incoming.map((file) => limitDecoding(async () => checkImage(await file.read(), { maxPixels }))));
    return results.map((result, i) => {
      if (result.status === 'fulfilled') return { image: result.value };
      if (!(result.reason instanceof ImageRefusal)) throw result.reason;
      return { refusal: { name: names[i]!, reason: result.reason.reason, message: result.reason.message } };
    });
  }

  async function checkAll(incoming: IncomingFile[]): Promise<CheckedImage[]> {
    const results = await checkEach(incoming);
    const refusals = results.flatMap((result) => ('refusal' in result ? [result.refusal] : []));
    if (refusals.length) throw new ImagesRefusedError(refusals, incoming.length);
    return results.map((result) => (result as { image: CheckedImage }).image);
  }

  function quotaError(userId: number, needed: number): PayloadTooLargeError {
    const used = repo.usage(userId);
    return new PayloadTooLargeError(
      `Not enough storage: this upload needs ${formatBytes(needed)}, and ${formatBytes(Math.max(0, quotaBytes - used))} of your ` +
        `${formatBytes(quotaBytes)} are free (${formatBytes(used)} used). Delete some images and try again. Nothing was stored.`,
    );
  }

  async function addChecked<T>(userId: number, checked: CheckedImage[], link: (images: StoredImage[]) => T): Promise<T> {
    // One write per distinct image not already stored; the same bytes twice in one upload are stored once.
    const toWrite = new Map<string, CheckedImage>();
    for (const image of checked) if (!repo.findBySha(userId, image.sha256)) toWrite.set(image.sha256, image);
    const needed = [...toWrite.values()].reduce((sum, image) => sum + image.bytes.length + image.thumbnail.length, 0);
    if (repo.usage(userId) + needed > quotaBytes) throw quotaError(userId, needed);

    const written = new Map<string, { file: string; thumbnailFile: string }>();
    const cleanUp = () => files.remove([...written.values()].flatMap((w) => [w.file, w.thumbnailFile]));
    try {
      await Promise.all(
        [...toWrite.values()].map(async (image) => {
          const paths = { file: files.newPath(userId, image.type === 'jpeg' ? 'jpg' : image.type), thumbnailFile: files.newPath(userId, 'webp') };
          written.set(image.sha256, paths);
          await Promise.all([files.writeDurably(paths.file, image.bytes), files.writeDurably(paths.thumbnailFile, image.thumbnail)]);
        }),
      );
      const { result, unused } = db.transaction(() => {
        const unusedWrites: string[] = [];
        const bySha = new Map<string, StoredImage>();
        for (const image of checked) {
          if (bySha.has(image.sha256)) continue;
          let row = repo.findBySha(userId, image.sha256);
          const paths = written.get(image.sha256);
          // A concurrent upload may have stored the same bytes since the check above: keep its copy.
          if (row && paths) unusedWrites.push(paths.file, paths.thumbnailFile);
          // Or a concurrent delete may have removed the copy this upload meant to share.
          if (!row && !paths) throw new ConflictError('An image was deleted while this upload was being stored. Please try again.');
          row ??= repo.insert({
            userId,
            sha256: image.sha256,
            type: image.type,
            width: image.width,
            height: image.height,
            bytes: image.bytes.length,
            file: paths!.file,
            thumbnailFile: paths!.thumbnailFile,
            thumbnailBytes: image.thumbnail.length,
          });
          bySha.set(image.sha256, row);
        }
        for (const image of checked) repo.addReferences(userId, bySha.get(image.sha256)!.id, 1);
        // Checked again inside the transaction: two uploads racing each other cannot both pass the quota.
        if (repo.usage(userId) > quotaBytes) throw quotaError(userId, needed);
        const stored = checked.map((image) => repo.findById(userId, bySha.get(image.sha256)!.id)!);
        return { result: link(stored), unused: unusedWrites };
      })();
      await files.remove(unused);
      return result;
    } catch (err) {
      await cleanUp();
      throw err;
    }
  }

  return {
    /** Where multipart uploads are received before they are checked; swept like the rest of .tmp. */
    incomingDir: files.incomingDir,

    /** An upload received into incomingDir. */
    receivedFile: (name: string, receivedPath: string): IncomingFile => ({ name, read: () => files.readIncoming(receivedPath) }),

    /**
     * Checks every file, then stores them all or none: refused files throw ImagesRefusedError (422), an upload
     * beyond the quota PayloadTooLargeError (413). Bytes the user has already stored are kept once. `link`
     * runs inside the transaction that records the images and gets them in the order of `incoming`.
     */
    async add<T>(userId: number, incoming: IncomingFile[], link: (images: StoredImage[]) => T): Promise<T> {
      return addChecked(userId, await checkAll(incoming), link);
    },

    /**
     * The first half of add(), for a caller with work of its own to do on the files meanwhile (a model reading
     * them): starts checking every file and gives what would be stored, or ImagesRefusedError. Writes nothing;
     * give the result to addChecked. The promise may be awaited late, after the caller's own work: a refusal is
     * thrown where it is awaited, never reported as an unhandled rejection before that.
     */
    check(incoming: IncomingFile[]): Promise<CheckedImage[]> {
      const checking = checkAll(incoming);
      checking.catch(() => {});
      return checking;
    },

    /**
     * For a caller that keeps what passes and reports the rest (a zip import): checks each file, without storing
     * anything; give the accepted images to addChecked. Holds the checked bytes in memory, so go a batch at a time.
     */
    checkEach,

    /** The second half of add(): stores images that checkEach accepted (quota checked, the same bytes kept once). */
    addChecked,

    /** One more reference to an image the user already has (a feature reusing a library image); null if it is not theirs. */
    reference<T>(userId: number, storedImageId: number, link: (image: StoredImage) => T): T | null {
      return db.transaction(() => {
        const image = repo.findById(userId, storedImageId);
        if (!image) return null;
        repo.addReferences(userId, image.id, 1);
        return link(image);
      })();
    },

    /**
     * Drops one reference per id, in the same transaction as `unlink` (which deletes the feature's rows); an
     * image nobody refers to any more is deleted, its files after the commit.
     */
    async release<T>(userId: number, storedImageIds: number[], unlink: () => T): Promise<T> {
      const { result, orphaned } = db.transaction(() => {
        const value = unlink();
        const paths: string[] = [];
        for (const id of storedImageIds) repo.addReferences(userId, id, -1);
        for (const id of new Set(storedImageIds)) {
          const deleted = repo.deleteIfUnreferenced(userId, id);
          if (deleted) paths.push(deleted.file, deleted.thumbnailFile);
        }
        return { result: value, orphaned: paths };
      })();
      await files.remove(orphaned);
      return result;
    },

    get: (userId: number, storedImageId: number): StoredImage | undefined => repo.findById(userId, storedImageId),

    /** The bytes of a stored image or its thumbnail. The caller has found `image` through get(), so it is the user's. */
    read(image: StoredImage, variant: 'original' | 'thumbnail' = 'original'): ReadStream {
      return files.read(variant === 'original' ? image.file : image.thumbnailFile);
    },

    /** Reads a whole stored image into memory (for processing it, such as background removal). */
    readBytes: (image: StoredImage): Promise<Buffer> => files.readWhole(image.file),

    usage: (userId: number): StorageUsage => ({ usedBytes: repo.usage(userId), quotaBytes }),

    /** Every user's bytes on disk (originals and thumbnails), for the admin user pages. */
    usageByUser: () => repo.usageByUser(),

    /** After an account is deleted (its rows went with it, ON DELETE CASCADE): its files go too. */
    removeUser: (userId: number) => files.removeUser(userId),

    /** Deletes files no row claims (a crash between writing a file and committing its row), older than `graceMs`. */
    sweep(graceMs = SWEEP_GRACE_MS): Promise<number> {
      const known = new Map<number, Set<string>>();
      return files.sweep((userId, file) => {
        if (!known.has(userId)) known.set(userId, repo.filesOfUser(userId));
        return known.get(userId)!.has(file);
      }, graceMs);
    },
  };
}

export type ImageStore = ReturnType<typeof createImageStore>;
