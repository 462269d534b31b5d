import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { openDatabase } from '../../src/db/database.js';
import { migrate, openMigratedDatabase } from '../../src/db/migrate.js';
import { migrationsDir } from '../../src/paths.js';
import { createImageStore, fileFromBytes, SWEEP_GRACE_MS } from '../../src/storage/index.js';
import { pngImage } from '../helpers/images.js';

const child = fileURLToPath(new URL('./helpers/store-forever.ts', import.meta.url));

function allFiles(root: string): string[] {
  if (!existsSync(root)) return [];
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(root, path.join(entry.parentPath, entry.name)))
    .sort();
}

/** Makes every file look `ms` old, as if the restart came that much later. */
function age(root: string, ms: number): void {
  const then = new Date(Date.now() - ms);
  for (const file of allFiles(root)) utimesSync(path.join(root, file), then, then);
}

function openStore(dataDir: string) {
  const { db } = openMigratedDatabase(path.join(dataDir, 'inkwell.sqlite'));
  const store = createImageStore({ db, uploadDir: path.join(dataDir, 'uploads'), maxPixels: 50_000_000, quotaBytes: 1024 ** 3 });
  const rows = () => db.prepare('SELECT file, thumbnail_file AS thumbnailFile FROM stored_images').all() as { file: string; thumbnailFile: string }[];
  return { db, store, rows };
}

/** Runs the child until it has stored `batches` batches plus `extraMs`, then kills it with SIGKILL. */
function storeThenKill(dataDir: string, run: number, batches: number, extraMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', child, dataDir, String(run)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    proc.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes(`stored ${batches}\n`)) setTimeout(() => proc.kill('SIGKILL'), extraMs);
    });
    proc.on('exit', (code, signal) => (signal === 'SIGKILL' ? resolve() : reject(new Error(`child exited with ${code}`))));
  });
}

const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'inkwell-store-'));
  dirs.push(dir);
  return dir;
};
after(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

describe('image store on disk', () => {
  it('when files no row claims are found, then the sweep deletes those older than an hour and keeps recent ones', async () => {
    const dataDir = tempDir();
    const { db, store, rows } = openStore(dataDir);
    const userId = (db.prepare("INSERT INTO users (username, password_hash) VALUES ('u', 'x') RETURNING id").get() as { id: number }).id;
    await store.add(userId, [fileFromBytes('kept.png', await pngImage(20, 20, 1))], () => undefined);
    const uploads = path.join(dataDir, 'uploads');
    const stray = path.join(uploads, 'users', String(userId), 'ab', 'abcdef.png');
    mkdirSync(path.dirname(stray), { recursive: true });
    writeFileSync(stray, 'left by a crash');
    mkdirSync(path.join(uploads, '.tmp'), { recursive: true });
    writeFileSync(path.join(uploads, '.tmp', 'x.part'), 'half written');

    assert.equal(await store.sweep(), 0, 'recent files may belong to an upload in progress');
    age(uploads, SWEEP_GRACE_MS + 60_000);
    assert.equal(await store.sweep(), 2);
    assert.deepEqual(allFiles(uploads), rows().flatMap((row) => [row.file, row.thumbnailFile]).sort());
    db.close();
  });

  it('when the process is killed (SIGKILL) while storing batches, then after a restart every row has its files and the sweep leaves no stray file', async () => {
    const dataDir = tempDir();
    const uploads = path.join(dataDir, 'uploads');
    // Killed at moments spread over one batch (about 17 ms on the dev box): while checking, writing or committing.
    for (const [run, [batches, extraMs]] of [[2, 0], [3, 2], [1, 4], [4, 6], [2, 8], [3, 10], [1, 12], [2, 14]].entries()) {
      await storeThenKill(dataDir, run, batches!, extraMs!);
      const { db, store, rows } = openStore(dataDir);
      for (const row of rows()) {
        assert.ok(existsSync(path.join(uploads, row.file)), `the row's file ${row.file} exists`);
        assert.ok(existsSync(path.join(uploads, row.thumbnailFile)), `the row's thumbnail ${row.thumbnailFile} exists`);
      }
      age(uploads, SWEEP_GRACE_MS + 60_000);
      await store.sweep();
      assert.deepEqual(allFiles(uploads), rows().flatMap((row) => [row.file, row.thumbnailFile]).sort(), 'no file without a row');
      db.close();
    }
  });
});

describe('storage usage', () => {
  type Db = ReturnType<typeof openMigratedDatabase>['db'];
  const newUser = (db: Db, name: string) =>
    (db.prepare("INSERT INTO users (username, password_hash) VALUES (?, 'x') RETURNING id").get(name) as { id: number }).id;
  const summed = (db: Db, userId: number) =>
    db.prepare('SELECT COALESCE(SUM(bytes + thumbnail_bytes), 0) FROM stored_images WHERE user_id = ?').pluck().get(userId) as number;

  it('when images are added, shared, released and the account deleted, then the usage and the quota follow every byte', async () => {
    const dataDir = tempDir();
    const { db } = openMigratedDatabase(path.join(dataDir, 'inkwell.sqlite'));
    const small = createImageStore({ db, uploadDir: path.join(dataDir, 'uploads'), maxPixels: 50_000_000, quotaBytes: 60_000 });
    const [ann, bob] = [newUser(db, 'ann'), newUser(db, 'bob')];
    const [one, two] = [await pngImage(40, 30, 1), await pngImage(40, 30, 2)];
    const added = await small.add(ann, [fileFromBytes('1.png', one), fileFromBytes('2.png', two), fileFromBytes('2 again.png', two)], (images) => images);
    await small.add(bob, [fileFromBytes('b.png', await pngImage(50, 50, 3))], () => undefined);
    assert.equal(added.length, 3);
    assert.ok(small.usage(ann).usedBytes > 0);
    assert.equal(small.usage(ann).usedBytes, summed(db, ann));
    assert.equal(small.usage(bob).usedBytes, summed(db, bob));
    assert.deepEqual(small.usageByUser(), new Map([[ann, summed(db, ann)], [bob, summed(db, bob)]]));

    // The second copy of seed 2 shares the first's row: releasing one reference keeps it, the last one frees it.
    await small.release(ann, [added[1]!.id], () => undefined);
    assert.equal(small.usage(ann).usedBytes, summed(db, ann));
    await small.release(ann, [added[0]!.id, added[2]!.id], () => undefined);
    assert.equal(small.usage(ann).usedBytes, 0);

    // The quota reads the same figure: an upload that would pass it is refused, and nothing changes.
    const big = await pngImage(150, 150, 9);
    assert.ok(big.length > 60_000);
    const before = small.usage(bob).usedBytes;
    await assert.rejects(small.add(bob, [fileFromBytes('big.png', big)], () => undefined), /Not enough storage/);
    assert.equal(small.usage(bob).usedBytes, before);

    db.prepare('DELETE FROM users WHERE id = ?').run(bob);
    assert.equal(small.usage(bob).usedBytes, 0);
    assert.equal(db.prepare('SELECT COUNT(*) FROM storage_usage WHERE user_id = ?').pluck().get(bob), 0);
    db.close();
  });

  it('when a database from before the usage table is upgraded, then each user starts with the bytes already stored', async () => {
    const dataDir = tempDir();
    const older = path.join(dataDir, 'migrations');
    mkdirSync(older);
    for (const name of readdirSync(migrationsDir).filter((name) => name < '012')) copyFileSync(path.join(migrationsDir, name), path.join(older, name));
    const db = openDatabase(path.join(dataDir, 'inkwell.sqlite'));
    migrate(db, older);
    const userId = newUser(db, 'ann');
    const insert = db.prepare(`INSERT INTO stored_images (user_id, sha256, type, width, height, bytes, file, thumbnail_file, thumbnail_bytes, ref_count)
      VALUES (?, ?, 'png', 10, 10, ?, ?, ?, 100, 1)`);
    insert.run(userId, 'a', 5000, 'a.png', 'a.webp');
    insert.run(userId, 'b', 7000, 'b.png', 'b.webp');
    assert.equal(migrate(db, migrationsDir)[0], '012_storage_usage.sql');
    const store = createImageStore({ db, uploadDir: path.join(dataDir, 'uploads'), maxPixels: 50_000_000, quotaBytes: 1024 ** 3 });
    assert.equal(store.usage(userId).usedBytes, 12_200);
    db.close();
  });
});
