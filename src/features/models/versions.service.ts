import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { copyFile, mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Db } from '../../db/database.js';
import { AppError, NotFoundError, ServiceUnavailableError, ValidationError } from '../../http/errors.js';
import type { Logger } from '../../logger.js';
import { checkModelCard, checkModelVersion, MODEL_KEYS, ModelCheckError, ModelLoadError, sha256OfFile, type ModelCheck, type Models } from '../../ml/index.js';
import { createVersionsRepo, type ActiveChoice, type ModelName, type ModelVersion, type VersionSource } from './versions.repo.js';

/** A version's name becomes a folder name: letters, digits and . _ + - only, so that it cannot leave DATA_DIR/models. */
const VERSION_NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/;

/** What each check is called in a refusal, and the API error code that names it. */
const CHECKS: Record<ModelCheck, { label: string; code: string; field: 'card' | 'onnx' }> = {
  card: { label: 'card', code: 'card_incomplete', field: 'card' },
  shapes: { label: 'input and output shapes', code: 'shapes_mismatch', field: 'card' },
  sha256: { label: 'sha256', code: 'sha256_mismatch', field: 'onnx' },
  inference: { label: 'test inference', code: 'inference_failed', field: 'onnx' },
};

/** A version refused by one of the upload checks; the message starts with the check's name. */
function refusal(check: ModelCheck, message: string): ValidationError {
  const { label, code, field } = CHECKS[check];
  const text = `Refused by the ${label} check: ${message}`;
  return new ValidationError(text, { [field]: text }, code);
}

export const isModelName = (value: string): value is ModelName => (MODEL_KEYS as readonly string[]).includes(value);

export function parseModelName(value: string): ModelName {
  if (!isModelName(value)) throw new NotFoundError('There is no such model.');
  return value;
}

/** Where versions made or uploaded on this server are kept: DATA_DIR/models/<model>/<version>/<model>.onnx + .json. */
export const versionsRoot = (dataDir: string) => path.join(dataDir, 'models');
const versionDir = (dataDir: string, model: ModelName, version: string) => path.join(versionsRoot(dataDir), model, version);

export interface NewVersion {
  model: ModelName;
  /** The ONNX file's bytes, or the path of a file to copy (one of the two). */
  onnxBytes?: Uint8Array;
  onnxPath?: string;
  /** The model card: an object, or its JSON text. Without file.sha256, the file's hash is recorded in it. */
  card: unknown;
  source: Exclude<VersionSource, 'shipped'>;
  createdBy: number | null;
}

export interface RegisterDeps {
  db: Db;
  dataDir: string;
}

/**
 * Registers a new version from its files after the checks an upload passes, each refusal naming its check: the
 * card complete (card_incomplete), the shapes those of the model kind (shapes_mismatch), the version not already
 * there (409 version_exists), the file matching the card's sha256 (sha256_mismatch), one inference on a generated
 * input (inference_failed). Copies the files into DATA_DIR/models/<model>/<version>/. Does not activate it.
 */
export async function registerVersion({ db, dataDir }: RegisterDeps, input: NewVersion): Promise<ModelVersion> {
  const repo = createVersionsRepo(db);
  const { model, source, createdBy } = input;
  if (!isModelName(model)) throw new ValidationError(`There is no model "${String(model)}".`, { model: 'digits or signatures' });
  // A file is hashed and copied as it is, never held in memory here (uploads may be hundreds of MB).
  const size = input.onnxBytes ? input.onnxBytes.length : input.onnxPath ? (await stat(input.onnxPath)).size : 0;
  if (size === 0) throw new ValidationError('Send the ONNX file.', { onnx: 'Choose the .onnx file.' });

  let card: unknown = input.card;
  if (typeof card === 'string' || Buffer.isBuffer(card)) {
    try {
      card = JSON.parse(card.toString());
    } catch (error) {
      throw refusal('card', `the card is not valid JSON (${(error as Error).message}).`);
    }
  }
  if (!card || typeof card !== 'object' || Array.isArray(card)) throw refusal('card', 'the card must be a JSON object.');
  const sha256 = input.onnxBytes ? createHash('sha256').update(input.onnxBytes).digest('hex') : await sha256OfFile(input.onnxPath!);
  const recorded = card as Record<string, unknown>;
  const file = (recorded.file && typeof recorded.file === 'object' ? recorded.file : {}) as Record<string, unknown>;
  // A card without a sha256 gets the file's: the check then proves only that the file arrived whole.
  const filled = { ...recorded, file: { ...file, sha256: file.sha256 ?? sha256, bytes: file.bytes ?? size } };

  let checked;
  try {
    checked = checkModelCard(model, filled, 'The card', { requireScoring: true }).card;
  } catch (error) {
    if (error instanceof ModelCheckError) throw refusal(error.check, error.message);
    throw error;
  }
  const version = checked.version;
  if (!VERSION_NAME.test(version)) {
    throw refusal('card', `the version "${version}" may hold only letters, digits and . _ + - (at most 64, starting with a letter or digit).`);
  }
  if (repo.find(model, version)) throw new AppError(409, 'version_exists', `The ${model} model already has a version ${version}; give the new one another version in its card.`);

  const root = versionsRoot(dataDir);
  const staging = path.join(root, '.incoming', randomBytes(8).toString('hex'));
  await mkdir(staging, { recursive: true });
  try {
    await writeFile(path.join(staging, `${model}.json`), `${JSON.stringify(filled, null, 2)}\n`);
    if (input.onnxBytes) await writeFile(path.join(staging, `${model}.onnx`), input.onnxBytes);
    else await copyFile(input.onnxPath!, path.join(staging, `${model}.onnx`));
    try {
      await checkModelVersion(model, staging);
    } catch (error) {
      if (error instanceof ModelCheckError) throw refusal(error.check, error.message);
      throw error;
    }
    const target = versionDir(dataDir, model, version);
    // A folder without a row is what a crash between rename and insert leaves: this version replaces it.
    if (!repo.find(model, version)) await rm(target, { recursive: true, force: true });
    await mkdir(path.dirname(target), { recursive: true });
    try {
      await rename(staging, target);
    } catch {
      // The folder of the same version registered meanwhile by another request is there (rename will not replace it).
      throw new AppError(409, 'version_exists', `The ${model} model already has a version ${version}.`);
    }
    try {
      repo.insert({ model, version, sha256: filled.file.sha256 as string, bytes: size, card: filled, source, createdBy });
    } catch {
      // Another registration of the same version won the race (UNIQUE (model, version)); this copy goes.
      await rm(target, { recursive: true, force: true });
      throw new AppError(409, 'version_exists', `The ${model} model already has a version ${version}.`);
    }
    return repo.find(model, version)!;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/** One model as the admin page and the API show it. */
export interface ModelOverview {
  model: ModelName;
  /** The version answering now. */
  active: ModelVersion | null;
  activeVersion: string;
  /** What "roll back" returns to, if it still exists. */
  previousVersion: string | null;
  activatedAt: string | null;
  /** Why the last activation failed, until one succeeds. */
  lastError: string | null;
  /** Every version, newest first, the active one included. */
  versions: ModelVersion[];
}

export interface ModelVersionsDeps {
  db: Db;
  /** The running models; null where they are not loaded (activation then answers 503). */
  ml: Models | null;
  /** The shipped models' folder (config.modelsDir). */
  modelsDir: string;
  dataDir: string;
  logger?: Logger;
}

/**
 * The versions of the digit and signature models: the shipped ones (models/, registered here at start-up), and
 * those trained or uploaded on this server; which one answers (persisted), activation without a restart,
 * roll back, delete. Also the VersionCatalogue the evaluation and training jobs use.
 */
export function createModelVersionsService({ db, ml, modelsDir, dataDir, logger }: ModelVersionsDeps) {
  const repo = createVersionsRepo(db);
  const shippedVersion: Partial<Record<ModelName, string>> = {};
  registerShipped();
  // One activation at a time, across both models: each loads a model into every worker.
  let activating: Promise<unknown> = Promise.resolve();

  /**
   * The shipped cards as they are in models/ now: new ones are recorded, changed ones updated, ones no longer
   * shipped forgotten (their files are gone with the old release). ml verified the files against these cards.
   */
  function registerShipped(): void {
    for (const model of MODEL_KEYS) {
      const cardPath = path.join(modelsDir, `${model}.json`);
      let card: Record<string, unknown>;
      try {
        card = JSON.parse(readFileSync(cardPath, 'utf8')) as Record<string, unknown>;
      } catch {
        continue;
      }
      const version = typeof card.version === 'string' ? card.version : null;
      const file = (card.file ?? {}) as { sha256?: unknown; bytes?: unknown };
      if (!version || typeof file.sha256 !== 'string') continue;
      const onnx = path.join(modelsDir, `${model}.onnx`);
      const bytes = typeof file.bytes === 'number' ? file.bytes : existsSync(onnx) ? statSync(onnx).size : 0;
      shippedVersion[model] = version;
      db.transaction(() => {
        for (const old of repo.shipped(model)) {
          if (old.version === version) continue;
          repo.remove(model, old.version);
          if (repo.active(model)?.version === old.version) repo.clearActive(model);
        }
        const existing = repo.find(model, version);
        if (!existing) repo.insert({ model, version, sha256: file.sha256 as string, bytes, card, source: 'shipped', createdBy: null });
        else if (existing.source === 'shipped') repo.updateShipped({ model, version, sha256: file.sha256 as string, bytes, card });
      })();
    }
  }

  /** The version answering now: the running model's, else the recorded choice, else the shipped one. */
  function activeVersion(model: ModelName): string {
    if (ml) return ml.versions()[model];
    return repo.active(model)?.version ?? shippedVersion[model] ?? '';
  }

  function dirOf(model: ModelName, version: string): string | null {
    const found = repo.find(model, version);
    if (!found) return null;
    return found.source === 'shipped' ? modelsDir : versionDir(dataDir, model, version);
  }

  function get(model: ModelName, version: string): ModelVersion {
    const found = repo.find(model, version);
    if (!found) throw new NotFoundError(`The ${model} model has no version ${version}.`);
    return found;
  }

  function overview(model: ModelName): ModelOverview {
    const versions = repo.list(model);
    const current = activeVersion(model);
    const choice: ActiveChoice | null = repo.active(model);
    const previous = choice?.previousVersion && versions.some((v) => v.version === choice.previousVersion) ? choice.previousVersion : null;
    return {
      model,
      active: versions.find((v) => v.version === current) ?? null,
      activeVersion: current,
      previousVersion: previous,
      activatedAt: choice?.activatedAt ?? null,
      lastError: choice?.lastError ?? null,
      versions,
    };
  }

  /** Loads the version into the running models and records the choice; on failure the active one stays, and the reason is kept. */
  function activate(userId: number | null, model: ModelName, version: string): Promise<{ version: ModelVersion; changed: boolean }> {
    const run = activating.then(async () => {
      const target = get(model, version);
      if (!ml) throw new ServiceUnavailableError('The models are not loaded, so no version can be activated now.');
      const before = activeVersion(model);
      if (before === version) return { version: target, changed: false };
      try {
        await ml.activate(model, dirOf(model, version)!, { sha256: target.sha256 });
      } catch (error) {
        if (!(error instanceof ModelLoadError)) throw error;
        const message = `Version ${version} could not be activated, so ${before} stays active: ${error.message}`;
        repo.setError(model, before, message);
        logger?.warn({ model, version, err: error.message }, 'model activation failed');
        throw new AppError(409, 'activation_failed', message);
      }
      repo.setActive({ model, version, previousVersion: before, activatedBy: userId });
      logger?.info({ model, version, previous: before }, 'model version activated');
      return { version: target, changed: true };
    });
    activating = run.catch(() => undefined);
    return run;
  }

  return {
    list: (): ModelOverview[] => MODEL_KEYS.map(overview),
    overview: (model: ModelName) => overview(model),
    get,
    available: () => ml !== null,

    /** VersionCatalogue (evaluation and training jobs): where a version's files are, which answers, every version newest first. */
    dirOf,
    activeVersion,
    versions: (model: ModelName): string[] => repo.list(model).map((v) => v.version),

    /** See registerVersion: trained versions (source 'trained') and uploads. */
    registerVersion: (input: NewVersion) => registerVersion({ db, dataDir }, input),

    activate,

    /** Back to the version that was active before the last activation. */
    rollback(userId: number | null, model: ModelName) {
      const previous = overview(model).previousVersion;
      if (!previous) throw new ValidationError(`There is no earlier ${model} version to roll back to.`, { version: 'Activate a version instead.' });
      return activate(userId, model, previous);
    },

    /** Deletes a version made or uploaded here, with its files; not a shipped one, nor the active one. */
    async remove(model: ModelName, version: string): Promise<ModelVersion> {
      const target = get(model, version);
      if (target.source === 'shipped') throw new ValidationError(`Version ${version} is shipped with Inkwell (models/) and cannot be deleted.`, { version: 'shipped' });
      if (activeVersion(model) === version || repo.active(model)?.version === version) {
        throw new ValidationError(`Version ${version} is active; activate another version first.`, { version: 'active' });
      }
      repo.remove(model, version);
      await rm(versionDir(dataDir, model, version), { recursive: true, force: true });
      return target;
    },

    /**
     * At start-up (server.ts, before the app takes requests): activates the recorded choice where it is not the
     * version the models were loaded with. If that fails, the loaded version answers and the reason is recorded.
     */
    async restoreActive(): Promise<void> {
      if (!ml) return;
      for (const model of MODEL_KEYS) {
        const choice = repo.active(model);
        if (!choice || choice.version === ml.versions()[model]) continue;
        const found = repo.find(model, choice.version);
        if (!found) {
          repo.clearActive(model);
          continue;
        }
        try {
          await ml.activate(model, dirOf(model, choice.version)!, { sha256: found.sha256 });
          logger?.info({ model, version: choice.version }, 'model version restored');
        } catch (error) {
          if (!(error instanceof ModelLoadError)) throw error;
          const running = ml.versions()[model];
          const message = `Version ${choice.version} could not be loaded at start-up, so ${running} answers: ${error.message}`;
          repo.setActive({ model, version: running, previousVersion: choice.version, activatedBy: null });
          repo.setError(model, running, message);
          logger?.error({ model, version: choice.version, err: error.message }, 'could not restore the active model version');
        }
      }
    },
  };
}

export type ModelVersionsService = ReturnType<typeof createModelVersionsService>;
