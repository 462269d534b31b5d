/** Registering a model version trained or uploaded on this server: the checks it must pass and its files under DATA_DIR/models. */
import { createHash, randomBytes } from 'node:crypto';
import { copyFile, mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Db } from '../../db/database.js';
import { AppError, ValidationError } from '../../http/errors.js';
import { checkModelCard, checkModelVersion, MODEL_KEYS, ModelCheckError, sha256OfFile, type ModelCheck } from '../../ml/index.js';
import { createVersionsRepo, type ModelName, type ModelVersion, type VersionSource } from './versions.repo.js';

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

/** Where versions made or uploaded on this server are kept: DATA_DIR/models/<model>/<version>/<model>.onnx + .json. */
export const versionsRoot = (dataDir: string) => path.join(dataDir, 'models');
export const versionDir = (dataDir: string, model: ModelName, version: string) => path.join(versionsRoot(dataDir), model, version);

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
