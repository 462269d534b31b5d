/**
 * The models, as the rest of the app sees them: load once at start-up, classify digits, embed signatures,
 * remove image backgrounds (loadBackgroundRemover, its own worker: see src/ml/background/remover.ts).
 * Nothing here knows about HTTP or users; bad images throw ImageInputError, bad model files ModelLoadError.
 */
import { ModelLoadError, readModelFile, type ModelCard } from './model-file.js';
import { inconclusiveBandOf, referenceChecksOf, type InconclusiveBand, type ReferenceChecks } from './signature-decision.js';
import type { ImageInputError } from './image-input.js';
import { createMainThreadRunner, createWorkerPoolRunner, imageRefused, modelSpec, type InferenceRunner, type ModelKey, type ModelSpec } from './onnx-runner.js';

export { ImageInputError, decodeToGray, sniffImageType, type ImageRejection, type GrayImage } from './image-input.js';
export { ModelLoadError, type ModelCard };
export { prepareDigit, prepareDigitFromGray, digitInputPng } from './digit-image.js';
export { prepareSignature, prepareSignatureFromGray, inkMapToPng } from './signature-image.js';
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

/** One file read by DigitModel.readFiles: the prediction and the 784 values the model was given, or why the file was refused. */
export type DigitReading = { prediction: DigitPrediction; input: Float32Array; error?: undefined } | { error: ImageInputError };

export interface DigitModel {
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
  /** embedFiles that also gives back each ink map the model saw (40,000 floats, paper 0, ink up to 1), to show it. */
  embedFilesWithInkMaps(files: Uint8Array[], options?: ImageLimits): Promise<{ embedding: Float32Array; inkMap: Float32Array }[]>;
  /** Answers the requests already made, then stops the workers (shared with the digit model under loadModels). */
  close(): Promise<void>;
}

export interface Models {
  digits: DigitModel;
  signatures: SignatureModel;
  versions(): { digits: string; signatures: string };
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
const DIGIT_CLASSES = 10;

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

function digitModel(card: ModelCard, runner: InferenceRunner, limits: ImageLimits, close: () => Promise<void>): DigitModel {
  return {
    card,
    async classify(images) {
      return (await runner.run(DIGITS, images)).map(toPrediction);
    },
    async classifyFiles(files, { maxPixels = limits.maxPixels ?? DEFAULT_MAX_PIXELS } = {}) {
      return (await runner.runFiles(DIGITS, files, maxPixels)).map(toPrediction);
    },
    async readFiles(files, { maxPixels = limits.maxPixels ?? DEFAULT_MAX_PIXELS } = {}) {
      return (await runner.readFiles(DIGITS, files, maxPixels)).map((reading) =>
        'refused' in reading ? { error: imageRefused(reading.refused, reading.message) } : { prediction: toPrediction(reading.output), input: reading.input },
      );
    },
    close,
  };
}

interface DecisionRules {
  band: InconclusiveBand | null;
  checks: ReferenceChecks | null;
}

function signatureModel(card: ModelCard, { band, checks }: DecisionRules, runner: InferenceRunner, limits: ImageLimits, close: () => Promise<void>): SignatureModel {
  return {
    card,
    threshold: card.threshold!,
    inconclusiveBand: band,
    referenceChecks: checks,
    embed: (images) => runner.run(SIGNATURES, images),
    embedFiles: (files, { maxPixels = limits.maxPixels ?? DEFAULT_MAX_PIXELS } = {}) => runner.runFiles(SIGNATURES, files, maxPixels),
    async embedFilesWithInkMaps(files, { maxPixels = limits.maxPixels ?? DEFAULT_MAX_PIXELS } = {}) {
      // The first refused file fails the call, as embedFiles does.
      return (await runner.readFiles(SIGNATURES, files, maxPixels)).map((reading) => {
        if ('refused' in reading) throw imageRefused(reading.refused, reading.message);
        return { embedding: reading.output, inkMap: reading.input };
      });
    },
    close,
  };
}

async function readDigitFile(modelsDir: string) {
  const file = await readModelFile(modelsDir, DIGITS);
  const classes = file.card.output.shape[1];
  if (classes !== DIGIT_CLASSES) {
    throw new ModelLoadError(file.displayPath, `The card of ${file.displayPath} gives ${String(classes)} output classes; a digit model has ${DIGIT_CLASSES}.`);
  }
  return file;
}

/** requireBand: the app needs the card's decision rules; the eval CLIs do not, so that a new model can be measured to derive them. */
async function readSignatureFile(modelsDir: string, { requireBand }: { requireBand: boolean }) {
  const file = await readModelFile(modelsDir, SIGNATURES);
  const threshold = file.card.threshold;
  if (threshold === undefined) {
    throw new ModelLoadError(file.displayPath, `The card of ${file.displayPath} has no "threshold"; a signature model needs one to decide.`);
  }
  const rules: DecisionRules = { band: null, checks: null };
  try {
    rules.band = inconclusiveBandOf(file.card, threshold);
    rules.checks = referenceChecksOf(file.card);
  } catch (error) {
    if (requireBand) {
      const cardPath = file.displayPath.replace(/\.onnx$/, '.json');
      throw new ModelLoadError(cardPath, `${cardPath} ${(error as Error).message}; see "Signatures" in models/README.md.`);
    }
  }
  return { ...file, rules };
}

/** Loads only the digit model (eval CLIs). Close it when done, or the worker threads keep the process alive. */
export async function loadDigitModel(modelsDir: string, options: RunnerOptions = {}): Promise<DigitModel> {
  const file = await readDigitFile(modelsDir);
  const runner = await startRunner([modelSpec(DIGITS, file)], options);
  return digitModel(file.card, runner, options, () => runner.close());
}

/** Loads only the signature model (eval CLIs). Close it when done, or the worker threads keep the process alive. */
export async function loadSignatureModel(modelsDir: string, options: RunnerOptions = {}): Promise<SignatureModel> {
  const file = await readSignatureFile(modelsDir, { requireBand: false });
  const runner = await startRunner([modelSpec(SIGNATURES, file)], options);
  return signatureModel(file.card, file.rules, runner, options, () => runner.close());
}

/**
 * Loads both models once, at start-up: verifies each file against its card, then starts one worker pool in which
 * every worker holds a warmed-up session of each model, so the two models share the cores instead of fighting over them.
 */
export async function loadModels({ modelsDir, ...options }: LoadOptions): Promise<Models> {
  const [digitsFile, signaturesFile] = await Promise.all([readDigitFile(modelsDir), readSignatureFile(modelsDir, { requireBand: true })]);
  const runner = await startRunner([modelSpec(DIGITS, digitsFile), modelSpec(SIGNATURES, signaturesFile)], options);
  const close = () => runner.close();
  return {
    digits: digitModel(digitsFile.card, runner, options, close),
    signatures: signatureModel(signaturesFile.card, signaturesFile.rules, runner, options, close),
    versions: () => ({ digits: digitsFile.card.version, signatures: signaturesFile.card.version }),
    close,
  };
}
