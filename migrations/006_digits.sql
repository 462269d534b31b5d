-- Digit recognition (src/features/digits): every prediction a user makes, with its correction.
-- Ids are given out by the server before the row is written (predictions are written in batches; see
-- prediction-writer.ts), so AUTOINCREMENT keeps an id from ever being reused after a delete.
CREATE TABLE digit_predictions (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  source TEXT NOT NULL CHECK (source IN ('drawing', 'upload', 'api', 'library')),
  -- The image in the image store; NULL when the account does not keep images (or the store refused it).
  stored_image_id INTEGER REFERENCES stored_images (id),
  -- The uploaded file's name, for the history; NULL for drawings.
  file_name TEXT,
  digit INTEGER NOT NULL CHECK (digit BETWEEN 0 AND 9),
  confidence REAL NOT NULL,
  -- The ten probabilities as a JSON array, index = digit.
  probabilities TEXT NOT NULL,
  model_version TEXT NOT NULL,
  created_at TEXT NOT NULL,
  -- The user's correction: corrected_at set means reviewed; label NULL then means "not a digit". A label equal
  -- to digit confirms the prediction.
  label INTEGER CHECK (label BETWEEN 0 AND 9),
  corrected_at TEXT,
  CHECK (label IS NULL OR corrected_at IS NOT NULL)
);
-- History, newest first, and its filters.
CREATE INDEX digit_predictions_user_id ON digit_predictions (user_id, id);
CREATE INDEX digit_predictions_user_digit ON digit_predictions (user_id, digit, id);
-- Accuracy, confusion matrix and the corrected-images export read only the reviewed rows.
CREATE INDEX digit_predictions_user_corrected ON digit_predictions (user_id, corrected_at) WHERE corrected_at IS NOT NULL;
-- The review queue: the least confident unreviewed predictions.
CREATE INDEX digit_predictions_user_confidence ON digit_predictions (user_id, confidence) WHERE corrected_at IS NULL;
CREATE INDEX digit_predictions_stored_image_id ON digit_predictions (stored_image_id);

-- Per-account settings of the feature. No row means the defaults.
CREATE TABLE digit_settings (
  user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
  keep_images INTEGER NOT NULL DEFAULT 1 CHECK (keep_images IN (0, 1))
);
