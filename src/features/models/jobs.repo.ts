import type { Db } from '../../db/database.js';

export type JobKind = 'evaluation' | 'training';
export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
export const ACTIVE_STATUSES: readonly JobStatus[] = ['queued', 'running'];

export interface Job {
  id: number;
  kind: JobKind;
  model: string;
  version: string | null;
  datasetId: number | null;
  status: JobStatus;
  settings: Record<string, unknown>;
  progress: Record<string, unknown>;
  result: Record<string, unknown> | null;
  error: string | null;
  logFile: string | null;
  createdBy: number | null;
  /** The username of created_by, or null once the account is gone. */
  createdByName: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

interface Row extends Omit<Job, 'settings' | 'progress' | 'result'> {
  settings: string;
  progress: string;
  result: string | null;
}

const COLUMNS = `j.id, j.kind, j.model, j.version, j.dataset_id AS datasetId, j.status, j.settings, j.progress, j.result, j.error,
  j.log_file AS logFile, j.created_by AS createdBy, u.username AS createdByName, j.created_at AS createdAt, j.started_at AS startedAt,
  j.finished_at AS finishedAt`;
const FROM = 'model_jobs j LEFT JOIN users u ON u.id = j.created_by';
const NOW = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

const toJob = (row: Row): Job => ({
  ...row,
  settings: JSON.parse(row.settings) as Record<string, unknown>,
  progress: JSON.parse(row.progress) as Record<string, unknown>,
  result: row.result === null ? null : (JSON.parse(row.result) as Record<string, unknown>),
});

export interface NewJob {
  kind: JobKind;
  model: string;
  version: string | null;
  datasetId: number | null;
  settings: Record<string, unknown>;
  createdBy: number;
}

export function createJobsRepo(db: Db) {
  const statements = {
    insert: db.prepare(
      `INSERT INTO model_jobs (kind, model, version, dataset_id, settings, created_by) VALUES (@kind, @model, @version, @datasetId, @settings, @createdBy) RETURNING id`,
    ).pluck(),
    find: db.prepare(`SELECT ${COLUMNS} FROM ${FROM} WHERE j.id = ?`),
    active: db.prepare(`SELECT ${COLUMNS} FROM ${FROM} WHERE j.model = ? AND j.status IN ('queued', 'running')`),
    list: db.prepare(`SELECT ${COLUMNS} FROM ${FROM} WHERE j.model = ? AND j.kind = ? ORDER BY j.id DESC LIMIT ?`),
    evaluationsOf: db.prepare(
      `SELECT ${COLUMNS} FROM ${FROM} WHERE j.kind = 'evaluation' AND j.model = ? AND j.version = ? AND j.status = 'succeeded' ORDER BY j.id DESC`,
    ),
    latestEvaluations: db.prepare(
      `SELECT ${COLUMNS} FROM ${FROM} WHERE j.id IN (SELECT max(id) FROM model_jobs WHERE kind = 'evaluation' AND model = ? AND status = 'succeeded' GROUP BY version)`,
    ),
    start: db.prepare(`UPDATE model_jobs SET status = 'running', started_at = ${NOW} WHERE id = ? AND status = 'queued'`),
    progress: db.prepare('UPDATE model_jobs SET progress = ? WHERE id = ?'),
    logFile: db.prepare('UPDATE model_jobs SET log_file = ? WHERE id = ?'),
    finish: db.prepare(
      `UPDATE model_jobs SET status = @status, result = @result, error = @error, version = coalesce(@version, version), finished_at = ${NOW}
       WHERE id = @id AND status IN ('queued', 'running')`,
    ),
    interrupted: db.prepare(
      `UPDATE model_jobs SET status = 'failed', error = 'Interrupted: the server stopped while the job was ' || status || '.', finished_at = ${NOW}
       WHERE status IN ('queued', 'running')`,
    ),
  };

  return {
    /** Throws SQLITE_CONSTRAINT_UNIQUE when the model already has a queued or running job (see the migration). */
    insert: (job: NewJob): number => statements.insert.get({ ...job, settings: JSON.stringify(job.settings) }) as number,
    find(id: number): Job | undefined {
      const row = statements.find.get(id) as Row | undefined;
      return row && toJob(row);
    },
    active(model: string): Job | undefined {
      const row = statements.active.get(model) as Row | undefined;
      return row && toJob(row);
    },
    list: (model: string, kind: JobKind, limit = 20): Job[] => (statements.list.all(model, kind, limit) as Row[]).map(toJob),
    /** The succeeded evaluations of one version, newest first. */
    evaluationsOf: (model: string, version: string): Job[] => (statements.evaluationsOf.all(model, version) as Row[]).map(toJob),
    /** The newest succeeded evaluation of each version of the model. */
    latestEvaluations: (model: string): Job[] => (statements.latestEvaluations.all(model) as Row[]).map(toJob),
    /** false when the job is no longer queued (cancelled meanwhile). */
    start: (id: number): boolean => statements.start.run(id).changes > 0,
    setProgress: (id: number, progress: Record<string, unknown>) => void statements.progress.run(JSON.stringify(progress), id),
    setLogFile: (id: number, file: string) => void statements.logFile.run(file, id),
    /** Ends a queued or running job; false when it had already ended (e.g. cancelled). */
    finish: (id: number, status: Exclude<JobStatus, 'queued' | 'running'>, { result = null, error = null, version = null }: { result?: unknown; error?: string | null; version?: string | null } = {}) =>
      statements.finish.run({ id, status, result: result === null ? null : JSON.stringify(result), error, version }).changes > 0,
    /** At start-up: jobs that a stop or crash left queued or running cannot resume. */
    failInterrupted: (): number => statements.interrupted.run().changes,
  };
}

export type JobsRepo = ReturnType<typeof createJobsRepo>;
