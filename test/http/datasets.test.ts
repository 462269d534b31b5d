import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { createDatasetsService } from '../../src/features/datasets/index.js';
import { createBackgroundProviders, createImagesService } from '../../src/features/images/index.js';
import { fileFromBytes } from '../../src/storage/index.js';
import { bearerFor } from '../helpers/agent.js';
import { createDataset, uploadTo } from '../helpers/datasets.js';
import * as images from '../helpers/images.js';
import { createTestApp, type TestApp } from '../helpers/test-app.js';

const storedRefs = (t: TestApp, sha: string) =>
  (t.db.prepare('SELECT ref_count AS refs FROM stored_images WHERE sha256 = ?').get(sha) as { refs: number } | undefined)?.refs ?? 0;

describe('datasets API', () => {
  let t: TestApp;
  let alice: string;
  let bob: string;
  before(async () => {
    t = createTestApp();
    alice = await bearerFor(t.app, await t.createUser({ username: 'alice' }));
    bob = await bearerFor(t.app, await t.createUser({ username: 'bob' }));
  });
  after(() => t.close());

  it('when a dataset is created with labels, then 201 answers exactly the documented shape, and GET answers the same', async () => {
    const res = await request(t.app).post('/api/v1/datasets').set('Authorization', alice).send({ name: 'pets', description: 'Cats and dogs', labels: ['cat', 'dog'] }).expect(201);
    assert.deepEqual(Object.keys(res.body).sort(), ['bytes', 'created_at', 'description', 'id', 'image_count', 'labels', 'name']);
    assert.equal(res.body.name, 'pets');
    assert.equal(res.body.description, 'Cats and dogs');
    assert.deepEqual(res.body.labels.map((l: { name: string; image_count: number }) => [l.name, l.image_count]), [['cat', 0], ['dog', 0]]);
    assert.deepEqual(Object.keys(res.body.labels[0]).sort(), ['id', 'image_count', 'name']);
    assert.deepEqual([res.body.image_count, res.body.bytes], [0, 0]);
    const one = await request(t.app).get(`/api/v1/datasets/${res.body.id}`).set('Authorization', alice).expect(200);
    assert.deepEqual(one.body, res.body);
    const list = await request(t.app).get('/api/v1/datasets').set('Authorization', alice).expect(200);
    assert.ok(list.body.items.some((d: { id: number }) => d.id === res.body.id));
  });

  describe('names', () => {
    const refused: [string, string][] = [
      ['../etc', 'a path'],
      ['a/b', 'a slash'],
      ['a\\b', 'a backslash'],
      ['..', 'only dots'],
      ['.hidden', 'a leading dot'],
      ['', 'empty'],
      ['x'.repeat(65), '65 characters'],
      ['cats<script>', 'markup'],
      ['tab\there', 'a control character'],
    ];
    for (const [name, what] of refused) {
      it(`when a dataset name has ${what}, then 422 names the field and nothing is created`, async () => {
        const res = await request(t.app).post('/api/v1/datasets').set('Authorization', alice).send({ name, labels: [] }).expect(422);
        assert.ok(res.body.error.fields.name, JSON.stringify(res.body));
      });
      it(`when a label name has ${what}, then 422`, async () => {
        const res = await request(t.app).post('/api/v1/datasets').set('Authorization', alice).send({ name: `labels ${what.length}`, labels: ['ok', name] }).expect(422);
        assert.ok(Object.keys(res.body.error.fields).some((key) => key.startsWith('labels')), JSON.stringify(res.body));
      });
    }

    it('when names use letters of other scripts, digits, spaces, "-", "_" and ".", then they are accepted as given (NFC)', async () => {
      const res = await request(t.app).post('/api/v1/datasets').set('Authorization', alice)
        .send({ name: ' Käfer 猫 v1.2_x-y ', labels: ['हिन्दी', 'Ölbaum', '0', 'e\u0301t\u00e9'] }).expect(201);
      assert.equal(res.body.name, 'Käfer 猫 v1.2_x-y');
      assert.deepEqual(res.body.labels.map((l: { name: string }) => l.name), ['हिन्दी', 'Ölbaum', '0', 'été']);
    });

    it('when a name differs from another only in case (or in ß/SS), then 409 name_taken; labels likewise within a dataset', async () => {
      await createDataset(t.app, alice, 'Straße');
      for (const name of ['STRASSE', 'straße']) {
        const res = await request(t.app).post('/api/v1/datasets').set('Authorization', alice).send({ name }).expect(409);
        assert.equal(res.body.error.code, 'name_taken');
      }
      // Another account may use the name.
      await createDataset(t.app, bob, 'straße');
      const twice = await request(t.app).post('/api/v1/datasets').set('Authorization', alice).send({ name: 'twice', labels: ['Cat', 'cAT'] }).expect(422);
      assert.match(JSON.stringify(twice.body.error.fields), /listed twice/);
      const dataset = await createDataset(t.app, alice, 'clash labels', ['cat']);
      const clash = await request(t.app).post(`/api/v1/datasets/${dataset.id}/labels`).set('Authorization', alice).send({ name: 'CAT' }).expect(409);
      assert.equal(clash.body.error.code, 'name_taken');
    });

    it('when a dataset is renamed to its own name in other case, then it is allowed; to another dataset\'s name, then 409', async () => {
      const a = await createDataset(t.app, alice, 'rename me');
      await createDataset(t.app, alice, 'taken name');
      const renamed = await request(t.app).patch(`/api/v1/datasets/${a.id}`).set('Authorization', alice).send({ name: 'Rename Me', description: 'now described' }).expect(200);
      assert.deepEqual([renamed.body.name, renamed.body.description], ['Rename Me', 'now described']);
      const res = await request(t.app).patch(`/api/v1/datasets/${a.id}`).set('Authorization', alice).send({ name: 'TAKEN NAME' }).expect(409);
      assert.equal(res.body.error.code, 'name_taken');
      await request(t.app).patch(`/api/v1/datasets/${a.id}`).set('Authorization', alice).send({ name: '../x' }).expect(422);
    });
  });

  it('when labels are added, renamed and deleted, then each answers its label and a deleted label takes its images with it', async () => {
    const dataset = await createDataset(t.app, alice, 'label ops', ['a']);
    const added = await request(t.app).post(`/api/v1/datasets/${dataset.id}/labels`).set('Authorization', alice).send({ name: 'b' }).expect(201);
    assert.deepEqual(Object.keys(added.body).sort(), ['id', 'image_count', 'name']);
    const renamed = await request(t.app).patch(`/api/v1/datasets/${dataset.id}/labels/${added.body.id}`).set('Authorization', alice).send({ name: 'B2' }).expect(200);
    assert.equal(renamed.body.name, 'B2');
    await request(t.app).patch(`/api/v1/datasets/${dataset.id}/labels/${added.body.id}`).set('Authorization', alice).send({ name: 'A' }).expect(409);
    const png = await images.pngImage(32, 32, 501);
    const { items } = await uploadTo(t.app, alice, dataset.id, 'B2', [[png, 'x.png']]);
    assert.equal(storedRefs(t, items[0]!.sha256), 1);
    await request(t.app).delete(`/api/v1/datasets/${dataset.id}/labels/${added.body.id}`).set('Authorization', alice).expect(204);
    assert.equal(storedRefs(t, items[0]!.sha256), 0, 'the image went with its label');
    const after = await request(t.app).get(`/api/v1/datasets/${dataset.id}`).set('Authorization', alice).expect(200);
    assert.deepEqual(after.body.labels.map((l: { name: string }) => l.name), ['a']);
  });

  it('when images are uploaded, then bad files and duplicates are skipped with a reason naming the existing image, the rest stored', async () => {
    const dataset = await createDataset(t.app, alice, 'uploads', ['cat', 'dog']);
    const png = await images.pngImage(40, 30, 502);
    const first = await uploadTo(t.app, alice, dataset.id, 'cat', [[png, 'tom.png'], [await images.jpegImage(40, 30, 503), 'felix.jpg']]);
    assert.deepEqual(first.items.map((i) => i.name), ['tom.png', 'felix.jpg']);
    assert.deepEqual(Object.keys(first.items[0]!).sort(), ['id', 'label_id', 'name', 'sha256']);
    assert.deepEqual(first.skipped, []);

    const second = await uploadTo(t.app, alice, dataset.id, dataset.labels[1]!.id, [
      [png, 'tom again.png'],
      [Buffer.from('not an image'), 'notes.png'],
      [await images.pngImage(40, 30, 504), 'rex.png'],
      [await images.pngImage(40, 30, 504), 'rex copy.png'],
    ]);
    assert.deepEqual(second.items.map((i) => [i.name, i.label_id]), [['rex.png', dataset.labels[1]!.id]]);
    assert.deepEqual(second.skipped.map((s) => [s.file, s.code]), [['tom again.png', 'duplicate'], ['notes.png', 'unsupported_type'], ['rex copy.png', 'duplicate']]);
    assert.match(second.skipped[0]!.message, /already in this dataset: cat\/tom\.png/);
    assert.match(second.skipped[2]!.message, /rex\.png \(in the same upload\)/);

    // The same bytes in another dataset are fine.
    const other = await createDataset(t.app, alice, 'uploads 2', ['x']);
    assert.equal((await uploadTo(t.app, alice, other.id, 'x', [[png, 'tom.png']])).items.length, 1);
    await request(t.app).post(`/api/v1/datasets/${dataset.id}/images`).set('Authorization', alice).field('label', 'bird').attach('images', png, 'p.png').expect(422);
    await request(t.app).post(`/api/v1/datasets/${dataset.id}/images`).set('Authorization', alice).attach('images', png, 'p.png').expect(422);
  });

  it('when a label is named like another label\'s id, then the name wins; an id that is no label\'s name selects by id', async () => {
    const dataset = await createDataset(t.app, alice, 'ids clash', ['a']);
    const a = dataset.labels[0]!;
    const numeric = (await request(t.app).post(`/api/v1/datasets/${dataset.id}/labels`).set('Authorization', alice).send({ name: String(a.id) }).expect(201)).body;
    const byName = await uploadTo(t.app, alice, dataset.id, String(a.id), [[await images.pngImage(20, 20, 505), 'n.png']]);
    assert.equal(byName.items[0]!.label_id, numeric.id, `"${a.id}" is the name of label ${numeric.id}`);
    const byId = await uploadTo(t.app, alice, dataset.id, numeric.id, [[await images.pngImage(20, 20, 506), 'i.png']]);
    assert.equal(byId.items[0]!.label_id, numeric.id);
    const byIdOfA = await uploadTo(t.app, alice, dataset.id, 'a', [[await images.pngImage(20, 20, 515), 'a.png']]);
    assert.equal(byIdOfA.items[0]!.label_id, a.id);
  });

  it('when images are listed, moved and deleted, then the label filter, the move and the file references follow', async () => {
    const dataset = await createDataset(t.app, alice, 'moves', ['a', 'b']);
    const { items } = await uploadTo(t.app, alice, dataset.id, 'a', [
      [await images.pngImage(20, 20, 507), '1.png'],
      [await images.pngImage(20, 20, 508), '2.png'],
      [await images.pngImage(20, 20, 509), '3.png'],
    ]);
    const inA = await request(t.app).get(`/api/v1/datasets/${dataset.id}/images?label=a&per_page=2`).set('Authorization', alice).expect(200);
    assert.equal(inA.body.total, 3);
    assert.equal(inA.body.items.length, 2);
    assert.deepEqual(Object.keys(inA.body.items[0]).sort(), ['bytes', 'created_at', 'height', 'id', 'label_id', 'name', 'sha256', 'type', 'width']);

    const moved = await request(t.app).post(`/api/v1/datasets/${dataset.id}/images/move`).set('Authorization', alice).send({ image_ids: [items[0]!.id, items[1]!.id], label: 'b' }).expect(200);
    assert.deepEqual(moved.body.items.map((i: { label_id: number }) => i.label_id), [dataset.labels[1]!.id, dataset.labels[1]!.id]);
    const inB = await request(t.app).get(`/api/v1/datasets/${dataset.id}/images?label=b`).set('Authorization', alice).expect(200);
    assert.equal(inB.body.total, 2);

    const file = await request(t.app).get(`/api/v1/datasets/${dataset.id}/images/${items[2]!.id}/file`).set('Authorization', alice).expect(200);
    assert.equal(file.headers['content-type'], 'image/png');
    await request(t.app).delete(`/api/v1/datasets/${dataset.id}/images/${items[2]!.id}`).set('Authorization', alice).expect(204);
    assert.equal(storedRefs(t, items[2]!.sha256), 0);
    await request(t.app).delete(`/api/v1/datasets/${dataset.id}/images/${items[2]!.id}`).set('Authorization', alice).expect(404);
    // An image of another dataset cannot be moved through this one.
    const other = await createDataset(t.app, alice, 'moves other', ['x']);
    const foreign = (await uploadTo(t.app, alice, other.id, 'x', [[await images.pngImage(20, 20, 510), 'f.png']])).items[0]!;
    await request(t.app).post(`/api/v1/datasets/${dataset.id}/images/move`).set('Authorization', alice).send({ image_ids: [foreign.id], label: 'a' }).expect(404);
  });

  it('when a dataset is deleted, then its images are released: a file shared with the library stays, the others go', async () => {
    const shared = await images.pngImage(30, 30, 511);
    const lib = await request(t.app).post('/api/v1/images').set('Authorization', alice).attach('images', shared, 'lib.png').expect(201);
    const dataset = await createDataset(t.app, alice, 'to delete', ['a']);
    const { items } = await uploadTo(t.app, alice, dataset.id, 'a', [[shared, 'shared.png'], [await images.pngImage(30, 30, 512), 'own.png']]);
    assert.equal(storedRefs(t, items[0]!.sha256), 2);
    await request(t.app).delete(`/api/v1/datasets/${dataset.id}`).set('Authorization', alice).expect(204);
    assert.equal(storedRefs(t, items[0]!.sha256), 1);
    assert.equal(storedRefs(t, items[1]!.sha256), 0);
    await request(t.app).get(`/api/v1/images/${lib.body.items[0].id}/file`).set('Authorization', alice).expect(200);
    await request(t.app).get(`/api/v1/datasets/${dataset.id}`).set('Authorization', alice).expect(404);
  });

  it("when another user uses a dataset's, label's or image's id, then every endpoint answers 404 exactly as for a missing id", async () => {
    const dataset = await createDataset(t.app, alice, 'private', ['a', 'b']);
    const { items } = await uploadTo(t.app, alice, dataset.id, 'a', [[await images.pngImage(20, 20, 513), 'p.png']]);
    const png = await images.pngImage(20, 20, 514);
    const calls: [string, (id: number) => request.Test][] = [
      ['GET dataset', (id) => request(t.app).get(`/api/v1/datasets/${id}`)],
      ['PATCH dataset', (id) => request(t.app).patch(`/api/v1/datasets/${id}`).send({ name: 'mine now' })],
      ['DELETE dataset', (id) => request(t.app).delete(`/api/v1/datasets/${id}`)],
      ['POST label', (id) => request(t.app).post(`/api/v1/datasets/${id}/labels`).send({ name: 'c' })],
      ['PATCH label', (id) => request(t.app).patch(`/api/v1/datasets/${id}/labels/${dataset.labels[0]!.id}`).send({ name: 'c' })],
      ['DELETE label', (id) => request(t.app).delete(`/api/v1/datasets/${id}/labels/${dataset.labels[0]!.id}`)],
      ['POST images', (id) => request(t.app).post(`/api/v1/datasets/${id}/images`).field('label', 'a').attach('images', png, 'x.png')],
      ['GET images', (id) => request(t.app).get(`/api/v1/datasets/${id}/images`)],
      ['GET image file', (id) => request(t.app).get(`/api/v1/datasets/${id}/images/${items[0]!.id}/file`)],
      ['DELETE image', (id) => request(t.app).delete(`/api/v1/datasets/${id}/images/${items[0]!.id}`)],
      ['POST move', (id) => request(t.app).post(`/api/v1/datasets/${id}/images/move`).send({ image_ids: [items[0]!.id], label: 'b' })],
      ['GET export', (id) => request(t.app).get(`/api/v1/datasets/${id}/export`)],
    ];
    for (const [what, call] of calls) {
      const theirs = await call(dataset.id).set('Authorization', bob);
      const missing = await call(999_999).set('Authorization', bob);
      assert.equal(theirs.status, 404, what);
      assert.deepEqual(theirs.body, missing.body, what);
    }
    const still = await request(t.app).get(`/api/v1/datasets/${dataset.id}`).set('Authorization', alice).expect(200);
    assert.equal(still.body.image_count, 1);
  });

  it('when the API is called without a token, then 401', async () => {
    await request(t.app).get('/api/v1/datasets').expect(401);
    await request(t.app).post('/api/v1/datasets').send({ name: 'x' }).expect(401);
  });

  it('when the OpenAPI document is read, then every dataset endpoint of the contract is in it', async () => {
    const doc = await request(t.app).get('/api/openapi.json').expect(200);
    const paths = doc.body.paths as Record<string, Record<string, unknown>>;
    const expected: [string, string][] = [
      ['/api/v1/datasets', 'post'], ['/api/v1/datasets', 'get'], ['/api/v1/datasets/{id}', 'get'], ['/api/v1/datasets/{id}', 'patch'],
      ['/api/v1/datasets/{id}', 'delete'], ['/api/v1/datasets/{id}/labels', 'post'], ['/api/v1/datasets/{id}/labels/{label_id}', 'patch'],
      ['/api/v1/datasets/{id}/labels/{label_id}', 'delete'], ['/api/v1/datasets/{id}/images', 'post'], ['/api/v1/datasets/{id}/images', 'get'],
      ['/api/v1/datasets/{id}/images/{image_id}', 'delete'], ['/api/v1/datasets/{id}/images/move', 'post'], ['/api/v1/datasets/{id}/export', 'get'],
      ['/api/v1/datasets/import', 'post'],
    ];
    for (const [path, method] of expected) assert.ok(paths[path]?.[method], `${method} ${path}`);
  });
});

describe('datasets and the storage quota', () => {
  const t = createTestApp({ env: { STORAGE_QUOTA_MB: '1' } });
  after(() => t.close());

  it('when an upload into a label would exceed the quota, then 413 and nothing of it is stored', async () => {
    const auth = await bearerFor(t.app, await t.createUser());
    const dataset = await createDataset(t.app, auth, 'big', ['a']);
    const noise = (seed: number) => images.pngImage(330, 330, seed);
    await uploadTo(t.app, auth, dataset.id, 'a', [[await noise(520), 'a.png'], [await noise(521), 'b.png']]);
    const res = await request(t.app).post(`/api/v1/datasets/${dataset.id}/images`).set('Authorization', auth).field('label', 'a')
      .attach('images', await noise(522), 'c.png').attach('images', await noise(523), 'd.png').expect(413);
    assert.match(res.body.error.message, /Not enough storage/);
    const after = await request(t.app).get(`/api/v1/datasets/${dataset.id}`).set('Authorization', auth).expect(200);
    assert.equal(after.body.image_count, 2);
  });
});

describe('datasets for other features (index.ts)', () => {
  it('when another feature adds 1,100 stored images from a generator, then they are written 500 at a time, by reference, with labels made', async () => {
    const t = createTestApp();
    try {
      const user = await t.createUser();
      const library = createImagesService({ db: t.db, store: t.store, background: null, providers: createBackgroundProviders(t.config.backgroundProviders) });
      const datasets = createDatasetsService({ db: t.db, store: t.store, library, importLimits: { maxEntries: 10, maxEntryBytes: 1e6, maxTotalBytes: 1e6 } });
      const stored = await t.store.add(user.id, await Promise.all([530, 531, 532].map(async (seed) => fileFromBytes(`${seed}.png`, await images.pngImage(20, 20, seed)))), (rows) => rows);
      const dataset = datasets.ensureDataset(user.id, { name: 'corrections', labels: ['7'] });
      assert.equal(datasets.ensureDataset(user.id, { name: 'CORRECTIONS', labels: ['7', '1'] }).id, dataset.id, 'found again, a label added');

      const rowsNow = () => t.db.prepare('SELECT COUNT(*) FROM dataset_images WHERE dataset_id = ?').pluck().get(dataset.id) as number;
      async function* corrections() {
        for (let i = 0; i < 1100; i++) {
          // Written a chunk at a time: by item 500 the first chunk is in the database, by item 1000 the second.
          if (i === 500) assert.equal(rowsNow(), 1);
          if (i === 1000) assert.equal(rowsNow(), 2);
          const which = i === 0 ? 0 : i === 500 ? 1 : i === 1000 ? 2 : i === 1001 ? 0 : -1;
          yield { storedImageId: which >= 0 ? stored[which]!.id : 10_000_000 + i, label: i % 2 ? '7' : '1', name: `correction ${i}.png` };
        }
      }
      const counts = await datasets.addStoredImages(user.id, dataset.id, corrections());
      assert.deepEqual(counts, { added: 3, duplicates: 1, missing: 1096 });
      assert.equal(rowsNow(), 3);
      assert.equal(storedRefs(t, stored[0]!.sha256), 2, 'the store counts the dataset\'s reference');
    } finally {
      t.close();
    }
  });
});
