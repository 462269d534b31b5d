import type { Db } from '../../db/database.js';
import type { ImageType } from '../../ml/image-input.js';

export type ImageSource = 'upload' | 'camera' | 'api' | 'background_removal';

/** A library image with what the store knows about its file. */
export interface LibraryImage {
  id: number;
  userId: number;
  storedImageId: number;
  name: string;
  source: ImageSource;
  derivedFromId: number | null;
  /** For derived images: how they were made (background-removal options, method, provider, notice). */
  derivation: Record<string, unknown> | null;
  createdAt: string;
  type: ImageType;
  width: number;
  height: number;
  bytes: number;
  sha256: string;
}

interface Row extends Omit<LibraryImage, 'derivation'> {
  derivation: string | null;
}

const select = `SELECT l.id, l.user_id AS userId, l.stored_image_id AS storedImageId, l.name, l.source, l.derived_from_id AS derivedFromId,
  l.derivation, l.created_at AS createdAt, s.type, s.width, s.height, s.bytes, s.sha256
  FROM library_images l JOIN stored_images s ON s.id = l.stored_image_id`;

const toImage = (row: Row | undefined): LibraryImage | undefined =>
  row && { ...row, derivation: row.derivation === null ? null : (JSON.parse(row.derivation) as Record<string, unknown>) };

export interface NewLibraryImage {
  userId: number;
  storedImageId: number;
  name: string;
  source: ImageSource;
  derivedFromId?: number | null;
  derivation?: Record<string, unknown> | null;
}

export function createImagesRepo(db: Db) {
  const statements = {
    insert: db.prepare(`INSERT INTO library_images (user_id, stored_image_id, name, source, derived_from_id, derivation)
      VALUES (@userId, @storedImageId, @name, @source, @derivedFromId, @derivation) RETURNING id`),
    findById: db.prepare(`${select} WHERE l.user_id = ? AND l.id = ?`),
    page: db.prepare(`${select} WHERE l.user_id = ? ORDER BY l.id DESC LIMIT ? OFFSET ?`),
    count: db.prepare('SELECT COUNT(*) FROM library_images WHERE user_id = ?').pluck(),
    countByUser: db.prepare('SELECT user_id AS userId, COUNT(*) AS count FROM library_images GROUP BY user_id'),
    rename: db.prepare('UPDATE library_images SET name = ? WHERE user_id = ? AND id = ?'),
    remove: db.prepare('DELETE FROM library_images WHERE user_id = ? AND id = ?'),
  };

  const findById = (userId: number, id: number) => toImage(statements.findById.get(userId, id) as Row | undefined);

  return {
    insert(image: NewLibraryImage): LibraryImage {
      const { id } = statements.insert.get({
        ...image,
        derivedFromId: image.derivedFromId ?? null,
        derivation: image.derivation ? JSON.stringify(image.derivation) : null,
      }) as { id: number };
      return findById(image.userId, id)!;
    },
    findById,
    /** The user's images among `ids`, in the order given; ids that are not theirs are left out. */
    findMany: (userId: number, ids: number[]) => ids.map((id) => findById(userId, id)).filter((image): image is LibraryImage => Boolean(image)),
    /** Newest first. */
    page: (userId: number, limit: number, offset: number) => (statements.page.all(userId, limit, offset) as Row[]).map((row) => toImage(row)!),
    count: (userId: number) => statements.count.get(userId) as number,
    /** Every user's number of images (the admin user pages). */
    countByUser: () => new Map((statements.countByUser.all() as { userId: number; count: number }[]).map((row) => [row.userId, row.count])),
    rename(userId: number, id: number, name: string): void {
      statements.rename.run(name, userId, id);
    },
    remove(userId: number, id: number): void {
      statements.remove.run(userId, id);
    },
  };
}

export type ImagesRepo = ReturnType<typeof createImagesRepo>;
