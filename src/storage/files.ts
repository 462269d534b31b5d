import { randomBytes } from 'node:crypto';
import { createReadStream, type ReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import path from 'node:path';

/**
 * The files under UPLOAD_DIR, laid out as users/<user id>/<2 hex>/<32 random hex>.<ext>: random names, so a
 * name reveals nothing and cannot be guessed; sharded, so no folder grows huge; one folder per user, so an
 * account's files go with the account at once. New files are written to .tmp/ first; uploads are received in
 * .tmp/incoming/.
 */
export interface FileArea {
  readonly root: string;
  /** Where uploads are received (src/http/uploads.ts) before the store checks them. */
  readonly incomingDir: string;
  /** Reads a received upload; refuses a path outside incomingDir. */
  readIncoming(receivedPath: string): Promise<Buffer>;
  /** A fresh random path for a user's file, relative to the root. */
  newPath(userId: number, extension: string): string;
  /** Writes to a temporary file, fsyncs it, renames it into place and fsyncs the folder: after this returns, a crash cannot lose it. */
  writeDurably(relativePath: string, bytes: Uint8Array): Promise<void>;
  remove(relativePaths: string[]): Promise<void>;
  removeUser(userId: number): Promise<void>;
  read(relativePath: string, options?: { start?: number; end?: number }): ReadStream;
  /** A whole file in one read (cheaper than a stream for the many small files of an export). */
  readWhole(relativePath: string): Promise<Buffer>;
  size(relativePath: string): Promise<number | null>;
  /**
   * Deletes files older than `graceMs` that `isKnown` does not claim (left by a crash between writing a file
   * and committing its row), and old temporary files. Returns how many were deleted.
   */
  sweep(isKnown: (userId: number, relativePath: string) => boolean, graceMs: number): Promise<number>;
}

const TMP = '.tmp';
const USERS = 'users';

async function fsyncFolder(folder: string): Promise<void> {
  const handle = await open(folder, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function listFiles(folder: string): Promise<string[]> {
  const entries = await readdir(folder, { recursive: true, withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [];
    throw err;
  });
  return entries.filter((entry) => entry.isFile()).map((entry) => path.join(entry.parentPath, entry.name));
}

export function createFileArea(root: string): FileArea {
  const absolute = (relativePath: string) => {
    const full = path.resolve(root, relativePath);
    // Paths come from the database, never from a request; this guards against a corrupted row all the same.
    if (!full.startsWith(path.resolve(root) + path.sep)) throw new Error(`Refusing a path outside the upload folder: ${relativePath}`);
    return full;
  };

  const incomingDir = path.join(path.resolve(root), TMP, 'incoming');

  return {
    root,
    incomingDir,
    readIncoming(receivedPath) {
      const full = path.resolve(receivedPath);
      if (!full.startsWith(incomingDir + path.sep)) throw new Error(`Refusing to read an upload outside ${incomingDir}: ${receivedPath}`);
      return readFile(full);
    },
    newPath(userId, extension) {
      const name = randomBytes(16).toString('hex');
      return path.join(USERS, String(userId), name.slice(0, 2), `${name}.${extension}`);
    },

    async writeDurably(relativePath, bytes) {
      const final = absolute(relativePath);
      const tmpFolder = path.join(root, TMP);
      const temporary = path.join(tmpFolder, `${randomBytes(12).toString('hex')}.part`);
      await mkdir(tmpFolder, { recursive: true });
      await mkdir(path.dirname(final), { recursive: true });
      const handle = await open(temporary, 'wx', 0o600);
      try {
        await handle.writeFile(bytes);
        await handle.sync();
      } catch (err) {
        await handle.close();
        await rm(temporary, { force: true });
        throw err;
      }
      await handle.close();
      try {
        await rename(temporary, final);
      } catch (err) {
        await rm(temporary, { force: true });
        throw err;
      }
      await fsyncFolder(path.dirname(final));
    },

    async remove(relativePaths) {
      await Promise.all(relativePaths.map((p) => rm(absolute(p), { force: true })));
    },

    async removeUser(userId) {
      await rm(path.join(root, USERS, String(userId)), { recursive: true, force: true });
    },

    read(relativePath, options) {
      return createReadStream(absolute(relativePath), options);
    },

    readWhole(relativePath) {
      return readFile(absolute(relativePath));
    },

    async size(relativePath) {
      try {
        return (await stat(absolute(relativePath))).size;
      } catch {
        return null;
      }
    },

    async sweep(isKnown, graceMs) {
      const cutoff = Date.now() - graceMs;
      let removed = 0;
      const removeIfOld = async (file: string) => {
        const info = await stat(file).catch(() => null);
        if (!info || info.mtimeMs > cutoff) return;
        await unlink(file).catch(() => undefined);
        removed++;
      };
      for (const file of await listFiles(path.join(root, TMP))) await removeIfOld(file);
      const usersFolder = path.join(root, USERS);
      for (const file of await listFiles(usersFolder)) {
        const relative = path.relative(root, file);
        const userId = Number(path.relative(usersFolder, file).split(path.sep)[0]);
        if (!Number.isInteger(userId) || !isKnown(userId, relative)) await removeIfOld(file);
      }
      return removed;
    },
  };
}
