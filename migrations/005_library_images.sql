-- The image library (src/features/images): a user's named images, each pointing into the image store.
-- AUTOINCREMENT: an id is never reused, so a cached thumbnail can never show another image under an old id.
CREATE TABLE library_images (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  stored_image_id INTEGER NOT NULL REFERENCES stored_images (id),
  name TEXT NOT NULL,
  source TEXT NOT NULL CHECK (source IN ('upload', 'camera', 'api', 'background_removal')),
  derived_from_id INTEGER REFERENCES library_images (id) ON DELETE SET NULL,
  -- For derived images: how they were made (JSON: the background-removal options, method and provider).
  derivation TEXT,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
-- The gallery: a user's images, newest first.
CREATE INDEX library_images_user_id ON library_images (user_id, id);
CREATE INDEX library_images_stored_image_id ON library_images (stored_image_id);
