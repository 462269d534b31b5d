import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Router } from 'express';
import type { Db } from '../../db/database.js';
import type { Logger } from '../../logger.js';
import type { ApiRoutes } from '../../http/openapi.js';
import type { ImageStore } from '../../storage/index.js';
import type { AccountsService } from '../accounts/index.js';
import { createLabelledImagesReader, type DatasetsService } from '../datasets/index.js';
import { createTrainingCorrectionsReader } from '../digits/index.js';
import { createLabelledVerificationsReader } from '../signatures/index.js';
import { createEvaluationService, MODELS, type ModelName, type VersionCatalogue } from './evaluation.service.js';
import { declareModelJobsApi } from './jobs.api.js';
import { createJobsRepo } from './jobs.repo.js';
import { createJobRunner } from './jobs.runner.js';
import { createModelJobsWebRouter } from './jobs.web.js';
import { createTrainingService, type RegisterVersion } from './training.service.js';

export interface ModelJobsDeps {
  db: Db;
  logger: Logger;
  store: ImageStore;
  accounts: AccountsService;
  datasets: DatasetsService;
  /** The versions part of this feature; without it, the files: the shipped version in modelsDir, others in DATA_DIR/models. */
  catalogue?: VersionCatalogue;
  register?: RegisterVersion;
  config: { modelsDir: string; dataDir: string; maxPixels: number; training: { python: string; threads: number; dataDir: string } };
}

/**
 * The versions as files: the shipped one in models/, the others in DATA_DIR/models/<model>/<version>/ (as the versions
 * part of this feature keeps them); the shipped one counts as active. Used where no catalogue is given.
 */
export function createFileCatalogue({ modelsDir, dataDir }: { modelsDir: string; dataDir: string }): VersionCatalogue & { register: RegisterVersion } {
  const shipped = new Map<ModelName, string>();
  for (const model of MODELS) {
    try {
      shipped.set(model, (JSON.parse(readFileSync(path.join(modelsDir, `${model}.json`), 'utf8')) as { version: string }).version);
    } catch {
      // no shipped card (tests with an empty models folder)
    }
  }
  const root = (model: string) => path.join(dataDir, 'models', model);
  const catalogue: VersionCatalogue = {
    dirOf(model, version) {
      if (shipped.get(model) === version) return modelsDir;
      if (!/^[A-Za-z0-9._+-]{1,100}$/.test(version) || version.startsWith('.')) return null;
      const dir = path.join(root(model), version);
      return existsSync(path.join(dir, `${model}.onnx`)) ? dir : null;
    },
    activeVersion: (model) => shipped.get(model) ?? '',
    versions(model) {
      const made = existsSync(root(model)) ? readdirSync(root(model)).filter((v) => catalogue.dirOf(model, v)).reverse() : [];
      return [...made, ...(shipped.has(model) ? [shipped.get(model)!] : [])];
    },
  };
  return {
    ...catalogue,
    async register({ model, onnxPath, card }) {
      const version = String(card.version);
      const dir = path.join(root(model), version);
      await mkdir(dir, { recursive: true });
      await copyFile(onnxPath, path.join(dir, `${model}.onnx`));
      await writeFile(path.join(dir, `${model}.json`), `${JSON.stringify(card, null, 2)}\n`);
      return { version };
    },
  };
}

/** Evaluations and training: the job runner, both services, their pages and API. */
export function createModelJobs({ db, logger, store, accounts, datasets, config, ...given }: ModelJobsDeps) {
  const files = createFileCatalogue({ modelsDir: config.modelsDir, dataDir: config.dataDir });
  const catalogue = given.catalogue ?? files;
  const repo = createJobsRepo(db);
  const runner = createJobRunner({ repo, logger });
  const labelledImages = createLabelledImagesReader({ db, store });
  const evaluations = createEvaluationService({
    repo,
    runner,
    catalogue,
    datasets: labelledImages,
    verifications: createLabelledVerificationsReader(db),
    maxPixels: config.maxPixels,
  });
  const training = createTrainingService({
    repo,
    runner,
    catalogue,
    register: given.register ?? files.register,
    corrections: createTrainingCorrectionsReader({ db, store }),
    datasets: labelledImages,
    consentingUsers: () => accounts.usersSharingDigitCorrections(),
    config: { ...config.training, jobsDir: path.join(config.dataDir, 'model-jobs'), maxPixels: config.maxPixels },
    checkDigitDataset: (userId, datasetId) => evaluations.checkDigitDataset(userId, datasetId),
  });
  return {
    evaluations,
    training,
    runner,
    webRouter: (): Router => createModelJobsWebRouter({ repo, evaluations, training, catalogue, datasetChoices: (userId) => datasets.choices(userId) }),
    declareApi: (api: ApiRoutes) => declareModelJobsApi(api, { evaluations, training }),
    close: () => runner.close(),
  };
}

export type ModelJobs = ReturnType<typeof createModelJobs>;
