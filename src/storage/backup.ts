import { constants } from 'node:fs';
import { copyFile, mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Db } from '../db/database.js';
import { createStoredImagesRepo } from './stored-images.repo.js';

export interface BackupResult {
  /** The backup folder: inkwell.sqlite, uploads/, and session-secret when there is one. */
  folder: string;
  files: number;
  bytes: number;
  /** How many database snapshots it took until every file they refer to was copied. */
  snapshots: number;
}

/** A few rounds are plenty: a round repeats only when an image was deleted between snapshot and copy. */
const MAX_SNAPSHOTS = 5;

/**
 * An online, consistent backup of the database and the image files together, while the server runs:
 *  1. the database through SQLite's online backup API (better-sqlite3 `db.backup`): a consistent snapshot,
 *     whatever the server writes meanwhile;
 *  2. every file that snapshot refers to, copied from UPLOAD_DIR (files it does not know are not copied).
 * The server writes an image's file before its row and deletes the row before the file, so a file can only be
 * missing when it was deleted after the snapshot: then a fresh snapshot (without that row) is taken and the
 * missing files copied, until nothing is missing. The result restores as a whole (see README, "Backups").
 */
export async function backupDatabaseAndImages({ db, uploadDir, folder }: { db: Db; uploadDir: string; folder: string }): Promise<BackupResult> {
  await mkdir(path.join(folder, 'uploads'), { recursive: true });
  const databaseCopy = path.join(folder, 'inkwell.sqlite');
  let files = 0;
  let bytes = 0;
  for (let snapshots = 1; snapshots <= MAX_SNAPSHOTS; snapshots++) {
    await db.backup(databaseCopy);
    const snapshot = new Database(databaseCopy, { readonly: true, fileMustExist: true });
    let missing = 0;
    try {
      for (const file of createStoredImagesRepo(snapshot).allFiles()) {
        const copied = await copyIfNeeded(path.join(uploadDir, file), path.join(folder, 'uploads', file));
        if (copied === null) missing++;
        else if (copied > 0) {
          files++;
          bytes += copied;
        }
      }
    } finally {
      snapshot.close();
    }
    if (missing === 0) return { folder, files, bytes, snapshots };
  }
  throw new Error(`Image files kept disappearing while the backup ran (${MAX_SNAPSHOTS} tries); run it again when the server is quieter.`);
}

/** Copies a file unless the copy is already there (an earlier round); the bytes copied, 0 if none, null when the source is gone. */
async function copyIfNeeded(source: string, target: string): Promise<number | null> {
  const existing = await stat(target).catch(() => null);
  if (existing) return 0;
  await mkdir(path.dirname(target), { recursive: true });
  try {
    // A copy-on-write clone where the file system offers one (btrfs, XFS), a plain copy elsewhere.
    await copyFile(source, target, constants.COPYFILE_FICLONE);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  return (await stat(target)).size;
}
