import type { Logger } from '../../logger.js';
import { ConflictError, NotFoundError } from '../../http/errors.js';
import type { Job, JobsRepo, NewJob } from './jobs.repo.js';

export interface JobContext {
  jobId: number;
  /** Aborted when the job is cancelled or the server stops: the work stops as soon as it can. */
  signal: AbortSignal;
  /** Records how far the job is; written at most every PROGRESS_INTERVAL_MS unless `force`. */
  progress(progress: Record<string, unknown>, force?: boolean): void;
  /** The kept log file of the job (training). */
  setLogFile(file: string): void;
}

export interface JobOutcome {
  result: Record<string, unknown>;
  /** Training: the version it made. */
  version?: string;
}

export type JobWork = (context: JobContext) => Promise<JobOutcome>;

/** Failures whose message is for the admin (bad data, a failed training run); anything else is logged and summarised. */
export class JobFailedError extends Error {
  override name = 'JobFailedError';
}

const PROGRESS_INTERVAL_MS = 500;

/**
 * Runs model jobs in the background of the web process: a job is a promise started after the request that made it
 * has been answered. The work itself keeps the event loop free (evaluations send inference to worker threads,
 * training runs in a child process). One queued or running job per model: the database refuses a second one.
 */
export function createJobRunner({ repo, logger }: { repo: JobsRepo; logger: Logger }) {
  const running = new Map<number, { controller: AbortController; done: Promise<void> }>();

  const interrupted = repo.failInterrupted();
  if (interrupted) logger.warn({ jobs: interrupted }, 'model jobs interrupted by the last stop were marked failed');

  async function run(jobId: number, work: JobWork, controller: AbortController): Promise<void> {
    if (!repo.start(jobId)) return;
    let last = 0;
    const context: JobContext = {
      jobId,
      signal: controller.signal,
      progress(progress, force = false) {
        const now = Date.now();
        if (!force && now - last < PROGRESS_INTERVAL_MS) return;
        last = now;
        repo.setProgress(jobId, progress);
      },
      setLogFile: (file) => repo.setLogFile(jobId, file),
    };
    try {
      const outcome = await work(context);
      if (controller.signal.aborted) return;
      repo.finish(jobId, 'succeeded', { result: outcome.result, version: outcome.version ?? null });
    } catch (error) {
      if (controller.signal.aborted) return;
      const known = error instanceof JobFailedError;
      if (!known) logger.error({ err: error, jobId }, 'model job failed');
      repo.finish(jobId, 'failed', { error: known ? error.message : `The job failed unexpectedly: ${(error as Error).message}` });
    }
  }

  return {
    /** Records the job and starts it once the current request is answered. 409 when the model already has one. */
    enqueue(job: NewJob, work: JobWork): Job {
      const active = repo.active(job.model);
      if (active) throw new ConflictError(`The ${job.model} model already has a ${active.kind} job ${active.status} (job ${active.id}). Wait for it to finish or cancel it.`);
      let id: number;
      try {
        id = repo.insert(job);
      } catch (error) {
        if ((error as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') throw new ConflictError(`The ${job.model} model already has a job queued or running.`);
        throw error;
      }
      const controller = new AbortController();
      const done = new Promise<void>((resolve) => setImmediate(resolve))
        .then(() => run(id, work, controller))
        .finally(() => running.delete(id));
      running.set(id, { controller, done });
      return repo.find(id)!;
    },

    /** Cancels a queued or running job (a training process is killed); an ended job is left as it is. */
    cancel(id: number): Job {
      const job = repo.find(id);
      if (!job) throw new NotFoundError('We could not find that job.');
      if (job.status === 'queued' || job.status === 'running') {
        repo.finish(id, 'cancelled', { error: 'Cancelled by an administrator.' });
        running.get(id)?.controller.abort();
      }
      return repo.find(id)!;
    },

    /** Resolves when the job's work has returned (tests; close). */
    async settled(id: number): Promise<Job> {
      await running.get(id)?.done;
      return repo.find(id)!;
    },

    /** Server stop: running jobs are stopped and marked failed (as a restart would). */
    async close(): Promise<void> {
      for (const [id, { controller }] of running) {
        repo.finish(id, 'failed', { error: 'Interrupted: the server stopped while the job was running.' });
        controller.abort();
      }
      await Promise.all([...running.values()].map((r) => r.done));
    },
  };
}

export type JobRunner = ReturnType<typeof createJobRunner>;
