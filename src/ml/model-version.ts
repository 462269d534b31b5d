/**
 * One version of a model that the app runs (digits, signatures): the checks a version's files pass before they are
 * loaded at start-up, activated at run time or accepted as an upload, each failure naming the check it failed.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { displayPath, ModelLoadError, modelCardSchema, readModelFile, type ModelCard, type ModelFile } from './model-file.js';
import { createWorkerPoolRunner, modelSpec, type ModelKey } from './onnx-runner.js';
import { DIGIT_SIDE } from './digit-image.js';
import { SIGNATURE_SIDE, signatureChannels, signatureFitOf } from './signature-image.js';
import { inconclusiveBandOf, referenceChecksOf, type InconclusiveBand, type ReferenceChecks } from './signature-decision.js';
import { scoringRuleOf } from './signature-score.js';

/** The checks an uploaded or trained version must pass, in the order they run. */
export type ModelCheck = 'card' | 'shapes' | 'sha256' | 'inference';

/** A version refused by one of the checks; `check` names it, the message says what is wrong. */
export class ModelCheckError extends ModelLoadError {
  constructor(
    readonly check: ModelCheck,
    file: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(file, message, options);
    this.name = 'ModelCheckError';
  }
}

/** The width of one output row: digits ten probabilities; signatures any embedding size (models/signatures.json: 512). */
const OUTPUT_WIDTH: Record<ModelKey, number | null> = { digits: 10, signatures: null };

/**
 * What the app's image preparation gives each model for one image: prepareDigit 1x28x28; prepareSignature one
 * 200x200 channel per fit the card names (signatureChannels: 2x200x200 for 'contain+fill').
 */
const sampleShape = (key: ModelKey, card: ModelCard): number[] =>
  key === 'signatures' ? [signatureChannels(signatureFitOf(card)), SIGNATURE_SIDE, SIGNATURE_SIDE] : [1, DIGIT_SIDE, DIGIT_SIDE];

export interface DecisionRules {
  band: InconclusiveBand | null;
  checks: ReferenceChecks | null;
}

export type VersionFile = ModelFile & { rules: DecisionRules };

const sameShape = (a: readonly unknown[], b: readonly unknown[]) => a.length === b.length && a.every((value, i) => value === b[i]);

/**
 * Checks a card before its model is read: complete for what the app needs (check 'card': name, version, input and
 * output names and shapes, sha256; for signatures the threshold, decision band and reference checks, and with
 * `requireScoring` (new versions) the scoring rule) and shaped for the model kind (check 'shapes'). `where` names
 * the card in messages.
 */
export function checkModelCard(
  key: ModelKey,
  card: unknown,
  where = `the ${key} card`,
  { requireBand = true, requireScoring = false } = {},
): { card: ModelCard; rules: DecisionRules } {
  const parsed = modelCardSchema.safeParse(card);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(card)'}: ${issue.message}`).join('; ');
    throw new ModelCheckError('card', where, `${where} is not a valid model card: ${problems}`);
  }
  const checked = parsed.data;
  const rules: DecisionRules = { band: null, checks: null };
  if (key === 'signatures') {
    const threshold = checked.threshold;
    if (threshold === undefined) throw new ModelCheckError('card', where, `${where} has no "threshold"; a signature model needs one to decide.`);
    try {
      signatureFitOf(checked);
    } catch (error) {
      throw new ModelCheckError('card', where, `${where}: ${(error as Error).message}`);
    }
    try {
      rules.band = inconclusiveBandOf(checked, threshold);
      rules.checks = referenceChecksOf(checked);
    } catch (error) {
      if (requireBand) throw new ModelCheckError('card', where, `${where} ${(error as Error).message}; see "Signatures" in models/README.md.`);
    }
    if (requireScoring) {
      try {
        scoringRuleOf(checked);
      } catch (error) {
        throw new ModelCheckError('card', where, `${where}: ${(error as Error).message.replace(/^The model card /, '')}`);
      }
    }
  }
  const expectedSample = sampleShape(key, checked);
  const [, ...sample] = checked.input.shape;
  if (!sameShape(sample, expectedSample)) {
    throw new ModelCheckError(
      'shapes',
      where,
      `${where} gives the input shape ${JSON.stringify(checked.input.shape)}; a ${key} model takes [N, ${expectedSample.join(', ')}] (what the app prepares from an image).`,
    );
  }
  const width = checked.output.shape[1];
  const expectedWidth = OUTPUT_WIDTH[key];
  if (typeof width !== 'number' || (expectedWidth !== null && width !== expectedWidth)) {
    const wanted = expectedWidth === null ? 'N x (a number), one embedding per image' : `[N, ${expectedWidth}]`;
    const classes = key === 'digits' && typeof width === 'number' ? ` (${String(width)} output classes; a digit model has 10)` : '';
    throw new ModelCheckError('shapes', where, `${where} gives the output shape ${JSON.stringify(checked.output.shape)}${classes}; a ${key} model answers ${wanted}.`);
  }
  return { card: checked, rules };
}

/**
 * Reads `<dir>/<key>.json` and `<dir>/<key>.onnx` as loadModels does: the card checked by checkModelCard, the file
 * against the card's sha256. Throws ModelLoadError naming the file.
 */
export async function readVersionFile(key: ModelKey, dir: string, { requireBand = true } = {}): Promise<VersionFile> {
  const file = await readModelFile(dir, key);
  const cardPath = displayPath(path.join(dir, `${key}.json`));
  const { rules } = checkModelCard(key, file.card, cardPath, { requireBand });
  return { ...file, rules };
}

/**
 * The sha256 of a file, read in chunks: hashing an upload of a few hundred MB in one go would hold the event loop
 * for most of a second; between chunks other requests run.
 */
export async function sha256OfFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** A deterministic input of `size` floats in [-0.5, 0.5), so that the inference check sees more than zeros. */
function generatedInput(size: number, seed: number): Float32Array {
  const input = new Float32Array(size);
  let state = seed >>> 0;
  for (let i = 0; i < size; i++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    input[i] = (state >>> 8) / 0x1000000 - 0.5;
  }
  return input;
}

/**
 * All the checks of a new version in `dir`, in order: the card (complete, shapes), the file against the card's
 * sha256, then one inference on generated inputs in a worker of its own (two images: the batch dimension must
 * work), whose output must have the card's shape and finite values. Throws ModelCheckError naming the failed check.
 */
export async function checkModelVersion(key: ModelKey, dir: string): Promise<ModelCard> {
  const cardFile = path.join(dir, `${key}.json`);
  const modelFile = path.join(dir, `${key}.onnx`);
  let json: unknown;
  try {
    json = JSON.parse(await readFile(cardFile, 'utf8'));
  } catch (error) {
    throw new ModelCheckError('card', displayPath(cardFile), `The card is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  const { card, rules } = checkModelCard(key, json, 'The card', { requireScoring: true });
  const actual = await sha256OfFile(modelFile);
  if (actual !== card.file.sha256) {
    throw new ModelCheckError('sha256', displayPath(modelFile), `The ONNX file hashes to ${actual}, but the card's file.sha256 says ${card.file.sha256}.`);
  }
  const bytes = await readFile(modelFile);
  const file: VersionFile = { card, rules, bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), displayPath: 'The ONNX file' };
  let runner;
  try {
    runner = await createWorkerPoolRunner([{ ...modelSpec(key, file), version: card.version }], { workers: 1, intraOpNumThreads: 1 });
  } catch (error) {
    throw new ModelCheckError('inference', displayPath(modelFile), (error as Error).message, { cause: error });
  }
  try {
    const size = sampleShape(key, card).reduce((a, b) => a * b, 1);
    const { value: rows } = await runner.run(key, [generatedInput(size, 1), generatedInput(size, 2)]);
    const width = card.output.shape[1] as number;
    if (rows.length !== 2 || rows.some((row) => row.length !== width)) {
      throw new Error(`it answered ${rows.map((row) => row.length).join(' and ')} values per image where the card promises ${width}`);
    }
    if (rows.some((row) => row.some((value) => !Number.isFinite(value)))) throw new Error('it answered values that are not finite numbers');
  } catch (error) {
    throw new ModelCheckError('inference', displayPath(modelFile), `The inference on a generated input failed: ${(error as Error).message}.`, { cause: error });
  } finally {
    await runner.close();
  }
  return card;
}
