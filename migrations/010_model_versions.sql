-- Model versions (src/features/models): the shipped ones in models/ (registered at start-up, read-only), and the
-- ones trained or uploaded on this server, whose files live in DATA_DIR/models/<model>/<version>/.
CREATE TABLE model_versions (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  model TEXT NOT NULL CHECK (model IN ('digits', 'signatures')),
  version TEXT NOT NULL,
  sha256 TEXT NOT NULL CHECK (length(sha256) = 64),
  bytes INTEGER NOT NULL,
  card TEXT NOT NULL,            -- the model card, JSON
  source TEXT NOT NULL CHECK (source IN ('shipped', 'trained', 'uploaded')),
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  created_by INTEGER REFERENCES users (id) ON DELETE SET NULL,
  UNIQUE (model, version)
);

-- The version each model answers with, kept across restarts; previous_version is what "roll back" returns to.
-- No row: the shipped version. last_error: why the last activation (or the restore at start-up) failed.
CREATE TABLE active_models (
  model TEXT PRIMARY KEY CHECK (model IN ('digits', 'signatures')),
  version TEXT NOT NULL,
  previous_version TEXT,
  activated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  activated_by INTEGER REFERENCES users (id) ON DELETE SET NULL,
  last_error TEXT
) WITHOUT ROWID;
