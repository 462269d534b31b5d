import { performance } from 'node:perf_hooks';
import type { Db } from '../../db/database.js';
import { AppError, NotFoundError, ServiceUnavailableError, ValidationError } from '../../http/errors.js';
import { csvLine } from '../../lib/csv.js';
import {
  cropImage,
  CropError,
  decideSignature,
  ImageInputError,
  inkMapToPng,
  scoreSignature,
  scoringRuleOf,
  type CropRect,
  type InconclusiveBand,
  type SignatureModel,
} from '../../ml/index.js';
import { fileFromBytes, ImagesRefusedError, type ImageStore, type IncomingFile } from '../../storage/index.js';
import type { ImagesService } from '../images/index.js';
import type { SignatureSource } from './references.repo.js';
import type { ReferencesService, SignatureLimits } from './references.service.js';
import { cropText, PER_PAGE } from './signatures.schemas.js';
import type { SignersService } from './signers.service.js';
import { createVerificationsRepo, type Truth, type Verification } from './verifications.repo.js';

export class TooFewReferencesError extends AppError {
  constructor(min: number, count: number, outliers: number) {
    const leftOut = outliers === 0 ? '' : ` usable ones (${outliers} more ${outliers === 1 ? 'is an outlier' : 'are outliers'}, left out: delete or replace ${outliers === 1 ? 'it' : 'them'})`;
    super(409, 'too_few_references', `Verification needs at least ${min} reference signatures; this signer has ${count}${leftOut}. Add ${min - count} more first.`);
  }
}

/** The questioned signature: an uploaded file, or an image of the user's library. */
export type QuestionedImage = { file: IncomingFile } | { libraryImageId: number };

export interface VerifyRequest {
  image: QuestionedImage;
  crop: CropRect | null;
  source: SignatureSource;
}

export interface VerificationsDeps {
  db: Db;
  store: ImageStore;
  images: ImagesService;
  signers: SignersService;
  references: ReferencesService;
  model: SignatureModel | null;
  limits: SignatureLimits;
}

const CSV_COLUMNS = [
  'id', 'created_at', 'run_by', 'source', 'decision', 'score', 'threshold', 'band_low', 'band_high', 'model_version',
  'crop', 'references', 'similarities', 'left_out', 'duration_ms', 'truth', 'truth_marked_at',
];

/** Verifying questioned signatures against a signer's references, and the append-only history of it. */
export function createVerificationsService({ db, store, images, signers, references, model, limits }: VerificationsDeps) {
  const repo = createVerificationsRepo(db);

  function requireModel(): SignatureModel & { inconclusiveBand: InconclusiveBand } {
    if (!model?.inconclusiveBand) throw new ServiceUnavailableError('Signature verification is not available right now: the signature model is not loaded.');
    return model as SignatureModel & { inconclusiveBand: InconclusiveBand };
  }

  function get(userId: number, id: number): Verification {
    const verification = repo.findById(userId, id);
    if (!verification) throw new NotFoundError('We could not find that verification.');
    return verification;
  }

  /** The region to verify: the whole image, or the crop cut out of it. Bad crops and unreadable images answer 422. */
  async function embedQuestioned(signatureModel: SignatureModel, name: string, bytes: Uint8Array, crop: CropRect | null) {
    try {
      const region = crop ? await cropImage(bytes, crop, { maxPixels: limits.maxPixels }) : bytes;
      return (await signatureModel.embedFilesWithInkMaps([region], { maxPixels: limits.maxPixels }))[0]!;
    } catch (err) {
      if (err instanceof CropError) throw new ValidationError(err.message, { crop: err.message }, 'bad_crop');
      if (err instanceof ImageInputError) throw new ImagesRefusedError([{ name, reason: err.reason, message: err.message }], 1);
      throw err;
    }
  }

  return {
    get,

    /**
     * Scores the questioned signature against every reference of the signer (embeddings of the active model
     * version), decides genuine / forged / inconclusive with the card's band, and records it with the image.
     */
    async verify(userId: number, signerId: number, { image, crop, source }: VerifyRequest): Promise<Verification> {
      const started = performance.now();
      signers.get(userId, signerId);
      const signatureModel = requireModel();
      let { used, outliers } = await references.usable(userId, signerId);
      if (used.length < limits.minReferences) throw new TooFewReferencesError(limits.minReferences, used.length, outliers.length);

      const library = 'libraryImageId' in image ? images.get(userId, image.libraryImageId) : null;
      const stored = library ? store.get(userId, library.storedImageId) : null;
      if (library && !stored) throw new NotFoundError('We could not find that image.');
      const name = library ? library.name : (image as { file: IncomingFile }).file.name;
      const bytes = stored ? await store.readBytes(stored) : await (image as { file: IncomingFile }).file.read();

      // The store checks a new upload (full decode, thumbnail) while the model reads it: the two take about as long.
      // Nothing is written unless both pass, and the model's refusal (no_ink...) is the one reported when both refuse.
      const checking = stored ? null : store.check([fileFromBytes(name, bytes)]);
      let questioned = await embedQuestioned(signatureModel, name, bytes, crop);
      // Another version may have been activated meanwhile: embeddings of two versions are never compared, so the
      // references are brought to the questioned signature's version, or it is embedded again (a few rounds at most).
      for (let round = 0; round < 3 && used.some((reference) => reference.modelVersion !== questioned.version); round++) {
        ({ used, outliers } = await references.usable(userId, signerId));
        if (used.length < limits.minReferences) throw new TooFewReferencesError(limits.minReferences, used.length, outliers.length);
        if (used.some((reference) => reference.modelVersion !== questioned.version)) questioned = await embedQuestioned(signatureModel, name, bytes, crop);
      }
      if (used.some((reference) => reference.modelVersion !== questioned.version)) {
        throw new ServiceUnavailableError('The signature model is being changed right now. Please try again in a moment.');
      }
      // The rules of the version that answered, not of whichever is active by now.
      const rules = signatureModel.rulesOf(questioned.version) ?? signatureModel;
      const band = rules.inconclusiveBand ?? signatureModel.inconclusiveBand;
      const result = scoreSignature(questioned.embedding, used.map((reference) => reference.embedding), rules.threshold, scoringRuleOf(rules.card));
      const inkMap = inkMapToPng(questioned.inkMap);
      const record = (storedImageId: number) =>
        repo.insert({
          signerId,
          userId,
          storedImageId,
          source,
          crop: crop && cropText(crop),
          score: result.score,
          decision: decideSignature(result.score, band),
          threshold: rules.threshold,
          bandLow: band.low,
          bandHigh: band.high,
          similarities: used.map((reference, i) => ({ reference_id: reference.id, similarity: result.similarities[i]! })),
          leftOut: outliers.map((reference) => reference.id),
          modelVersion: questioned.version,
          durationMs: performance.now() - started,
          inkMap,
        });
      if (stored) {
        const verification = store.reference(userId, stored.id, (found) => record(found.id));
        if (!verification) throw new NotFoundError('We could not find that image.');
        return verification;
      }
      // The questioned image is kept as received (the crop is recorded beside it), so the history shows what was checked.
      const [verification] = await store.addChecked(userId, await checking!, ([found]) => [record(found!.id)]);
      return verification!;
    },

    history(userId: number, signerId: number, page: number) {
      signers.get(userId, signerId);
      const total = repo.count(userId, signerId);
      return { items: repo.page(userId, signerId, PER_PAGE, (page - 1) * PER_PAGE), total, page, pages: Math.max(1, Math.ceil(total / PER_PAGE)) };
    },

    /** Records the true outcome once known (null: not known after all). The decision itself never changes. */
    markTruth(userId: number, id: number, truth: Truth | null): Verification {
      get(userId, id);
      repo.markTruth(userId, id, truth);
      return get(userId, id);
    },

    inkMap(userId: number, id: number): Buffer {
      const inkMap = repo.inkMap(userId, id);
      if (!inkMap) throw new NotFoundError('We could not find that verification.');
      return inkMap;
    },

    /** The whole history of a signer as CSV lines, oldest first, made as they are read (404 before the first line). */
    csv(userId: number, signerId: number): Iterable<string> {
      signers.get(userId, signerId);
      return (function* lines() {
        yield csvLine(CSV_COLUMNS);
        for (const v of repo.each(userId, signerId)) {
          yield csvLine([
            v.id, v.createdAt, v.username, v.source, v.decision, v.score, v.threshold, v.bandLow, v.bandHigh, v.modelVersion, v.crop ?? '',
            v.similarities.map((s) => s.reference_id).join(' '), v.similarities.map((s) => s.similarity.toFixed(4)).join(' '), v.leftOut.join(' '),
            Math.round(v.durationMs), v.truth ?? '', v.truthMarkedAt ?? '',
          ]);
        }
      })();
    },
  };
}

export type VerificationsService = ReturnType<typeof createVerificationsService>;
