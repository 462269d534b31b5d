/**
 * Model management (admins): versions of the digit and signature models (shipped, trained, uploaded), activation
 * without a restart, roll back, delete and upload (versions.*), and the evaluation and training jobs (jobs.*,
 * evaluation.*, training.*).
 */
import type { Db } from '../../db/database.js';
import type { Logger } from '../../logger.js';
import type { Models } from '../../ml/index.js';
import { createModelVersionsService } from './versions.service.js';

export { declareModelVersionsApi } from './versions.api.js';
export { createModelsWebRouters, type ModelsWebDeps } from './versions.web.js';
export { createModelVersionsService, type ModelOverview, type ModelVersionsDeps, type ModelVersionsService } from './versions.service.js';
export { registerVersion, versionsRoot, type NewVersion, type RegisterDeps } from './version-registration.js';
export type { ActiveChoice, ModelName, ModelVersion, VersionSource } from './versions.repo.js';
export { createModelJobs, type ModelJobs } from './jobs.setup.js';

/**
 * At start-up, before the app takes requests (server.ts): registers the shipped versions and activates the version
 * an administrator chose last, where it is not the one the models were loaded with. If that one cannot be loaded,
 * the loaded version answers, and the admin page says why.
 */
export async function restoreActiveModels(deps: { db: Db; ml: Models; modelsDir: string; dataDir: string; logger?: Logger }): Promise<void> {
  await createModelVersionsService(deps).restoreActive();
}
