-- Signature verification (src/features/signatures): the people whose signatures an account checks ("signers"),
-- their reference signatures, and the append-only history of verifications. Images live in the image store;
-- each reference and each verification holds one reference to its stored image (released when the row goes).
-- AUTOINCREMENT: ids are never reused, so a cached image URL can never show another signer's signature.
CREATE TABLE signers (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  -- A customer number or similar, unique within the account (ignoring case) when given.
  external_ref TEXT,
  notes TEXT NOT NULL DEFAULT '',
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE UNIQUE INDEX signers_external_ref ON signers (user_id, external_ref COLLATE NOCASE) WHERE external_ref IS NOT NULL;
CREATE INDEX signers_user_name ON signers (user_id, name COLLATE NOCASE);

CREATE TABLE signature_references (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  signer_id INTEGER NOT NULL REFERENCES signers (id) ON DELETE CASCADE,
  user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  stored_image_id INTEGER NOT NULL REFERENCES stored_images (id),
  source TEXT NOT NULL CHECK (source IN ('upload', 'drawing', 'camera', 'library', 'api')),
  -- The model's embedding (float32, little-endian) and the model version that made it: embeddings of another
  -- version are recomputed from the stored image before they are compared with anything.
  embedding BLOB NOT NULL,
  model_version TEXT NOT NULL,
  -- What the model saw: the 200x200 ink map as a PNG, so that a bad crop is visible.
  ink_map BLOB NOT NULL,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX signature_references_signer ON signature_references (signer_id, id);
CREATE INDEX signature_references_stored_image ON signature_references (stored_image_id);

CREATE TABLE signature_verifications (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  signer_id INTEGER NOT NULL REFERENCES signers (id) ON DELETE CASCADE,
  -- Who ran it.
  user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  -- The questioned image as received; `crop` ("x,y,width,height" in its pixels) is the region that was verified.
  stored_image_id INTEGER NOT NULL REFERENCES stored_images (id),
  source TEXT NOT NULL CHECK (source IN ('upload', 'drawing', 'camera', 'library', 'api')),
  crop TEXT,
  score REAL NOT NULL,
  decision TEXT NOT NULL CHECK (decision IN ('genuine', 'forged', 'inconclusive')),
  threshold REAL NOT NULL,
  band_low REAL NOT NULL,
  band_high REAL NOT NULL,
  -- JSON [{"reference_id", "similarity"}]: the references used, as they were then (a reference deleted later stays listed).
  similarities TEXT NOT NULL,
  -- JSON [reference ids]: the signer's references left out as outliers (far from the others; see references.service.ts).
  left_out TEXT NOT NULL DEFAULT '[]',
  model_version TEXT NOT NULL,
  duration_ms REAL NOT NULL,
  ink_map BLOB NOT NULL,
  -- The true outcome, once known (labelled data for calibration); the only thing that may change afterwards.
  truth TEXT CHECK (truth IN ('genuine', 'forged')),
  truth_marked_at TEXT,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX signature_verifications_signer ON signature_verifications (signer_id, id);
CREATE INDEX signature_verifications_stored_image ON signature_verifications (stored_image_id);

-- The history is append-only: what was decided, on what and by which model can never be rewritten.
CREATE TRIGGER signature_verifications_append_only
BEFORE UPDATE OF signer_id, user_id, stored_image_id, source, crop, score, decision, threshold, band_low, band_high,
  similarities, left_out, model_version, duration_ms, ink_map, created_at ON signature_verifications
BEGIN
  SELECT RAISE(ABORT, 'signature verifications are append-only: only truth may change');
END;
