import { existsSync, readFileSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { Db } from '../../db/database.js';
import { AppError, NotFoundError, ServiceUnavailableError, ValidationError } from '../../http/errors.js';
import type { Logger } from '../../logger.js';
import { MODEL_KEYS, ModelLoadError, type Models } from '../../ml/index.js';
import { isModelName, registerVersion, versionDir, type NewVersion } from './version-registration.js';
import { createVersionsRepo, type ActiveChoice, type ModelName, type ModelVersion } from './versions.repo.js';

export function parseModelName(value: string): ModelName {
  if (!isModelName(value)) throw new NotFoundError('There is no such model.');
  return value;
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
