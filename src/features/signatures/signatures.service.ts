import type { Db } from '../../db/database.js';
import type { SignatureModel } from '../../ml/index.js';
import type { ImageStore } from '../../storage/index.js';
import type { ImagesService } from '../images/index.js';
import { createReferencesService, type SignatureLimits } from './references.service.js';
import { createSignersService } from './signers.service.js';
import { createVerificationsService } from './verifications.service.js';

export interface SignaturesServiceDeps {
  db: Db;
  store: ImageStore;
  /** The image library, for references and questioned signatures picked from it. */
  images: ImagesService;
  /** null while the signature model is not loaded: signers still work, adding references and verifying answer 503. */
  model: SignatureModel | null;
  limits: SignatureLimits;
}

/** Signature verification: signers, their reference signatures, and verifications with a three-way decision. */
export function createSignaturesService({ db, store, images, model, limits }: SignaturesServiceDeps) {
  const signers = createSignersService({ db, store });
  const references = createReferencesService({ db, store, images, signers, model, limits });
  const verifications = createVerificationsService({ db, store, images, signers, references, model, limits });
  return {
    signers,
    references,
    verifications,
    limits,
    /** Whether references can be added and signatures verified (the model is loaded). */
    available: () => model?.inconclusiveBand != null,
    /** A file multer received, for the store to check and keep. */
    received: ({ name, path }: { name: string; path: string }) => store.receivedFile(name, path),
    /** The library's images, for the pages that pick one. */
    libraryPage: (userId: number, page: number, perPage: number) => images.list(userId, page, perPage),
    findLibraryImage: (userId: number, id: number) => images.find(userId, id),
    /** The stored image of a reference or a verification, to send it (callers found it through the user's own rows). */
    storedImage(userId: number, storedImageId: number) {
      const image = store.get(userId, storedImageId);
      return image && { image, stream: (variant: 'original' | 'thumbnail') => store.read(image, variant) };
    },
  };
}

export type SignaturesService = ReturnType<typeof createSignaturesService>;
