/**
 * The models, as the rest of the app sees them: load once at start-up, classify digits, embed signatures,
 * remove image backgrounds (loadBackgroundRemover, its own worker: see src/ml/background/remover.ts).
 * Nothing here knows about HTTP or users; bad images throw ImageInputError, bad model files ModelLoadError.
 */
import { ModelLoadError, type ModelCard } from './model-file.js';
import type { InconclusiveBand, ReferenceChecks } from './signature-decision.js';
import type { ImageInputError } from './image-input.js';
import { createMainThreadRunner, createWorkerPoolRunner, imageRefused, modelSpec, type InferenceRunner, type ModelKey, type ModelSpec } from './onnx-runner.js';
import { checkModelCard, checkModelVersion, ModelCheckError, readVersionFile, sha256OfFile, type DecisionRules, type ModelCheck, type VersionFile } from './model-version.js';

export { checkModelCard, checkModelVersion, ModelCheckError, sha256OfFile, type ModelCheck, type ModelKey };
/** The models whose versions can be changed at run time (background removal's u2netp is not one of them). */
export const MODEL_KEYS: readonly ModelKey[] = ['digits', 'signatures'];

export { ImageInputError, decodeToGray, sniffImageType, type ImageRejection, type GrayImage } from './image-input.js';
export { ModelLoadError, type ModelCard };
export { prepareDigit, prepareDigitFromGray, digitInputLevels, digitInputPng } from './digit-image.js';
export { prepareSignature, prepareSignatureFromGray, inkMapToPng, signatureFitOf, type SignatureFit } from './signature-image.js';
export { cropImage, CropError, MIN_CROP_SIDE, type CropRect } from './image-crop.js';
export { scoreSignature, scoringRuleOf, type ScoringRule, type SignatureScore } from './signature-score.js';
export { decideSignature, type InconclusiveBand, type ReferenceChecks, type SignatureDecision } from './signature-decision.js';
export {
  type BackgroundMode,
  type BackgroundOutput,
  type BackgroundOptions,
  type BackgroundResult,
  type InkColour,
} from './background/options.js';
export { loadBackgroundRemover, RemoverBusyError, type BackgroundRemover, type BackgroundRemoverOptions } from './background/remover.js';

export interface DigitPrediction {
  digit: number;
  /** The probability of `digit`, the most likely class. */
  confidence: number;
  /** Ten probabilities summing to 1; index = digit. */
  probabilities: number[];
}

/**
 * One file read by DigitModel.readFiles: the prediction, the 784 values the model was given and the version of
 * the model that made it, or why the file was refused.
 */
export type DigitReading = { prediction: DigitPrediction; input: Float32Array; version: string; error?: undefined } | { error: ImageInputError };

export interface DigitModel {
  /** The card of the active version (it changes when another version is activated: read it when needed, do not keep it). */
  readonly card: ModelCard;
  /** Each image is 784 floats as prepareDigit returns them; one prediction per image, in order. */
  classify(images: Float32Array[]): Promise<DigitPrediction[]>;
  /**
   * Uploaded image files (PNG, JPEG, WebP, GIF): prepareDigit and classify, both off the event loop.
   * Throws the ImageInputError of the first refused file.
   */
  classifyFiles(files: Uint8Array[], options?: ImageLimits): Promise<DigitPrediction[]>;
  /**
   * Like classifyFiles, one answer per file in order, but a refused file (no_ink, undecodable...) gets its own
   * error and does not fail the others; each prediction comes with the model's input (what it "saw").
   */
  readFiles(files: Uint8Array[], options?: ImageLimits): Promise<DigitReading[]>;
  /** Answers the requests already made, then stops the workers (shared with the signature model under loadModels). */
  close(): Promise<void>;
}

export interface SignatureModel {
  /** The card of the active version (it changes when another version is activated, like the three fields below). */
  readonly card: ModelCard;
  /** The decision threshold from the model card, for scoreSignature. */
  readonly threshold: number;
  /**
   * Scores in this band around the threshold are inconclusive (models/signatures.json, decision.inconclusive_band).
   * loadModels refuses a card without one; loadSignatureModel (eval CLIs) gives null, so that a new model can be measured to derive it.
   */
  readonly inconclusiveBand: InconclusiveBand | null;
  /** When a new reference is a near-duplicate or an outlier (the card's reference_checks); null like the band. */
  readonly referenceChecks: ReferenceChecks | null;
  /** Each image is 40,000 floats as prepareSignature returns them; one L2-normalised embedding per image, in order. */
  embed(images: Float32Array[]): Promise<Float32Array[]>;
  /** Uploaded image files: prepareSignature and embed, both off the event loop. Throws the ImageInputError of the first refused file. */
  embedFiles(files: Uint8Array[], options?: ImageLimits): Promise<Float32Array[]>;
  /**
   * embedFiles that also gives back each ink map the model saw (40,000 floats, paper 0, ink up to 1), to show it,
   * and the version of the model that made the embedding (embeddings of two versions must never be compared).
   */
  embedFilesWithInkMaps(files: Uint8Array[], options?: ImageLimits): Promise<{ embedding: Float32Array; inkMap: Float32Array; version: string }[]>;
  /** The decision rules of a version this model has run (the active one, or one still answering calls made before a switch), or null. */
  rulesOf(version: string): SignatureRules | null;
  /** Answers the requests already made, then stops the workers (shared with the digit model under loadModels). */
  close(): Promise<void>;
}

/** One signature version's decision rules (see SignatureModel). */
export interface SignatureRules {
  card: ModelCard;
  threshold: number;
  inconclusiveBand: InconclusiveBand | null;
  referenceChecks: ReferenceChecks | null;
}

export interface Models {
  digits: DigitModel;
  signatures: SignatureModel;
  /** The active version of each model, live. */
  versions(): { digits: string; signatures: string };
  /**
   * Activates the version in `dir` (<model>.onnx + <model>.json) without a restart: checks the file against the
   * card's sha256 (and `sha256`, the registry's, when given) and the card as loadModels does, loads and warms it up
   * in every worker while the active version keeps answering, then switches; calls already made finish on the
   * version they started on. On any failure the active version stays and the ModelLoadError says why.
   * Resolves with the new version's card.
   */
  activate(model: ModelKey, dir: string, options?: { sha256?: string }): Promise<ModelCard>;
  close(): Promise<void>;
}

export interface ImageLimits {
  /** Files with more pixels are refused (too_many_pixels) before they are decoded. */
  maxPixels?: number;
}

export interface LoadOptions extends ImageLimits {
  /** The folder with <name>.onnx and <name>.json. */
  modelsDir: string;
  /**
   * 'workers' (default) keeps inference off the event loop; 'main-thread' runs it on the caller's thread and
   * exists to measure what that costs (bench/ml.ts).
   */
  runner?: 'workers' | 'main-thread';
  /** Worker threads shared by the models loaded together; default: the number of cores. */
  workers?: number;
  /** onnxruntime threads per worker; default: cores / workers, at least 1. */
  intraOpNumThreads?: number;
}

type RunnerOptions = Omit<LoadOptions, 'modelsDir'>;

/** The default of IMAGE_MAX_MEGAPIXELS in src/config.ts, for callers (eval CLIs) that do not pass one. */
const DEFAULT_MAX_PIXELS = 50_000_000;

const DIGITS: ModelKey = 'digits';
const SIGNATURES: ModelKey = 'signatures';

function startRunner(specs: ModelSpec[], { runner = 'workers', workers, intraOpNumThreads }: RunnerOptions): Promise<InferenceRunner> {
  const options = { workers, intraOpNumThreads };
  return runner === 'main-thread' ? createMainThreadRunner(specs, options) : createWorkerPoolRunner(specs, options);
}

function toPrediction(row: Float32Array): DigitPrediction {
  const probabilities = Array.from(row);
  let digit = 0;
  for (let i = 1; i < probabilities.length; i++) if (probabilities[i]! > probabilities[digit]!) digit = i;
  return { digit, confidence: probabilities[digit]!, probabilities };
}

/** What the model objects know of each version they have run: its card and (signatures) decision rules. */
interface VersionInfo {
  card: ModelCard;
  rules: DecisionRules;
}

/** The versions of one model: the runner says which is active, each version's card says the rest. */
function versionState(key: ModelKey, runner: InferenceRunner, first: VersionInfo) {
  const infos = new Map<string, VersionInfo>([[first.card.version, first]]);
  return {
    current: () => infos.get(runner.activeVersion(key))!,
    of: (version: string) => infos.get(version) ?? null,
    add: (info: VersionInfo) => void infos.set(info.card.version, info),
  };
}

type VersionState = ReturnType<typeof versionState>;

function digitModel(state: VersionState, runner: InferenceRunner, limits: ImageLimits, close: () => Promise<void>): DigitModel {
  return {
    get card() {
      return state.current().card;
    },
    async classify(images) {
      return (await runner.run(DIGITS, images)).value.map(toPrediction);
    },
    async classifyFiles(files, { maxPixels = limits.maxPixels ?? DEFAULT_MAX_PIXELS } = {}) {
      return (await runner.runFiles(DIGITS, files, maxPixels)).value.map(toPrediction);
    },
    async readFiles(files, { maxPixels = limits.maxPixels ?? DEFAULT_MAX_PIXELS } = {}) {
      const { version, value } = await runner.readFiles(DIGITS, files, maxPixels);
      return value.map((reading) =>
        'refused' in reading ? { error: imageRefused(reading.refused, reading.message) } : { prediction: toPrediction(reading.output), input: reading.input, version },
      );
    },
    close,
  };
}

function signatureModel(state: VersionState, runner: InferenceRunner, limits: ImageLimits, close: () => Promise<void>): SignatureModel {
  const rulesOf = (info: VersionInfo): SignatureRules => ({ card: info.card, threshold: info.card.threshold!, inconclusiveBand: info.rules.band, referenceChecks: info.rules.checks });
  return {
    get card() {
      return state.current().card;
    },
    get threshold() {
      return state.current().card.threshold!;
    },
    get inconclusiveBand() {
      return state.current().rules.band;
    },
    get referenceChecks() {
      return state.current().rules.checks;
    },
    rulesOf(version) {
      const info = state.of(version);
      return info && rulesOf(info);
    },
    embed: async (images) => (await runner.run(SIGNATURES, images)).value,
    embedFiles: async (files, { maxPixels = limits.maxPixels ?? DEFAULT_MAX_PIXELS } = {}) => (await runner.runFiles(SIGNATURES, files, maxPixels)).value,
    async embedFilesWithInkMaps(files, { maxPixels = limits.maxPixels ?? DEFAULT_MAX_PIXELS } = {}) {
      const { version, value } = await runner.readFiles(SIGNATURES, files, maxPixels);
      // The first refused file fails the call, as embedFiles does.
      return value.map((reading) => {
        if ('refused' in reading) throw imageRefused(reading.refused, reading.message);
        return { embedding: reading.output, inkMap: reading.input, version };
      });
    },
    close,
  };
}

const versionSpec = (key: ModelKey, file: VersionFile): ModelSpec => ({ ...modelSpec(key, file), version: file.card.version });

/** Loads only the digit model (eval CLIs, evaluating one version). Close it when done, or the worker threads keep the process alive. */
export async function loadDigitModel(modelsDir: string, options: RunnerOptions = {}): Promise<DigitModel> {
  const file = await readVersionFile(DIGITS, modelsDir);
  const runner = await startRunner([versionSpec(DIGITS, file)], options);
  return digitModel(versionState(DIGITS, runner, file), runner, options, () => runner.close());
}

/** Loads only the signature model (eval CLIs). Close it when done, or the worker threads keep the process alive. */
export async function loadSignatureModel(modelsDir: string, options: RunnerOptions = {}): Promise<SignatureModel> {
  const file = await readVersionFile(SIGNATURES, modelsDir, { requireBand: false });
  const runner = await startRunner([versionSpec(SIGNATURES, file)], options);
  return signatureModel(versionState(SIGNATURES, runner, file), runner, options, () => runner.close());
}

/**
 * Loads both models once, at start-up: verifies each file against its card, then starts one worker pool in which
 * every worker holds a warmed-up session of each model, so the two models share the cores instead of fighting over them.
 * Another version of either can be activated later without a restart (Models.activate).
 */
export async function loadModels({ modelsDir, ...options }: LoadOptions): Promise<Models> {
  const [digitsFile, signaturesFile] = await Promise.all([readVersionFile(DIGITS, modelsDir), readVersionFile(SIGNATURES, modelsDir)]);
  const runner = await startRunner([versionSpec(DIGITS, digitsFile), versionSpec(SIGNATURES, signaturesFile)], options);
  const close = () => runner.close();
  const states = { digits: versionState(DIGITS, runner, digitsFile), signatures: versionState(SIGNATURES, runner, signaturesFile) };
  return {
    digits: digitModel(states.digits, runner, options, close),
    signatures: signatureModel(states.signatures, runner, options, close),
    versions: () => ({ digits: runner.activeVersion(DIGITS), signatures: runner.activeVersion(SIGNATURES) }),
    async activate(model, dir, { sha256 } = {}) {
      const file = await readVersionFile(model, dir);
      if (sha256 !== undefined && file.card.file.sha256 !== sha256) {
        throw new ModelLoadError(file.displayPath, `${file.displayPath} hashes to ${file.card.file.sha256}, but the registry recorded ${sha256} for version ${file.card.version}.`);
      }
      // Known before the switch, so that every answer of the new version finds its card.
      states[model].add(file);
      await runner.activate(versionSpec(model, file));
      return file.card;
    },
    close,
  };
}
