import type { Db } from '../db/database.js';
import type { ImageType } from '../ml/image-input.js';

/** One distinct image in a user's store (a row of stored_images). */
export interface StoredImage {
  id: number;
  userId: number;
  sha256: string;
  type: ImageType;
  width: number;
  height: number;
  bytes: number;
  file: string;
  thumbnailFile: string;
  thumbnailBytes: number;
  refCount: number;
  createdAt: string;
}

export type NewStoredImage = Omit<StoredImage, 'id' | 'refCount' | 'createdAt'>;

const columns = `id, user_id AS userId, sha256, type, width, height, bytes, file, thumbnail_file AS thumbnailFile,
  thumbnail_bytes AS thumbnailBytes, ref_count AS refCount, created_at AS createdAt`;

export function createStoredImagesRepo(db: Db) {
  const statements = {
    findBySha: db.prepare(`SELECT ${columns} FROM stored_images WHERE user_id = ? AND sha256 = ?`),
    findById: db.prepare(`SELECT ${columns} FROM stored_images WHERE user_id = ? AND id = ?`),
    insert: db.prepare(`INSERT INTO stored_images (user_id, sha256, type, width, height, bytes, file, thumbnail_file, thumbnail_bytes, ref_count)
      VALUES (@userId, @sha256, @type, @width, @height, @bytes, @file, @thumbnailFile, @thumbnailBytes, 0) RETURNING ${columns}`),
    addReferences: db.prepare('UPDATE stored_images SET ref_count = ref_count + ? WHERE user_id = ? AND id = ?'),
    deleteUnreferenced: db.prepare('DELETE FROM stored_images WHERE user_id = ? AND id = ? AND ref_count <= 0 RETURNING file, thumbnail_file AS thumbnailFile'),
    // storage_usage is kept by triggers on stored_images (migrations/012_storage_usage.sql): one row read, not a sum.
    usage: db.prepare('SELECT COALESCE((SELECT bytes FROM storage_usage WHERE user_id = ?), 0)').pluck(),
    usageByUser: db.prepare('SELECT user_id AS userId, bytes FROM storage_usage'),
    filesOfUser: db.prepare('SELECT file, thumbnail_file AS thumbnailFile FROM stored_images WHERE user_id = ?'),
    allFiles: db.prepare('SELECT file, thumbnail_file AS thumbnailFile FROM stored_images'),
  };

  return {
    findBySha: (userId: number, sha256: string) => statements.findBySha.get(userId, sha256) as StoredImage | undefined,
    findById: (userId: number, id: number) => statements.findById.get(userId, id) as StoredImage | undefined,
    insert: (image: NewStoredImage) => statements.insert.get(image) as StoredImage,
    /** `delta` may be negative (references dropped). */
    addReferences(userId: number, id: number, delta: number): void {
      statements.addReferences.run(delta, userId, id);
    },
    /** Deletes the row if nothing refers to it any more; returns its files to delete after the commit. */
    deleteIfUnreferenced: (userId: number, id: number) => statements.deleteUnreferenced.get(userId, id) as { file: string; thumbnailFile: string } | undefined,
    /** Bytes on disk for the user: originals and thumbnails. */
    usage: (userId: number) => statements.usage.get(userId) as number,
    /** Every user's bytes on disk, at once (the admin user pages). */
    usageByUser: () => new Map((statements.usageByUser.all() as { userId: number; bytes: number }[]).map((row) => [row.userId, row.bytes])),
    /** Every file path any row claims (what a backup copies). */
    allFiles(): string[] {
      return (statements.allFiles.all() as { file: string; thumbnailFile: string }[]).flatMap((row) => [row.file, row.thumbnailFile]);
    },
    /** Every file path the user's rows claim (the start-up sweep keeps these). */
    filesOfUser(userId: number): Set<string> {
      const rows = statements.filesOfUser.all(userId) as { file: string; thumbnailFile: string }[];
      return new Set(rows.flatMap((row) => [row.file, row.thumbnailFile]));
    },
  };
}

export type StoredImagesRepo = ReturnType<typeof createStoredImagesRepo>;
