import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { createTestApp, type TestApp } from '../helpers/test-app.js';
import { bearerFor } from '../helpers/agent.js';
import { binary, createDataset, uploadTo } from '../helpers/datasets.js';
import * as images from '../helpers/images.js';
import { buildZip, type ZipEntrySpec } from '../helpers/zip.js';

type Report = { imported_count: number; skipped_count: number; imported: { file: string; label: string; id: number }[]; skipped: { file: string; code: string; message: string }[] };

/** Files under a folder (recursively), for checking that nothing was left or written where it should not be. */
const filesUnder = (root: string) =>
  existsSync(root) ? readdirSync(root, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name)) : [];

function importZip(t: TestApp, auth: string, zip: Buffer, fields: Record<string, string> = {}, fileName = 'upload.zip') {
  const req = request(t.app).post('/api/v1/datasets/import').set('Authorization', auth);
  for (const [name, value] of Object.entries(fields)) req.field(name, value);
  return req.attach('archive', zip, fileName);
}

const codeOf = (report: Report, file: string) => report.skipped.find((s) => s.file === file)?.code;

describe('dataset import', () => {
  let t: TestApp;
  let auth: string;
  before(async () => {
    t = createTestApp({ env: { UPLOAD_MAX_FILE_MB: '1', IMAGE_MAX_MEGAPIXELS: '1' } });
    auth = await bearerFor(t.app, await t.createUser({ username: 'importer' }));
  });
  after(() => t.close());

  /** After each import: the request's received archive is gone, and no file was written outside the upload folder's users/. */
  async function assertNothingLeft() {
    for (let waited = 0; filesUnder(path.join(t.config.uploadDir, '.tmp')).length && waited < 2000; waited += 20) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(filesUnder(path.join(t.config.uploadDir, '.tmp')), [], 'no temporary file is left');
    const outside = filesUnder(t.dataDir).filter((file) => !file.startsWith(path.join(t.config.uploadDir, 'users')) && !/inkwell\.sqlite|session-secret/.test(file));
    assert.deepEqual(outside, [], 'nothing written outside the image store');
  }

  it('when an exported dataset (with a split) is imported, then it becomes a new dataset with the same labels and images', async () => {
    const source = await createDataset(t.app, auth, 'pets', ['cat', 'dog']);
    await uploadTo(t.app, auth, source.id, 'cat', await Promise.all([1, 2, 3, 4].map(async (i) => [await images.pngImage(24, 24, 800 + i), `c${i}.png`] as [Buffer, string])));
    await uploadTo(t.app, auth, source.id, 'dog', await Promise.all([1, 2, 3].map(async (i) => [await images.jpegImage(24, 24, 810 + i), `d${i}.jpg`] as [Buffer, string])));
    const zip = (await request(t.app).get(`/api/v1/datasets/${source.id}/export?split=50,25,25`).set('Authorization', auth).buffer(true).parse(binary).expect(200)).body as Buffer;

    const res = await importZip(t, auth, zip, {}, 'pets_dataset.zip').expect(201);
    assert.deepEqual(Object.keys(res.body).sort(), ['dataset', 'report']);
    const { dataset, report } = res.body as { dataset: { name: string; labels: { name: string; image_count: number }[]; image_count: number }; report: Report };
    assert.equal(dataset.name, 'pets 2', 'the top folder\'s name, made free');
    assert.deepEqual(dataset.labels.map((l) => [l.name, l.image_count]), [['cat', 4], ['dog', 3]]);
    assert.equal(report.imported_count, 7);
    assert.deepEqual(report.skipped.map((s) => [s.file, s.code]).sort(), [['pets/README.md', 'metadata_file'], ['pets/labels.csv', 'metadata_file']]);
    assert.ok(report.imported.every((item) => /^pets\/(train|val|test)\/(cat|dog)\//.test(item.file)));
    await assertNothingLeft();
  });

  it('when a class-folder zip has no top folder, then each folder is a label, the dataset is named after the file, root files are skipped', async () => {
    const zip = buildZip([
      { name: 'n01440764/', method: 0 },
      { name: 'n01440764/fish.png', data: await images.pngImage(20, 20, 820) },
      { name: 'Hot Dog (food)/a.jpg', data: await images.jpegImage(20, 20, 821) },
      { name: 'deeper/sub/b.png', data: await images.pngImage(20, 20, 822) },
      { name: 'stray.png', data: await images.pngImage(20, 20, 823) },
      { name: 'notes.txt', data: Buffer.from('hello') },
      { name: '__MACOSX/n01440764/._fish.png', data: Buffer.from('resource fork') },
    ]);
    const res = await importZip(t, auth, zip, {}, 'ImageNet bits.zip').expect(201);
    assert.equal(res.body.dataset.name, 'ImageNet bits');
    assert.deepEqual(res.body.dataset.labels.map((l: { name: string }) => l.name), ['n01440764', 'Hot Dog _food_', 'deeper']);
    const report = res.body.report as Report;
    assert.deepEqual(report.imported.map((i) => [i.file, i.label]), [['n01440764/fish.png', 'n01440764'], ['Hot Dog (food)/a.jpg', 'Hot Dog _food_'], ['deeper/sub/b.png', 'deeper']]);
    assert.equal(codeOf(report, 'stray.png'), 'no_label');
    assert.equal(codeOf(report, 'notes.txt'), 'metadata_file');
    assert.equal(codeOf(report, '__MACOSX/n01440764/._fish.png'), 'system_file');
  });

  it('when a zip is merged into an existing dataset, then labels are matched ignoring case, new ones made, duplicates skipped naming the image', async () => {
    const target = await createDataset(t.app, auth, 'merge target', ['Cat']);
    const tom = await images.pngImage(20, 20, 830);
    await uploadTo(t.app, auth, target.id, 'Cat', [[tom, 'tom.png']]);
    const zip = buildZip([
      { name: 'cat/tom copy.png', data: tom },
      { name: 'cat/new.png', data: await images.pngImage(20, 20, 831) },
      { name: 'bird/tweety.png', data: await images.pngImage(20, 20, 832) },
    ]);
    const res = await importZip(t, auth, zip, { dataset_id: String(target.id), name: 'ignored when merging' }).expect(201);
    assert.equal(res.body.dataset.id, target.id);
    assert.deepEqual(res.body.dataset.labels.map((l: { name: string; image_count: number }) => [l.name, l.image_count]), [['Cat', 2], ['bird', 1]]);
    const skipped = (res.body.report as Report).skipped;
    assert.deepEqual(skipped.map((s) => [s.file, s.code]), [['cat/tom copy.png', 'duplicate']]);
    assert.match(skipped[0]!.message, /already in this dataset: Cat\/tom\.png/);
  });

  describe('defences: each hostile entry is skipped with its reason, the rest imported', () => {
    let report: Report;
    before(async () => {
      const good = await images.pngImage(20, 20, 840);
      const zeros = Buffer.alloc(5 * 1024 * 1024);
      const entries: ZipEntrySpec[] = [
        { name: 'ok/good.png', data: good },
        { name: '../evil.png', data: await images.pngImage(20, 20, 841) },
        { name: 'ok/../../evil2.png', data: await images.pngImage(20, 20, 842) },
        { name: '/etc/evil3.png', data: await images.pngImage(20, 20, 843) },
        { name: 'C:/Windows/evil4.png', data: await images.pngImage(20, 20, 844) },
        { name: '..\\..\\evil5.png', data: await images.pngImage(20, 20, 845) },
        { name: 'ok/link.png', data: Buffer.from('/etc/passwd'), method: 0, unixMode: 0o120777 },
        { name: 'ok/fifo.png', data: Buffer.alloc(0), method: 0, unixMode: 0o010644 },
        { name: 'ok/inner.zip', data: buildZip([{ name: 'x.png', data: good }]) },
        { name: 'ok/disguised.png', data: buildZip([{ name: 'x.png', data: good }]) },
        { name: 'ok/bomb.png', data: zeros },
        { name: 'ok/liar.png', data: zeros, declaredSize: 100 },
        { name: 'ok/big.png', data: randomBytes(1.5 * 1024 * 1024), method: 0 },
        { name: 'ok/secret.png', data: good, encrypted: true },
        { name: 'ok/readme.png', data: Buffer.from('this is text, not an image') },
        { name: 'ok/huge.png', data: images.pngBomb(2000, 2000) },
        { name: 'ok/again.png', data: good },
        { name: 'ok/ctrl\u0007name.png', data: good },
      ];
      const res = await importZip(t, auth, buildZip(entries), { name: 'defences' }).expect(201);
      report = res.body.report;
    });

    it('when entries lead out of the archive or are absolute, then they are skipped as unsafe_path and nothing is written outside the store', async () => {
      for (const file of ['../evil.png', 'ok/../../evil2.png', '/etc/evil3.png', 'C:/Windows/evil4.png', '../../evil5.png']) assert.equal(codeOf(report, file), 'unsafe_path', file);
      assert.equal(codeOf(report, 'ok/ctrl?name.png'), 'unsafe_path');
      for (const dir of [path.dirname(t.dataDir), t.dataDir, process.cwd(), os.tmpdir()]) {
        for (const name of ['evil.png', 'evil2.png', 'evil3.png', 'evil4.png', 'evil5.png']) assert.ok(!existsSync(path.join(dir, name)), `${name} in ${dir}`);
      }
      await assertNothingLeft();
    });

    it('when an entry is a symbolic link or another special file, then it is skipped, never followed', () => {
      assert.equal(codeOf(report, 'ok/link.png'), 'symlink');
      assert.equal(codeOf(report, 'ok/fifo.png'), 'special_file');
    });

    it('when an entry is an archive, by name or by content, then it is skipped as nested_archive', () => {
      assert.equal(codeOf(report, 'ok/inner.zip'), 'nested_archive');
      assert.equal(codeOf(report, 'ok/disguised.png'), 'nested_archive');
    });

    it('when an entry inflates far beyond its compressed size, even with a header that claims 100 bytes, then it is stopped as compression_ratio', () => {
      assert.equal(codeOf(report, 'ok/bomb.png'), 'compression_ratio');
      assert.equal(codeOf(report, 'ok/liar.png'), 'compression_ratio');
    });

    it('when an entry is over the per-image limit, encrypted, not an image, over the pixel limit or a duplicate, then each says so', () => {
      assert.equal(codeOf(report, 'ok/big.png'), 'too_large');
      assert.equal(codeOf(report, 'ok/secret.png'), 'encrypted');
      assert.equal(codeOf(report, 'ok/readme.png'), 'unsupported_type');
      assert.equal(codeOf(report, 'ok/huge.png'), 'too_many_pixels');
      assert.equal(codeOf(report, 'ok/again.png'), 'duplicate');
      assert.match(report.skipped.find((s) => s.file === 'ok/again.png')!.message, /ok\/good\.png/);
      assert.deepEqual(report.imported.map((i) => i.file), ['ok/good.png']);
      for (const skip of report.skipped) assert.ok(skip.message.length > 10, `${skip.file} has a reason`);
    });
  });

  it('when a zip inflates beyond DATASET_IMPORT_MAX_UNCOMPRESSED_MB (counted while inflating), then 413 and nothing of it stays', async () => {
    const small = createTestApp({ env: { DATASET_IMPORT_MAX_UNCOMPRESSED_MB: '1' } });
    try {
      const token = await bearerFor(small.app, await small.createUser());
      const target = await createDataset(small.app, token, 'keep me', ['a']);
      const entries: ZipEntrySpec[] = [];
      for (let i = 0; i < 4; i++) entries.push({ name: `a/${i}.png`, data: await images.pngImage(300, 300, 850 + i) });
      // Headers claim 10 bytes each: the limit holds on what really comes out.
      for (const entry of entries) entry.declaredSize = 10;
      const asNew = await importZip(small, token, buildZip(entries), { name: 'bomb by total' }).expect(413);
      assert.match(asNew.body.error.message, /more than 1 MB.*Nothing was imported/);
      const merged = await importZip(small, token, buildZip(entries), { dataset_id: String(target.id) }).expect(413);
      assert.equal(merged.body.error.code, 'payload_too_large');
      const list = await request(small.app).get('/api/v1/datasets').set('Authorization', token).expect(200);
      assert.deepEqual(list.body.items.map((d: { name: string; image_count: number; labels: unknown[] }) => [d.name, d.image_count, d.labels.length]), [['keep me', 0, 1]]);
      assert.equal((small.db.prepare('SELECT COUNT(*) FROM stored_images').pluck().get() as number), 0);
    } finally {
      small.close();
    }
  });

  it('when a zip has more entries than DATASET_IMPORT_MAX_ENTRIES, or is bigger than DATASET_IMPORT_MAX_MB, then 413 before anything is read', async () => {
    const small = createTestApp({ env: { DATASET_IMPORT_MAX_ENTRIES: '5', DATASET_IMPORT_MAX_MB: '1' } });
    try {
      const token = await bearerFor(small.app, await small.createUser());
      const many = buildZip(Array.from({ length: 6 }, (_, i) => ({ name: `a/${i}.txt`, data: Buffer.from('x') })));
      const res = await importZip(small, token, many).expect(413);
      assert.match(res.body.error.message, /6 entries; at most 5/);
      const big = await importZip(small, token, buildZip([{ name: 'a/x.png', data: randomBytes(1.2 * 1024 * 1024), method: 0 }])).expect(413);
      assert.match(big.body.error.message, /at most 1 MB/);
      const list = await request(small.app).get('/api/v1/datasets').set('Authorization', token).expect(200);
      assert.equal(list.body.total, 0);
    } finally {
      small.close();
    }
  });

  it('when the file is not a zip, or no archive is sent, then 422; a name that is taken answers 409; another user\'s dataset_id 404', async () => {
    const res = await importZip(t, auth, Buffer.from('PK but not really a zip file at all')).expect(422);
    assert.equal(res.body.error.code, 'invalid_archive');
    await request(t.app).post('/api/v1/datasets/import').set('Authorization', auth).field('name', 'x').expect(422);
    await createDataset(t.app, auth, 'taken for import');
    const zip = buildZip([{ name: 'a/x.png', data: await images.pngImage(20, 20, 860) }]);
    assert.equal((await importZip(t, auth, zip, { name: 'TAKEN for import' }).expect(409)).body.error.code, 'name_taken');
    await importZip(t, auth, zip, { name: '../bad' }).expect(422);
    const other = await bearerFor(t.app, await t.createUser({ username: 'otherimporter' }));
    const theirs = await createDataset(t.app, other, 'theirs');
    await importZip(t, auth, zip, { dataset_id: String(theirs.id) }).expect(404);
    await assertNothingLeft();
  });

  it('when every entry of a zip is skipped, or it is empty, then 422 nothing_imported naming the reasons, and no dataset, label or import record is left', async () => {
    const datasetsBefore = t.db.prepare('SELECT COUNT(*) FROM datasets').pluck().get();
    const hostile = buildZip([
      { name: '../evil.png', data: await images.pngImage(20, 20, 880) },
      { name: 'a/link.png', data: Buffer.from('/etc/passwd'), method: 0, unixMode: 0o120777 },
      { name: 'b/text.png', data: Buffer.from('this is text, not an image') },
    ]);
    const res = await importZip(t, auth, hostile, { name: 'all refused' }).expect(422);
    assert.equal(res.body.error.code, 'nothing_imported');
    assert.match(res.body.error.message, /^Nothing was imported: all 3 entries were skipped\. \.\.\/evil\.png: .*a\/link\.png: .*b\/text\.png: /);
    const empty = await importZip(t, auth, buildZip([]), { name: 'empty' }).expect(422);
    assert.match(empty.body.error.message, /the archive has no files in it/);
    assert.equal(t.db.prepare('SELECT COUNT(*) FROM datasets').pluck().get(), datasetsBefore, 'no dataset is made');

    // Merged into a dataset, an archive of duplicates adds neither its new label folders nor an import record.
    const target = await createDataset(t.app, auth, 'all duplicates', ['cat']);
    const tom = await images.pngImage(20, 20, 881);
    await uploadTo(t.app, auth, target.id, 'cat', [[tom, 'tom.png']]);
    const again = await importZip(t, auth, buildZip([{ name: 'cat/tom.png', data: tom }, { name: 'kitten/tom.png', data: tom }]), { dataset_id: String(target.id) }).expect(422);
    assert.match(again.body.error.message, /all 2 entries were skipped.*already in this dataset: cat\/tom\.png/);
    const labels = (await request(t.app).get(`/api/v1/datasets/${target.id}`).set('Authorization', auth).expect(200)).body.labels;
    assert.deepEqual(labels.map((label: { name: string }) => label.name), ['cat']);
    assert.equal(t.db.prepare('SELECT COUNT(*) FROM dataset_imports WHERE dataset_id = ?').pluck().get(target.id), 0);
    await assertNothingLeft();
  });

  it('when a zip has more label folders than a dataset may have (1,000), then 422 too_many_labels before anything is made; so does a label added one too many', async () => {
    const entries: ZipEntrySpec[] = Array.from({ length: 1001 }, (_, i) => ({ name: `L${i}/x.png`, data: Buffer.from([i % 256]) }));
    const res = await importZip(t, auth, buildZip(entries), { name: 'many labels' }).expect(422);
    assert.equal(res.body.error.code, 'too_many_labels');
    assert.match(res.body.error.message, /1001 new label folders; a dataset has at most 1000 labels/);
    assert.equal(t.db.prepare("SELECT COUNT(*) FROM datasets WHERE name = 'many labels'").pluck().get(), 0);

    const full = await createDataset(t.app, auth, 'full', Array.from({ length: 1000 }, (_, i) => `l${i}`));
    const more = await request(t.app).post(`/api/v1/datasets/${full.id}/labels`).set('Authorization', auth).send({ name: 'one more' }).expect(422);
    assert.equal(more.body.error.code, 'too_many_labels');
    const merged = await importZip(t, auth, buildZip([{ name: 'l0/a.png', data: await images.pngImage(20, 20, 882) }, { name: 'new/b.png', data: await images.pngImage(20, 20, 883) }]), { dataset_id: String(full.id) }).expect(422);
    assert.equal(merged.body.error.code, 'too_many_labels');
    await assertNothingLeft();
  });

  it('when an import would exceed the storage quota, then 413 and the images it stored so far are removed again', async () => {
    const small = createTestApp({ env: { STORAGE_QUOTA_MB: '1' } });
    try {
      const token = await bearerFor(small.app, await small.createUser());
      const entries: ZipEntrySpec[] = [];
      for (let i = 0; i < 40; i++) entries.push({ name: `a/${i}.png`, data: await images.pngImage(200, 200, 870 + i), method: 0 });
      const res = await importZip(small, token, buildZip(entries), { name: 'too big' }).expect(413);
      assert.match(res.body.error.message, /Not enough storage/);
      assert.equal((small.db.prepare('SELECT COUNT(*) FROM stored_images').pluck().get() as number), 0);
      assert.equal((await request(small.app).get('/api/v1/datasets').set('Authorization', token).expect(200)).body.total, 0);
    } finally {
      small.close();
    }
  });
});
