import { execFile } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { digitInputLevels, loadDigitModel, type DigitModel } from '../../ml/index.js';
import { NotFoundError, ServiceUnavailableError, ValidationError } from '../../http/errors.js';
import type { LabelledImagesReader } from '../datasets/index.js';
import type { TrainingCorrectionsReader } from '../digits/index.js';
import type { Job, JobsRepo } from './jobs.repo.js';
import { JobFailedError, type JobContext, type JobRunner } from './jobs.runner.js';
import { logTail, runTrainingScript } from './training-script.js';
import type { VersionCatalogue } from './evaluation.service.js';

/** The Debian packages that give /usr/bin/python3 what train_digits.py imports. */
export const TRAINING_PACKAGES = ['python3-torch', 'python3-torchvision', 'python3-onnx'];
/** Every 5th correction (by id) is kept out of training, to measure the new version on digits it has not seen. */
const HOLD_OUT_EVERY = 5;
const BATCH = 32;

export const trainingSettingsSchema = z.object({
  epochs: z.coerce.number().int().min(1, 'At least 1 epoch.').max(30, 'At most 30 epochs.').default(5),
  augment: z.boolean().default(true),
  learning_rate: z.coerce.number().min(0.00001, 'At least 0.00001.').max(0.1, 'At most 0.1.').default(0.003),
  /** 'all': every consenting account's corrections; 'since': those made from `since` on; 'none': MNIST (and the dataset) only. */
  corrections: z.enum(['all', 'since', 'none']).default('all'),
  since: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'A date as YYYY-MM-DD.').optional(),
  dataset_id: z.coerce.number().int().positive().optional(),
  /** Only this many MNIST training images (a quick trial run); absent: all 55,000. */
  mnist_limit: z.coerce.number().int().min(1000, 'At least 1,000.').max(55000, 'At most 55,000.').optional(),
});
export type TrainingSettings = z.infer<typeof trainingSettingsSchema>;

/** Registers the produced files as a new version (the versions part of this feature: registerVersion). */
export type RegisterVersion = (input: {
  model: 'digits';
  onnxPath: string;
  card: Record<string, unknown>;
  source: 'trained';
  createdBy: number | null;
}) => Promise<{ version: string }>;

export interface TrainingDeps {
  repo: JobsRepo;
  runner: JobRunner;
  catalogue: VersionCatalogue;
  register: RegisterVersion;
  corrections: TrainingCorrectionsReader;
  datasets: LabelledImagesReader;
  /** Ids of the accounts that allowed their corrected digits to be used (the account page's setting). */
  consentingUsers: () => number[];
  config: { python: string; threads: number; dataDir: string; jobsDir: string; maxPixels: number };
  /** Checks a dataset for labels 0-9 (shared with evaluations). */
  checkDigitDataset: (userId: number, datasetId: number) => { id: number; name: string; total: number };
}

export interface Availability {
  available: boolean;
  /** Why not, for the page. */
  reason: string | null;
  packages: string[];
}

/** One exported digit for the script: label then 28x28 ink levels 0-255, as prepareDigit gives them (un-normalised). */
function record(label: number, input: Float32Array): Buffer {
  const bytes = Buffer.alloc(785);
  bytes[0] = label;
  bytes.set(digitInputLevels(input), 1);
  return bytes;
}

export function createTrainingService(deps: TrainingDeps) {
  const { repo, runner, catalogue, register, corrections, datasets, consentingUsers, config } = deps;
  let availability: Promise<Availability> | null = null;

  /** Whether the configured Python can import torch, torchvision and onnx (checked once, off the event loop). */
  function checkAvailability(): Promise<Availability> {
    availability ??= new Promise((resolve) => {
      execFile(config.python, ['-c', 'import torch, torchvision, onnx'], { timeout: 60_000 }, (error, _stdout, stderr) => {
        const reason = error ? `${config.python} cannot import torch, torchvision and onnx${stderr ? `: ${stderr.trim().split('\n').at(-1)}` : ''}` : null;
        resolve({ available: !error, reason, packages: TRAINING_PACKAGES });
      });
    });
    return availability;
  }

  /** Reads the stored images through the production preprocessing (prepareDigit, in the worker) into the script's records. */
  async function exportData(context: JobContext, userId: number, settings: TrainingSettings, preparer: DigitModel, file: string) {
    const out = createWriteStream(file);
    const heldOut: { label: number; input: Float32Array }[] = [];
    const counts = { corrections: 0, corrections_trained: 0, corrections_held_out: 0, accounts: 0, dataset_images: 0, refused: 0 };
    const write = (chunk: Buffer) => new Promise<void>((resolve, reject) => out.write(chunk, (error) => (error ? reject(error) : resolve())));
    try {
      if (settings.corrections !== 'none') {
        const users = consentingUsers();
        const filter = { userIds: users, since: settings.corrections === 'since' ? settings.since : undefined };
        const total = corrections.count(filter);
        const accounts = new Set<number>();
        let seen = 0;
        for await (const batch of corrections.batches(filter, BATCH)) {
          if (context.signal.aborted) throw new JobFailedError('Cancelled.');
          const readings = await preparer.readFiles(batch.map((c) => c.bytes));
          for (const [i, reading] of readings.entries()) {
            const correction = batch[i]!;
            if (reading.error) {
              counts.refused++;
              continue;
            }
            counts.corrections++;
            accounts.add(correction.userId);
            if (correction.predictionId % HOLD_OUT_EVERY === 0) {
              heldOut.push({ label: correction.label, input: reading.input });
              counts.corrections_held_out++;
            } else {
              await write(record(correction.label, reading.input));
              counts.corrections_trained++;
            }
          }
          seen += batch.length;
          context.progress({ phase: 'exporting', done: seen, total });
        }
        counts.accounts = accounts.size;
      }
      if (settings.dataset_id) {
        for await (const batch of datasets.batches(userId, settings.dataset_id, BATCH)) {
          if (context.signal.aborted) throw new JobFailedError('Cancelled.');
          const readings = await preparer.readFiles(batch.map((image) => image.bytes));
          for (const [i, reading] of readings.entries()) {
            if (reading.error) counts.refused++;
            else {
              await write(record(Number(batch[i]!.label), reading.input));
              counts.dataset_images++;
            }
          }
          context.progress({ phase: 'exporting', dataset_images: counts.dataset_images });
        }
      }
    } finally {
      await new Promise<void>((resolve) => out.end(resolve));
    }
    return { heldOut, counts };
  }

  async function train(context: JobContext, job: { userId: number; settings: TrainingSettings }): Promise<{ result: Record<string, unknown>; version: string }> {
    const { userId, settings } = job;
    const started = Date.now();
    const jobDir = path.join(config.jobsDir, String(context.jobId));
    const workDir = path.join(jobDir, 'work');
    const outDir = path.join(workDir, 'out');
    await mkdir(outDir, { recursive: true });
    const logFile = path.join(jobDir, 'train.log');
    await writeFile(logFile, `Training job ${context.jobId}, settings ${JSON.stringify(settings)}\n`);
    context.setLogFile(logFile);
    const history: Record<string, unknown>[] = [];
    try {
      const active = catalogue.activeVersion('digits');
      // Any version prepares the same way (prepareDigit): the active one is used only for its worker.
      const preparer = await loadDigitModel(catalogue.dirOf('digits', active)!, { workers: 1, intraOpNumThreads: 1, maxPixels: config.maxPixels });
      const extraFile = path.join(workDir, 'extra.bin');
      let exported;
      try {
        context.progress({ phase: 'exporting' }, true);
        exported = await exportData(context, userId, settings, preparer, extraFile);
      } finally {
        await preparer.close();
      }
      const { counts, heldOut } = exported;
      await writeFile(logFile, `Exported: ${JSON.stringify(counts)}\n`, { flag: 'a' });

      const version = `${new Date().toISOString().slice(0, 10)}-job${context.jobId}`;
      const args = ['--data', config.dataDir, '--epochs', String(settings.epochs), '--threads', String(config.threads), '--max-lr', String(settings.learning_rate),
        '--out', outDir, '--progress', '--version', version];
      if (!settings.augment) args.push('--no-augment');
      if (settings.mnist_limit) args.push('--limit-train', String(settings.mnist_limit));
      if (counts.corrections_trained + counts.dataset_images > 0) args.push('--extra-data', extraFile);
      context.progress({ phase: 'training', epoch: 0, epochs: settings.epochs, history }, true);
      await runTrainingScript({ python: config.python, threads: config.threads }, context, { args, logFile, history, epochs: settings.epochs });

      context.progress({ phase: 'evaluating', epoch: history.length, epochs: settings.epochs, history }, true);
      const onnxPath = path.join(outDir, 'digits.onnx');
      const card = JSON.parse(await readFile(path.join(outDir, 'digits.json'), 'utf8')) as Record<string, any>;
      let heldOutResult: { n: number; correct: number; accuracy: number | null } = { n: 0, correct: 0, accuracy: null };
      if (heldOut.length) {
        const model = await loadDigitModel(outDir, { workers: 1, intraOpNumThreads: 1 });
        try {
          const predictions = await model.classify(heldOut.map((h) => h.input));
          const correct = predictions.filter((p, i) => p.digit === heldOut[i]!.label).length;
          heldOutResult = { n: heldOut.length, correct, accuracy: Math.round((correct / heldOut.length) * 10000) / 100 };
        } finally {
          await model.close();
        }
      }
      const dataset = settings.dataset_id ? deps.checkDigitDataset(userId, settings.dataset_id) : null;
      card.training = { ...card.training, settings: { ...settings, threads: config.threads, nice: 10 }, job: context.jobId };
      card.training_data = {
        ...card.training_data,
        corrections: {
          which: settings.corrections === 'since' ? `corrections made since ${settings.since}` : settings.corrections === 'all' ? 'all corrections' : 'none',
          only_from_accounts_that_allowed_it: true,
          accounts: counts.accounts,
          used: counts.corrections,
          trained_on: counts.corrections_trained,
          held_out: counts.corrections_held_out,
          refused_by_preprocessing: counts.refused,
          preprocessing: 'prepareDigit (src/ml), as in production, on the stored image',
        },
        dataset: dataset ? { id: dataset.id, name: dataset.name, images: counts.dataset_images } : null,
        mnist_train_images: settings.mnist_limit ?? 55000,
      };
      card.evaluation = {
        ...card.evaluation,
        held_out_corrections: { ...heldOutResult, method: 'every 5th correction (by id), never trained on; prepareDigit then the exported ONNX model, as in production' },
      };
      // Cancelled while the held-out digits were measured: nothing is registered.
      if (context.signal.aborted) throw new JobFailedError('Cancelled.');
      context.progress({ phase: 'registering', epoch: history.length, epochs: settings.epochs, history }, true);
      const registered = await register({ model: 'digits', onnxPath, card, source: 'trained', createdBy: userId });
      const seconds = Math.round((Date.now() - started) / 1000);
      await writeFile(logFile, `Registered version ${registered.version} after ${seconds} s\n`, { flag: 'a' });
      return {
        version: registered.version,
        result: {
          version: registered.version,
          mnist_test_accuracy: card.evaluation?.mnist_test?.accuracy ?? null,
          held_out_corrections: heldOutResult,
          counts,
          seconds,
          history,
        },
      };
    } finally {
      await rm(workDir, { recursive: true, force: true });
    }
  }

  // Temporary files a stopped server left behind (the kept logs stay).
  void readdir(config.jobsDir)
    .then((ids) =>
      Promise.all(
        ids
          .filter((id) => !['queued', 'running'].includes(repo.find(Number(id))?.status ?? ''))
          .map((id) => rm(path.join(config.jobsDir, id, 'work'), { recursive: true, force: true })),
      ),
    )
    .catch(() => undefined);

  return {
    checkAvailability,

    /** Starts a training job; 503 when Python with torch is missing, 409 when the digit model has a job already. */
    async start(userId: number, input: unknown): Promise<Job> {
      const parsed = trainingSettingsSchema.safeParse(input);
      if (!parsed.success) {
        const fields = Object.fromEntries(parsed.error.issues.map((i) => [String(i.path[0] ?? 'settings'), i.message]));
        throw new ValidationError(`Invalid training settings: ${Object.entries(fields).map(([k, v]) => `${k}: ${v}`).join(' ')}`, fields);
      }
      const settings = parsed.data;
      if (settings.corrections === 'since' && !settings.since) throw new ValidationError('Give the date the corrections start from.', { since: 'A date as YYYY-MM-DD.' });
      if (settings.corrections !== 'since') delete settings.since;
      if (settings.dataset_id) deps.checkDigitDataset(userId, settings.dataset_id);
      const { available, reason } = await checkAvailability();
      if (!available) throw new ServiceUnavailableError(`Training is not available: ${reason}. Install the Debian packages ${TRAINING_PACKAGES.join(' ')}.`);
      return runner.enqueue({ kind: 'training', model: 'digits', version: null, datasetId: settings.dataset_id ?? null, settings, createdBy: userId }, (context) => train(context, { userId, settings }));
    },

    get(id: number): Job {
      const job = repo.find(id);
      if (!job || job.kind !== 'training') throw new NotFoundError('We could not find that training job.');
      return job;
    },

    cancel(id: number): Job {
      this.get(id);
      return runner.cancel(id);
    },

    /** The end of the job's kept log. */
    logTail: (job: Job): Promise<string> => (job.logFile ? logTail(job.logFile) : Promise.resolve('')),
    /** The whole kept log (the page's download). */
    async log(job: Job): Promise<string> {
      if (!job.logFile) return '';
      return readFile(job.logFile, 'utf8').catch(() => '');
    },

    list: (limit = 20) => repo.list('digits', 'training', limit),
    /** How many corrections a job would find now (the form's hint). */
    consentingCorrections: () => corrections.count({ userIds: consentingUsers() }),
  };
}

export type TrainingService = ReturnType<typeof createTrainingService>;
