import type { Db } from '../../db/database.js';
import { AppError, NotFoundError, ServiceUnavailableError, ValidationError } from '../../http/errors.js';
import { createLimiter } from '../../lib/limiter.js';
import { ImageInputError, inkMapToPng, scoreSignature, scoringRuleOf, type ReferenceChecks, type SignatureModel } from '../../ml/index.js';
import { ImagesRefusedError, type FileRefusal, type ImageStore, type IncomingFile, type StoredImage } from '../../storage/index.js';
import type { ImagesService } from '../images/index.js';
import { createReferencesRepo, type SignatureReference, type SignatureSource } from './references.repo.js';
import type { SignersService } from './signers.service.js';

export interface SignatureLimits {
  /** Verification needs at least this many references; a signer may have at most maxReferences. */
  minReferences: number;
  maxReferences: number;
  maxPixels: number;
}

export type WarningCode = 'near_duplicate' | 'outlier';

export interface ReferenceWarning {
  reference_id: number;
  code: WarningCode;
  message: string;
}

/** An image the model could read, with what it saw and the model version that embedded it. */
export interface EmbeddedImage {
  embedding: Float32Array;
  inkMap: Float32Array;
  version: string;
}

/**
 * How often the references are brought to the active version in one call: another version may be activated
 * while they are recomputed (src/features/models), and then they are recomputed again, but not for ever.
 */
const MAX_RECOMPUTE_ROUNDS = 3;

/** Images are prepared and embedded a few at a time: each holds an uploaded file in memory meanwhile. */
const EMBED_CONCURRENCY = 4;

const similarity = (a: Float32Array, b: Float32Array) => a.reduce((sum, value, i) => sum + value * b[i]!, 0);
const fixed = (value: number) => value.toFixed(3).replace('-', '−');

/**
 * Warnings about a signer's references (kept, but worth a look): a reference almost identical to an earlier one
 * adds nothing, and one far from the others (scored against them as a questioned signature would be) is
 * probably someone else's signature or a bad scan. `only` limits them to some references (a new upload's).
 */
export function referenceWarnings(references: SignatureReference[], checks: ReferenceChecks, rule: ReturnType<typeof scoringRuleOf>, only?: Set<number>): ReferenceWarning[] {
  const warnings: ReferenceWarning[] = [];
  references.forEach((reference, i) => {
    if (only && !only.has(reference.id)) return;
    const earlier = references.slice(0, i).map((other) => ({ other, value: similarity(reference.embedding, other.embedding) }));
    const twin = earlier.sort((a, b) => b.value - a.value)[0];
    if (twin && twin.value >= checks.nearDuplicateSimilarity) {
      warnings.push({
        reference_id: reference.id,
        code: 'near_duplicate',
        message:
          `Reference #${reference.id} is almost identical to reference #${twin.other.id} (similarity ${fixed(twin.value)}). ` +
          'A copy of the same signing adds nothing: references should be separate signatures, so that the comparison knows how this person\'s signature varies.',
      });
    }
    // Scored against the others, a reference needs two of them (the rule's normalisation compares them with each other).
    if (references.length < 3) return;
    const others = references.filter((other) => other !== reference).map((other) => other.embedding);
    const { score } = scoreSignature(reference.embedding, others, 0, rule);
    if (score < checks.outlierScoreBelow) {
      warnings.push({
        reference_id: reference.id,
        code: 'outlier',
        message:
          `Reference #${reference.id} is far from this signer's other references (score ${fixed(score)} against them; below ${fixed(checks.outlierScoreBelow)} is unusual for ` +
          'a person\'s own signatures). It is probably someone else\'s signature, or a bad scan or crop: check its ink map, and delete it if it does not belong. ' +
          'Until then it is left out of verifications.',
      });
    }
  });
  return warnings;
}

export class TooManyReferencesError extends ValidationError {
  constructor(max: number, existing: number, adding: number) {
    const room = Math.max(0, max - existing);
    const message = `A signer has at most ${max} references. This one has ${existing}, so ${room === 0 ? 'no more can be added: delete one first' : `at most ${room} more can be added, not ${adding}`}.`;
    super(message, { images: message }, 'too_many_references');
  }
}

export interface ReferencesDeps {
  db: Db;
  store: ImageStore;
  images: ImagesService;
  signers: SignersService;
  model: SignatureModel | null;
  limits: SignatureLimits;
}

/** Reference signatures: added from uploads, drawings, the camera or the library; embedded once per model version. */
export function createReferencesService({ db, store, images, signers, model, limits }: ReferencesDeps) {
  const repo = createReferencesRepo(db);
  const limitEmbedding = createLimiter(EMBED_CONCURRENCY);

  function requireModel(): SignatureModel & { referenceChecks: ReferenceChecks } {
    if (!model?.referenceChecks) throw new ServiceUnavailableError('Signature verification is not available right now: the signature model is not loaded.');
    return model as SignatureModel & { referenceChecks: ReferenceChecks };
  }

  /** Embeds each image; any it cannot read makes the whole request 422 with every refused file named. */
  async function embedEach(files: IncomingFile[]): Promise<EmbeddedImage[]> {
    const signatureModel = requireModel();
    const results = await Promise.allSettled(
      files.map((file) => limitEmbedding(async () => (await signatureModel.embedFilesWithInkMaps([await file.read()], { maxPixels: limits.maxPixels }))[0]!)),
    );
    const refusals: FileRefusal[] = [];
    results.forEach((result, i) => {
      if (result.status === 'fulfilled') return;
      if (!(result.reason instanceof ImageInputError)) throw result.reason;
      refusals.push({ name: files[i]!.name, reason: result.reason.reason, message: result.reason.message });
    });
    if (refusals.length) throw new ImagesRefusedError(refusals, files.length);
    return results.map((result) => (result as PromiseFulfilledResult<EmbeddedImage>).value);
  }

  function checkRoom(userId: number, signerId: number, adding: number): void {
    const existing = repo.count(userId, signerId);
    if (existing + adding > limits.maxReferences) throw new TooManyReferencesError(limits.maxReferences, existing, adding);
  }

  /** Inside the store's transaction: a byte-identical copy of a reference (or of another file in the same request) is refused. */
  function insertAll(userId: number, signerId: number, stored: StoredImage[], names: string[], embedded: EmbeddedImage[], inkMaps: Buffer[], source: SignatureSource): number[] {
    checkRoom(userId, signerId, stored.length);
    const taken = new Set(repo.storedImageIds(userId, signerId));
    const refusals: FileRefusal[] = [];
    stored.forEach((image, i) => {
      if (taken.has(image.id)) refusals.push({ name: names[i]!, reason: 'duplicate', message: 'The file is a byte-identical copy of a reference this signer already has.' });
      taken.add(image.id);
    });
    if (refusals.length) throw new ImagesRefusedError(refusals, stored.length);
    return stored.map((image, i) =>
      // The version that really embedded it: another may have been activated since the request began.
      repo.insert({ signerId, userId, storedImageId: image.id, source, embedding: embedded[i]!.embedding, modelVersion: embedded[i]!.version, inkMap: inkMaps[i]! }),
    );
  }

  /**
   * The signer's references with embeddings of the active model version: any made by another version is first
   * recomputed from its stored image (embeddings of two versions are never compared). When a version is activated
   * meanwhile, they are brought to that one (see MAX_RECOMPUTE_ROUNDS).
   */
  async function current(userId: number, signerId: number): Promise<SignatureReference[]> {
    let references: SignatureReference[] = [];
    for (let round = 0; round < MAX_RECOMPUTE_ROUNDS; round++) {
      references = await currentOnce(userId, signerId);
      const version = requireModel().card.version;
      if (references.every((reference) => reference.modelVersion === version)) return references;
    }
    return references;
  }

  async function currentOnce(userId: number, signerId: number): Promise<SignatureReference[]> {
    const signatureModel = requireModel();
    const version = signatureModel.card.version;
    const references = repo.ofSigner(userId, signerId);
    const stale = references.filter((reference) => reference.modelVersion !== version);
    if (stale.length === 0) return references;
    const fresh = await Promise.all(
      stale.map((reference) =>
        limitEmbedding(async () => {
          const image = store.get(userId, reference.storedImageId)!;
          let embedded: EmbeddedImage;
          try {
            [embedded] = (await signatureModel.embedFilesWithInkMaps([await store.readBytes(image)], { maxPixels: limits.maxPixels })) as [EmbeddedImage];
          } catch (err) {
            if (!(err instanceof ImageInputError)) throw err;
            throw new AppError(409, 'reference_unreadable', `Reference #${reference.id} cannot be read by signature model ${version} (${err.message}) Delete it, then try again.`);
          }
          return { reference, embedded, inkMap: inkMapToPng(embedded.inkMap) };
        }),
      ),
    );
    db.transaction(() => {
      for (const { reference, embedded, inkMap } of fresh) repo.updateEmbedding(reference.id, reference.modelVersion, embedded.embedding, embedded.version, inkMap);
    })();
    // Read again: references deleted meanwhile drop out; one added meanwhile by another version waits for the next call.
    // When every embedding answered with one version (the usual case), that one is kept; else current() tries again.
    const answered = new Set(fresh.map(({ embedded }) => embedded.version));
    const kept = answered.size === 1 ? [...answered][0]! : version;
    return repo.ofSigner(userId, signerId).filter((reference) => reference.modelVersion === kept);
  }

  function get(userId: number, signerId: number, id: number): SignatureReference {
    signers.get(userId, signerId);
    const reference = repo.findById(userId, signerId, id);
    if (!reference) throw new NotFoundError('We could not find that reference signature.');
    return reference;
  }

  async function added(userId: number, signerId: number, ids: number[]) {
    const references = await current(userId, signerId);
    const warnings = referenceWarnings(references, requireModel().referenceChecks, scoringRuleOf(requireModel().card), new Set(ids));
    return { items: references.filter((reference) => ids.includes(reference.id)), warnings };
  }

  return {
    current,
    minReferences: limits.minReferences,
    maxReferences: limits.maxReferences,

    /**
     * The references a verification compares with: the current ones but the outliers, which would distort every
     * score (one other person's signature among the references makes the rest look less alike, and forgeries pass).
     */
    async usable(userId: number, signerId: number): Promise<{ used: SignatureReference[]; outliers: SignatureReference[] }> {
      const all = await current(userId, signerId);
      const signatureModel = requireModel();
      const outlierIds = new Set(
        referenceWarnings(all, signatureModel.referenceChecks, scoringRuleOf(signatureModel.card)).filter((w) => w.code === 'outlier').map((w) => w.reference_id),
      );
      return { used: all.filter((r) => !outlierIds.has(r.id)), outliers: all.filter((r) => outlierIds.has(r.id)) };
    },

    /** Every reference with its current warnings (embeddings of the active version; no warnings while the model is not loaded). */
    async list(userId: number, signerId: number): Promise<{ items: SignatureReference[]; warnings: ReferenceWarning[] }> {
      signers.get(userId, signerId);
      if (!model?.referenceChecks) return { items: repo.ofSigner(userId, signerId), warnings: [] };
      const items = await current(userId, signerId);
      return { items, warnings: referenceWarnings(items, model.referenceChecks, scoringRuleOf(model.card)) };
    },

    /** Uploaded files (or drawings, camera photos), all or none: refused files and byte-identical copies answer 422. */
    async add(userId: number, signerId: number, files: IncomingFile[], source: SignatureSource) {
      signers.get(userId, signerId);
      requireModel();
      if (files.length === 0) throw new ValidationError('Choose at least one image.', { images: 'Choose at least one image.' });
      checkRoom(userId, signerId, files.length);
      // The store's check and the model run side by side; the model's refusals are reported first, as they say more.
      const checking = store.check(files);
      const embedded = await embedEach(files);
      const inkMaps = embedded.map((image) => inkMapToPng(image.inkMap));
      const names = files.map((file) => file.name);
      const ids = await store.addChecked(userId, await checking, (stored) => insertAll(userId, signerId, stored, names, embedded, inkMaps, source));
      return added(userId, signerId, ids);
    },

    /** Images from the user's library (ids of the images feature), all or none. */
    async addFromLibrary(userId: number, signerId: number, libraryImageIds: number[]) {
      signers.get(userId, signerId);
      requireModel();
      checkRoom(userId, signerId, libraryImageIds.length);
      const picked = images.getAll(userId, libraryImageIds);
      const storedOf = (storedImageId: number) => {
        const image = store.get(userId, storedImageId);
        if (!image) throw new NotFoundError('We could not find some of the selected images. They may have been deleted already.');
        return image;
      };
      const embedded = await embedEach(picked.map((image) => ({ name: image.name, read: () => store.readBytes(storedOf(image.storedImageId)) })));
      const inkMaps = embedded.map((image) => inkMapToPng(image.inkMap));
      const ids = db.transaction(() => {
        // One more store reference per image; the check for copies then runs over all of them at once.
        const stored = picked.map((image) => store.reference(userId, image.storedImageId, (found) => found) ?? storedOf(image.storedImageId));
        return insertAll(userId, signerId, stored, picked.map((image) => image.name), embedded, inkMaps, 'library');
      })();
      return added(userId, signerId, ids);
    },

    get,
    /** The ids of the signer's references (to tell which ones a past verification used still exist). */
    ids: (userId: number, signerId: number) => repo.ofSigner(userId, signerId).map((reference) => reference.id),

    inkMap(userId: number, signerId: number, id: number): Buffer {
      const inkMap = repo.inkMap(userId, signerId, id);
      if (!inkMap) throw new NotFoundError('We could not find that reference signature.');
      return inkMap;
    },

    async remove(userId: number, signerId: number, id: number): Promise<void> {
      const reference = get(userId, signerId, id);
      await store.release(userId, [reference.storedImageId], () => repo.remove(userId, signerId, id));
    },
  };
}

export type ReferencesService = ReturnType<typeof createReferencesService>;
