-- Background jobs of model management (src/features/models/jobs.*): evaluations of a model version and training
-- of new digit-model versions. One job per model may be queued or running at a time (the partial unique index);
-- a job left queued or running by a restart is marked failed at start-up.
CREATE TABLE model_jobs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  kind TEXT NOT NULL CHECK (kind IN ('evaluation', 'training')),
  model TEXT NOT NULL,
  -- Evaluation: the version evaluated (results are stored with it). Training: the version it produced, once done.
  version TEXT,
  -- Evaluation of digits: the dataset used (NULL for signatures). Kept as a plain id: the dataset may be deleted later.
  dataset_id INTEGER,
  status TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
  -- JSON: what was asked (training: epochs, augmentation, learning rate, corrections chosen...).
  settings TEXT NOT NULL DEFAULT '{}',
  -- JSON: how far it is (evaluation: done/total; training: phase, epoch, loss, validation accuracy).
  progress TEXT NOT NULL DEFAULT '{}',
  -- JSON: what it found (accuracy, confusion matrix, FAR/FRR...) or made (the new version and its counts).
  result TEXT,
  error TEXT,
  -- Training: the kept log file under DATA_DIR/model-jobs/.
  log_file TEXT,
  created_by INTEGER REFERENCES users (id) ON DELETE SET NULL,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  started_at TEXT,
  finished_at TEXT
);
CREATE UNIQUE INDEX model_jobs_one_active ON model_jobs (model) WHERE status IN ('queued', 'running');
CREATE INDEX model_jobs_model ON model_jobs (model, kind, id);
CREATE INDEX model_jobs_version ON model_jobs (model, version) WHERE kind = 'evaluation';

-- "Let my corrected digits improve the shared model" (the account page): off until the user turns it on.
ALTER TABLE users ADD COLUMN share_digit_corrections INTEGER NOT NULL DEFAULT 0 CHECK (share_digit_corrections IN (0, 1));
