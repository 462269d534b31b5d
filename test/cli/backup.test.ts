import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import request from 'supertest';
import { runAdminCli } from '../../src/cli/admin.js';
import { fileFromBytes } from '../../src/storage/index.js';
import { signIn } from '../helpers/agent.js';
import { pngImage } from '../helpers/images.js';
import { createTestApp } from '../helpers/test-app.js';

describe('npm run admin -- backup', () => {
  const t = createTestApp();
  const target = mkdtempSync(path.join(os.tmpdir(), 'inkwell-backups-'));
  after(() => {
    t.close();
    rmSync(target, { recursive: true, force: true });
  });

  it('when a backup is made while the app runs, then it holds a consistent database and the image files, and restores to a working app', async () => {
    const user = await t.createUser({ username: 'keeper' });
    const image = await pngImage(64, 48, 9);
    const [libraryId] = await t.store.add(user.id, [fileFromBytes('keep.png', image)], (stored) =>
      stored.map((s) => Number(t.db.prepare("INSERT INTO library_images (user_id, stored_image_id, name, source) VALUES (?, ?, 'keep.png', 'upload')").run(user.id, s.id).lastInsertRowid)),
    );

    const out: string[] = [];
    const err: string[] = [];
    const env = { NODE_ENV: 'test', DATA_DIR: t.dataDir, UPLOAD_DIR: t.config.uploadDir, BCRYPT_COST: '4' };
    const status = await runAdminCli(['backup', target], { env, io: { out: (l) => void out.push(l), err: (l) => void err.push(l), readPassword: async () => '' } });
    assert.equal(status, 0, err.join('\n'));
    assert.match(out.join('\n'), /Backed up the database and 2 image files/);
    const [folder] = readdirSync(target);
    const backup = path.join(target, folder!);
    assert.ok(existsSync(path.join(backup, 'inkwell.sqlite')));
    assert.ok(existsSync(path.join(backup, 'RESTORE.txt')));

    // Restore as the guide says: the database file into a new DATA_DIR, the files into a new UPLOAD_DIR.
    const restored = createTestApp({ env: { DATA_DIR: backup, UPLOAD_DIR: path.join(backup, 'uploads') } });
    try {
      const agent = await signIn(restored.app, { username: 'keeper', password: user.password });
      const file = await agent.get(`/images/${libraryId}/file`).buffer(true).expect(200);
      assert.ok(Buffer.from(file.body as Buffer).equals(readFileSync(path.join(backup, 'uploads', restored.db.prepare('SELECT file FROM stored_images').pluck().get() as string))));
      await request(restored.app).get('/ready').expect(200);
    } finally {
      restored.db.close();
    }
  });

  it('when the folder argument is missing, then a usage message and a non-zero status', async () => {
    const err: string[] = [];
    const status = await runAdminCli(['backup'], { env: { NODE_ENV: 'test', DATA_DIR: t.dataDir }, io: { out: () => undefined, err: (l) => void err.push(l), readPassword: async () => '' } });
    assert.equal(status, 1);
    assert.match(err.join('\n'), /Usage: npm run admin -- backup <folder>/);
  });
});
