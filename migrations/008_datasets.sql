-- Datasets (src/features/datasets): named collections of labelled images for training classifiers.
-- name_key is the name folded for comparison (NFC, case-folded), so that "Cats" and "cats" cannot both exist.
CREATE TABLE datasets (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  name_key TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  UNIQUE (user_id, name_key)
);

-- A dataset's labels (classes), in the order they were added: the capture page's keys 1-9 follow it.
CREATE TABLE dataset_labels (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  dataset_id INTEGER NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  name_key TEXT NOT NULL,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  UNIQUE (dataset_id, name_key)
);

-- One image in one label, pointing into the image store. The cascades only serve account deletion (the store's rows
-- go too); the service deletes images through the store, which counts references (store.release).
-- UNIQUE (dataset_id, stored_image_id): the same bytes appear once per dataset (stored images are per sha256).
CREATE TABLE dataset_images (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  dataset_id INTEGER NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
  label_id INTEGER NOT NULL REFERENCES dataset_labels (id) ON DELETE CASCADE,
  stored_image_id INTEGER NOT NULL REFERENCES stored_images (id),
  -- The file name the image came with (cleaned of paths); the export keeps it when it is safe.
  name TEXT NOT NULL,
  source TEXT NOT NULL CHECK (source IN ('upload', 'camera', 'api', 'library', 'import', 'feature')),
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  UNIQUE (dataset_id, stored_image_id)
);
CREATE INDEX dataset_images_label ON dataset_images (label_id, id);
CREATE INDEX dataset_images_stored_image ON dataset_images (stored_image_id);

-- What each zip import did (the report page): counts, and the entries imported and skipped with their reasons (JSON).
CREATE TABLE dataset_imports (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  dataset_id INTEGER NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
  archive_name TEXT NOT NULL,
  imported_count INTEGER NOT NULL,
  skipped_count INTEGER NOT NULL,
  report TEXT NOT NULL,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX dataset_imports_dataset ON dataset_imports (dataset_id, id);
