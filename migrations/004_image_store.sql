-- The image store (src/storage): one row per distinct image of a user, content-addressed by the sha256 of the
-- stored bytes. Features keep their own tables and point here; ref_count counts those pointers, and the file
-- is deleted when it drops to 0. Users never share a row, so nobody can learn that another user has an image.
CREATE TABLE stored_images (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  sha256 TEXT NOT NULL,
  type TEXT NOT NULL CHECK (type IN ('png', 'jpeg', 'webp', 'gif')),
  width INTEGER NOT NULL,
  height INTEGER NOT NULL,
  bytes INTEGER NOT NULL,
  -- Paths relative to UPLOAD_DIR; random names, never derived from what the user sent.
  file TEXT NOT NULL UNIQUE,
  thumbnail_file TEXT NOT NULL UNIQUE,
  thumbnail_bytes INTEGER NOT NULL,
  ref_count INTEGER NOT NULL CHECK (ref_count >= 0),
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  UNIQUE (user_id, sha256)
);
