import { ZipArchive } from 'archiver';
import type { Readable } from 'node:stream';
import type { Db } from '../../db/database.js';
import { NotFoundError, ServiceUnavailableError, ValidationError } from '../../http/errors.js';
import { RemoverBusyError, type BackgroundRemover } from '../../ml/index.js';
import { ImageInputError } from '../../ml/image-input.js';
import { fileFromBytes, MIME_TYPES, type ImageStore, type StoredImage } from '../../storage/index.js';
import { ProviderError, type BackgroundProviders } from './background-providers.js';
import { createImagesRepo, type ImageSource, type LibraryImage } from './images.repo.js';
import { imageNameSchema, nameFromUpload, type BackgroundRemovalRequest } from './images.schemas.js';

/** A file as multer received it into the store's incoming folder. */
export interface UploadedFile {
  originalname?: string;
  path: string;
}

export interface ImagesServiceDeps {
  db: Db;
  store: ImageStore;
  /** null while the background-removal model is not loaded: removal then answers 503. */
  background: BackgroundRemover | null;
  providers: BackgroundProviders;
}

const EXTENSIONS: Record<LibraryImage['type'], string> = { png: 'png', jpeg: 'jpg', webp: 'webp', gif: 'gif' };

/**
 * A name that is safe as a file name anywhere (zip entries, downloads): no path separators or characters
 * Windows refuses, no leading dots, and the extension of the stored type.
 */
export function fileNameOf(image: Pick<LibraryImage, 'name' | 'type'>): string {
  const extension = EXTENSIONS[image.type];
  const stem = image.name
    .replace(/\.(png|jpe?g|webp|gif)$/i, '')
    .replace(/[/\\:*?"<>|]/g, '_')
    .replace(/^[.\s]+/, '')
    .trim();
  return `${stem || 'image'}.${extension}`;
}

const stemOf = (name: string) => name.replace(/\.[a-z0-9]{1,5}$/i, '');

/** "2026-12-02 14:05:09" for the names of camera captures. */
const captureName = (now = new Date()) => `Camera ${now.toISOString().slice(0, 19).replace('T', ' ')}.jpg`;

export function createImagesService({ db, store, background, providers }: ImagesServiceDeps) {
  const repo = createImagesRepo(db);

  function get(userId: number, id: number): LibraryImage {
    const image = repo.findById(userId, id);
    // A missing image and another user's look the same.
    if (!image) throw new NotFoundError('We could not find that image.');
    return image;
  }

  function getAll(userId: number, ids: number[]): LibraryImage[] {
    const images = repo.findMany(userId, ids);
    if (images.length !== ids.length) throw new NotFoundError('We could not find some of the selected images. They may have been deleted already.');
    return images;
  }

  function storedOf(image: LibraryImage): StoredImage {
    const stored = store.get(image.userId, image.storedImageId);
    if (!stored) throw new NotFoundError('We could not find that image.');
    return stored;
  }

  return {
    get,
    getAll,
    find: (userId: number, id: number): LibraryImage | undefined => repo.findById(userId, id),

    /** Stores the files all or none (see ImageStore.add) and adds them to the library, in order. */
    async upload(userId: number, files: UploadedFile[], source: ImageSource): Promise<LibraryImage[]> {
      if (files.length === 0) throw new ValidationError('Choose at least one image to upload.', { images: 'Choose at least one image.' });
      const names = files.map((file, i) => (source === 'camera' ? captureName() : nameFromUpload(file.originalname, `image-${i + 1}`)));
      return store.add(
        userId,
        files.map((file, i) => store.receivedFile(names[i]!, file.path)),
        (stored) => stored.map((image, i) => repo.insert({ userId, storedImageId: image.id, name: names[i]!, source })),
      );
    },

    list(userId: number, page: number, perPage: number) {
      const total = repo.count(userId);
      return { items: repo.page(userId, perPage, (page - 1) * perPage), total, page, pages: Math.max(1, Math.ceil(total / perPage)) };
    },

    rename(userId: number, id: number, name: unknown): LibraryImage {
      get(userId, id);
      const parsed = imageNameSchema.safeParse(name);
      if (!parsed.success) throw new ValidationError('Please correct the name.', { name: parsed.error.issues[0]!.message });
      repo.rename(userId, id, parsed.data);
      return get(userId, id);
    },

    /** Deletes the images (all must be the user's); a file goes once no image or other feature refers to it. */
    async remove(userId: number, ids: number[]): Promise<number> {
      const images = getAll(userId, ids);
      await store.release(
        userId,
        images.map((image) => image.storedImageId),
        () => images.forEach((image) => repo.remove(userId, image.id)),
      );
      return images.length;
    },

    /** The bytes of an image or its thumbnail, with what the response headers need. */
    open(userId: number, id: number, variant: 'original' | 'thumbnail') {
      const image = get(userId, id);
      const stored = storedOf(image);
      return {
        image,
        fileName: fileNameOf(image),
        contentType: variant === 'original' ? MIME_TYPES[stored.type] : 'image/webp',
        bytes: variant === 'original' ? stored.bytes : stored.thumbnailBytes,
        etag: `"${stored.sha256.slice(0, 32)}${variant === 'original' ? '' : '-t'}"`,
        stream: () => store.read(stored, variant),
      };
    },

    /** A zip of the selected images, streamed: entries are stored uncompressed (images are compressed already). */
    zip(userId: number, ids: number[]): Readable {
      const images = getAll(userId, ids);
      const archive = new ZipArchive({ store: true });
      const used = new Set<string>();
      for (const image of images) {
        let name = fileNameOf(image);
        for (let n = 2; used.has(name.toLowerCase()); n++) name = fileNameOf({ ...image, name: `${stemOf(image.name)} (${n})` });
        used.add(name.toLowerCase());
        archive.append(store.read(storedOf(image)), { name, date: new Date(image.createdAt) });
      }
      void archive.finalize();
      return archive;
    },

    usage: (userId: number) => store.usage(userId),
    /** Every user's number of library images, for the admin user pages. */
    countByUser: () => repo.countByUser(),

    /** What the background-removal form may offer besides the built-in methods. */
    externalProviders: () => providers.configured(),
    backgroundAvailable: () => background !== null,

    /**
     * Removes the background of an image into a new image derived from it; the original stays as it was. An
     * external provider that fails falls back to the built-in method, and `notice` says why.
     */
    async removeBackground(userId: number, id: number, request: BackgroundRemovalRequest): Promise<{ image: LibraryImage; notice: string | null }> {
      const original = get(userId, id);
      if (!background) throw new ServiceUnavailableError('Background removal is not available right now: its model is not loaded.');
      if (request.provider !== 'builtin') {
        if (request.mode !== 'photo') throw new ValidationError('External providers are for photo mode only.', { provider: 'Use builtin for document and plain modes.' });
        if (!providers.configured().includes(request.provider)) {
          throw new ValidationError(`${request.provider} is not configured on this server.`, { provider: `${request.provider} is not configured on this server.` });
        }
      }
      const stored = storedOf(original);
      const bytes = await store.readBytes(stored);

      let result = null;
      let notice: string | null = null;
      let provider = request.provider;
      if (request.provider !== 'builtin') {
        try {
          const cutout = await providers.cutOut(request.provider, bytes, MIME_TYPES[stored.type]);
          result = await background.fromCutout(cutout, { output: request.output, color: request.color });
        } catch (err) {
          if (!(err instanceof ProviderError) && !(err instanceof ImageInputError)) throw err;
          notice = `${err instanceof ProviderError ? err.message : `${request.provider} sent back an image that could not be read.`} The built-in method was used instead.`;
          provider = 'builtin';
        }
      }
      try {
        result ??= await background.remove(bytes, { mode: request.mode, output: request.output, color: request.color, strength: request.strength, ink: request.ink });
      } catch (err) {
        if (err instanceof RemoverBusyError) throw new ServiceUnavailableError(err.message);
        throw err;
      }

      const what = request.output === 'mask' ? 'mask' : request.output === 'color' ? 'new background' : 'background removed';
      const name = `${stemOf(original.name)} (${what}).${result.type === 'jpeg' ? 'jpg' : 'png'}`;
      const derivation = { ...request, provider, method: result.method, ...(notice ? { notice } : {}) };
      const [image] = await store.add(userId, [fileFromBytes(name, result.bytes)], ([storedResult]) => [
        repo.insert({ userId, storedImageId: storedResult!.id, name, source: 'background_removal', derivedFromId: original.id, derivation }),
      ]);
      return { image: image!, notice };
    },
  };
}

export type ImagesService = ReturnType<typeof createImagesService>;
