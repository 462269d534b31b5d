-- Each user's bytes in the image store (originals and thumbnails), kept up to date by triggers. The quota check
-- of every upload used to add up all the user's rows: 17 ms at 100,000 images, twice per upload, on the event
-- loop, which a data set of that size makes common.
CREATE TABLE storage_usage (
  user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
  bytes INTEGER NOT NULL CHECK (bytes >= 0)
);

INSERT INTO storage_usage (user_id, bytes)
SELECT user_id, SUM(bytes + thumbnail_bytes) FROM stored_images GROUP BY user_id;

CREATE TRIGGER stored_images_usage_insert AFTER INSERT ON stored_images
BEGIN
  INSERT INTO storage_usage (user_id, bytes) VALUES (NEW.user_id, NEW.bytes + NEW.thumbnail_bytes)
  ON CONFLICT (user_id) DO UPDATE SET bytes = bytes + excluded.bytes;
END;

-- Also fired by ON DELETE CASCADE when the account goes; its usage row goes with it.
CREATE TRIGGER stored_images_usage_delete AFTER DELETE ON stored_images
BEGIN
  UPDATE storage_usage SET bytes = bytes - (OLD.bytes + OLD.thumbnail_bytes) WHERE user_id = OLD.user_id;
END;

-- The store never changes these columns; if code ever does, the total stays right.
CREATE TRIGGER stored_images_usage_update AFTER UPDATE OF user_id, bytes, thumbnail_bytes ON stored_images
BEGIN
  UPDATE storage_usage SET bytes = bytes - (OLD.bytes + OLD.thumbnail_bytes) WHERE user_id = OLD.user_id;
  INSERT INTO storage_usage (user_id, bytes) VALUES (NEW.user_id, NEW.bytes + NEW.thumbnail_bytes)
  ON CONFLICT (user_id) DO UPDATE SET bytes = bytes + excluded.bytes;
END;
