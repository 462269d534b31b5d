import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const projectRoot = fileURLToPath(new URL('../..', import.meta.url));

/** The tiny random-weight models made by test/fixtures/ml/make-tiny-models.py (same contracts as the shipped ones). */
export const fixtureModelsDir = path.join(projectRoot, 'test/fixtures/ml/models');

/** The shipped models, which may not exist yet while they are being trained. */
export const shippedModelsDir = path.join(projectRoot, 'models');
export const hasShippedModel = (name: string) =>
  existsSync(path.join(shippedModelsDir, `${name}.onnx`)) && existsSync(path.join(shippedModelsDir, `${name}.json`));
/** A shipped model's card as it is on disk (the caller knows the model and names the fields it reads). */
export const readShippedCard = <Card>(name: string) => JSON.parse(readFileSync(path.join(shippedModelsDir, `${name}.json`), 'utf8')) as Card;
/** The version its card gives a shipped model, so tests follow a retrained model without edits. */
export const shippedVersion = (name: string) => readShippedCard<{ version: string }>(name).version;

/** A writable copy of the fixture models that a test may damage; `remove()` deletes it. */
export function copyFixtureModels() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'inkwell-models-'));
  cpSync(fixtureModelsDir, dir, { recursive: true });
  const cardPath = (name: string) => path.join(dir, `${name}.json`);
  return {
    dir,
    readCard: (name: string) => JSON.parse(readFileSync(cardPath(name), 'utf8')) as Record<string, unknown>,
    writeCard: (name: string, card: unknown) => writeFileSync(cardPath(name), JSON.stringify(card)),
    /** Replaces the .onnx bytes and, with `updateCard`, the card's sha256 too, so only the content is wrong. */
    writeModel(name: string, bytes: Uint8Array, { updateCard = false } = {}) {
      writeFileSync(path.join(dir, `${name}.onnx`), bytes);
      if (!updateCard) return;
      const card = this.readCard(name);
      card.file = { bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
      this.writeCard(name, card);
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A deterministic pseudo-random image of `size` floats, different for each seed. */
export function noiseImage(size: number, seed: number): Float32Array {
  const image = new Float32Array(size);
  let state = (Math.imul(seed, 2654435761) + 1) >>> 0;
  for (let i = 0; i < size; i++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    image[i] = (state >>> 8) / 0x1000000 * 2 - 0.5;
  }
  return image;
}

/** The two signature sets of ../shared/datasets (or INKWELL_DATASETS_DIR), for the tests that measure the shipped model on them. */
export const datasetsDir = process.env.INKWELL_DATASETS_DIR ?? path.join(projectRoot, '../shared/datasets');
export const SIGNATURE_SETS = ['bhsig260-bengali', 'sigcomp2011-dutch'] as const;

/** Why the held-out signature tests cannot run here (to print and skip), or false. */
export function signatureDataSkipReason(): string | false {
  if (!SIGNATURE_SETS.every((set) => existsSync(path.join(datasetsDir, 'signatures', set)))) {
    return `signature sets not found in ${path.join(datasetsDir, 'signatures')} (set INKWELL_DATASETS_DIR)`;
  }
  return hasShippedModel('signatures') ? false : 'models/signatures.onnx or models/signatures.json is missing';
}
