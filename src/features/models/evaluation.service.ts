import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { loadDigitModel } from '../../ml/index.js';
import { NotFoundError, ValidationError } from '../../http/errors.js';
import type { LabelledImagesReader } from '../datasets/index.js';
import type { LabelledVerification } from '../signatures/index.js';
import type { Job, JobsRepo } from './jobs.repo.js';
import { JobFailedError, type JobContext, type JobRunner } from './jobs.runner.js';

export const MODELS = ['digits', 'signatures'] as const;
export type ModelName = (typeof MODELS)[number];

/**
 * Where the versions of a model are and which answers now. Implemented by the versions part of this feature
 * (registerVersion & co. in index.ts); kept to this much so that jobs need nothing else from it.
 */
export interface VersionCatalogue {
  /** The folder holding <model>.onnx and <model>.json of this version, or null when there is no such version. */
  dirOf(model: ModelName, version: string): string | null;
  activeVersion(model: ModelName): string;
  /** Every version of the model, newest first. */
  versions(model: ModelName): string[];
}

/** How many images go to the worker at a time: big enough to amortise the round trip, small enough to report progress often. */
const BATCH = 32;

export interface DigitEvaluationResult {
  dataset: { id: number; name: string };
  n: number;
  correct: number;
  accuracy: number;
  /** Per digit: accuracy in %, null where the dataset has no image of it. */
  per_digit_accuracy: Record<string, number | null>;
  per_digit_n: Record<string, number>;
  /** confusion[true digit][predicted digit] = count. */
  confusion: number[][];
  /** Images the production preprocessing refused (no ink, undecodable...), by reason; not counted in n. */
  rejected: Record<string, number>;
  seconds: number;
}

export interface SignatureEvaluationResult {
  n: { genuine: number; forged: number };
  threshold: number;
  /** At the card's threshold, on the recorded scores (accept = score >= threshold). */
  far: number | null;
  frr: number | null;
  /** Share of the labelled verifications whose decision was inconclusive. */
  inconclusive: number | null;
  /** Decisive answers only: forged ones accepted, genuine ones rejected. */
  decisive: { far: number | null; frr: number | null };
  /** FAR and FRR as the threshold moves. */
  curve: { threshold: number; far: number | null; frr: number | null }[];
  note: string;
}

const round = (value: number, digits = 2) => Math.round(value * 10 ** digits) / 10 ** digits;
const share = (part: number, whole: number) => (whole ? round((part / whole) * 100) : null);

const isDigitLabel = (name: string) => /^[0-9]$/.test(name);

export interface EvaluationDeps {
  repo: JobsRepo;
  runner: JobRunner;
  catalogue: VersionCatalogue;
  datasets: LabelledImagesReader;
  verifications: { forVersion(version: string): LabelledVerification[] };
  maxPixels: number;
}

export function createEvaluationService({ repo, runner, catalogue, datasets, verifications, maxPixels }: EvaluationDeps) {
  function parseModel(model: string): ModelName {
    if (!(MODELS as readonly string[]).includes(model)) throw new NotFoundError('There is no such model.');
    return model as ModelName;
  }

  function versionDir(model: ModelName, version: string): string {
    const dir = catalogue.dirOf(model, version);
    if (!dir) throw new ValidationError(`The ${model} model has no version "${version}".`, { version: 'Choose one of the versions listed.' });
    return dir;
  }

  /** The user's dataset, checked to have only the labels 0-9 and at least one image. */
  function digitDataset(userId: number, datasetId: number) {
    let dataset;
    try {
      dataset = datasets.describe(userId, datasetId);
    } catch (error) {
      if (error instanceof NotFoundError) throw new ValidationError('We could not find that dataset among yours.', { dataset_id: 'Choose one of your datasets.' });
      throw error;
    }
    const others = dataset.labels.filter((l) => !isDigitLabel(l.name)).map((l) => l.name);
    if (others.length) {
      throw new ValidationError(`The dataset "${dataset.name}" has labels other than 0-9 (${others.slice(0, 5).join(', ')}).`, { dataset_id: 'Choose a dataset whose labels are the digits 0-9.' });
    }
    const total = dataset.labels.reduce((sum, l) => sum + l.count, 0);
    if (!total) throw new ValidationError(`The dataset "${dataset.name}" has no images.`, { dataset_id: 'Choose a dataset with images.' });
    return { ...dataset, total };
  }

  async function evaluateDigits(context: JobContext, userId: number, dir: string, dataset: { id: number; name: string; total: number }): Promise<DigitEvaluationResult> {
    const started = Date.now();
    const confusion = Array.from({ length: 10 }, () => new Array<number>(10).fill(0));
    const rejected: Record<string, number> = {};
    let done = 0;
    // One worker thread, one onnxruntime thread: an evaluation takes at most one core from the requests.
    const model = await loadDigitModel(dir, { workers: 1, intraOpNumThreads: 1, maxPixels });
    try {
      context.progress({ done, total: dataset.total }, true);
      for await (const batch of datasets.batches(userId, dataset.id, BATCH)) {
        if (context.signal.aborted) throw new JobFailedError('Cancelled.');
        const readings = await model.readFiles(batch.map((image) => image.bytes));
        readings.forEach((reading, i) => {
          if (reading.error) rejected[reading.error.reason] = (rejected[reading.error.reason] ?? 0) + 1;
          else confusion[Number(batch[i]!.label)]![reading.prediction.digit]! += 1;
        });
        done += batch.length;
        context.progress({ done, total: dataset.total });
      }
    } finally {
      await model.close();
    }
    const perDigitN: Record<string, number> = {};
    const perDigit: Record<string, number | null> = {};
    let n = 0;
    let correct = 0;
    for (let d = 0; d < 10; d++) {
      const row = confusion[d]!;
      const count = row.reduce((a, b) => a + b, 0);
      perDigitN[d] = count;
      perDigit[d] = share(row[d]!, count);
      n += count;
      correct += row[d]!;
    }
    context.progress({ done, total: dataset.total }, true);
    return {
      dataset: { id: dataset.id, name: dataset.name },
      n,
      correct,
      accuracy: share(correct, n) ?? 0,
      per_digit_accuracy: perDigit,
      per_digit_n: perDigitN,
      confusion,
      rejected,
      seconds: round((Date.now() - started) / 1000, 1),
    };
  }

  async function evaluateSignatures(dir: string, version: string): Promise<SignatureEvaluationResult> {
    const card = JSON.parse(await readFile(path.join(dir, 'signatures.json'), 'utf8')) as { threshold?: number };
    const rows = verifications.forVersion(version);
    const genuine = rows.filter((r) => r.truth === 'genuine');
    const forged = rows.filter((r) => r.truth === 'forged');
    const threshold = card.threshold ?? rows[0]?.threshold ?? 0;
    const ratesAt = (t: number) => ({
      far: share(forged.filter((r) => r.score >= t).length, forged.length),
      frr: share(genuine.filter((r) => r.score < t).length, genuine.length),
    });
    const scores = rows.map((r) => r.score);
    const low = Math.min(threshold, ...scores);
    const high = Math.max(threshold, ...scores);
    const steps = 20;
    const curve = Array.from({ length: steps + 1 }, (_, i) => {
      const t = round(low + ((high - low) * i) / steps, 4);
      return { threshold: t, ...ratesAt(t) };
    });
    return {
      n: { genuine: genuine.length, forged: forged.length },
      threshold,
      ...ratesAt(threshold),
      inconclusive: share(rows.filter((r) => r.decision === 'inconclusive').length, rows.length),
      decisive: {
        far: share(forged.filter((r) => r.decision === 'genuine').length, forged.length),
        frr: share(genuine.filter((r) => r.decision === 'forged').length, genuine.length),
      },
      curve,
      note: rows.length
        ? `The ${rows.length} verifications answered by version ${version} whose true outcome was recorded; scores and decisions as recorded then.`
        : `No verification answered by version ${version} has a recorded true outcome yet: mark outcomes on the verification pages, then evaluate again.`,
    };
  }

  return {
    parseModel,
    checkDigitDataset: digitDataset,

    /** Starts an evaluation job: digits on one of the user's datasets with labels 0-9, signatures on the labelled verifications. */
    start(userId: number, modelName: string, input: { version: string; datasetId?: number | null }): Job {
      const model = parseModel(modelName);
      const dir = versionDir(model, input.version);
      if (model === 'digits') {
        if (!input.datasetId) throw new ValidationError('Choose a dataset to evaluate on.', { dataset_id: 'Choose one of your datasets with labels 0-9.' });
        const dataset = digitDataset(userId, input.datasetId);
        return runner.enqueue(
          { kind: 'evaluation', model, version: input.version, datasetId: dataset.id, settings: { dataset: { id: dataset.id, name: dataset.name, images: dataset.total } }, createdBy: userId },
          async (context) => ({ result: { ...(await evaluateDigits(context, userId, dir, dataset)) } }),
        );
      }
      return runner.enqueue({ kind: 'evaluation', model, version: input.version, datasetId: null, settings: {}, createdBy: userId }, async () => ({
        result: { ...(await evaluateSignatures(dir, input.version)) },
      }));
    },

    get(modelName: string, id: number): Job {
      const model = parseModel(modelName);
      const job = repo.find(id);
      if (!job || job.kind !== 'evaluation' || job.model !== model) throw new NotFoundError('We could not find that evaluation.');
      return job;
    },

    list: (modelName: string, limit = 30) => repo.list(parseModel(modelName), 'evaluation', limit),

    /** The stored (succeeded) evaluations of a version, newest first: what a training job's page compares its result with. */
    ofVersion: (model: ModelName, version: string) => repo.evaluationsOf(model, version),

    /** The newest succeeded evaluation of each version, by version: what /admin/models shows beside the versions. */
    latestByVersion: (model: ModelName): Map<string, Job> => new Map(repo.latestEvaluations(model).map((job) => [job.version!, job])),

    /** Two succeeded evaluations of the same model on the same dataset, side by side, with the differences. */
    compare(modelName: string, firstId: number, secondId: number) {
      const jobs = [this.get(modelName, firstId), this.get(modelName, secondId)];
      if (jobs.some((j) => j.status !== 'succeeded')) throw new ValidationError('Both evaluations must have finished.', { b: 'Choose two finished evaluations.' });
      if (jobs[0]!.datasetId !== jobs[1]!.datasetId) throw new ValidationError('The two evaluations used different data: compare evaluations of the same dataset.', { b: 'Choose an evaluation on the same dataset.' });
      const [a, b] = jobs as [Job, Job];
      const delta = (key: string) => {
        const x = a.result?.[key];
        const y = b.result?.[key];
        return typeof x === 'number' && typeof y === 'number' ? round(y - x) : null;
      };
      return { a, b, delta: { accuracy: delta('accuracy'), far: delta('far'), frr: delta('frr'), inconclusive: delta('inconclusive') } };
    },
  };
}

export type EvaluationService = ReturnType<typeof createEvaluationService>;
