/**
 * Child process for the crash-consistency test: stores 40 batches of three new images into the store in the
 * given data folder as fast as it can, printing "stored <n>" after each batch, unless it is killed first.
 */
import path from 'node:path';
import sharp from 'sharp';
import { openMigratedDatabase } from '../../../src/db/migrate.js';
import { createImageStore, fileFromBytes } from '../../../src/storage/index.js';

const dataDir = process.argv[2]!;
const { db } = openMigratedDatabase(path.join(dataDir, 'inkwell.sqlite'));
const userId = (db.prepare("INSERT INTO users (username, password_hash) VALUES ('crash', 'x') ON CONFLICT DO NOTHING RETURNING id").get() as { id: number } | undefined)?.id
  ?? (db.prepare("SELECT id FROM users WHERE username = 'crash'").get() as { id: number }).id;
const store = createImageStore({ db, uploadDir: path.join(dataDir, 'uploads'), maxPixels: 50_000_000, quotaBytes: 1024 ** 4 });

const image = (seed: number) =>
  sharp({ create: { width: 96, height: 64, channels: 3, background: { r: seed % 256, g: (seed >> 8) % 256, b: (seed * 7) % 256 } } }).png().toBuffer();

// Made before storing starts, so that the kill lands inside store.add rather than in making pictures.
const batches = await Promise.all(
  Array.from({ length: 40 }, (_, batch) =>
    Promise.all([0, 1, 2].map(async (i) => fileFromBytes(`${batch}-${i}.png`, await image(Number(process.argv[3] ?? 0) * 1000 + batch * 3 + i)))),
  ),
);
for (const [batch, files] of batches.entries()) {
  await store.add(userId, files, () => undefined);
  process.stdout.write(`stored ${batch + 1}\n`);
}
