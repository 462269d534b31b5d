import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { createTestApp, type TestApp } from '../helpers/test-app.js';
import { csrfToken, signIn, type Agent } from '../helpers/agent.js';
import { binary } from '../helpers/datasets.js';
import * as images from '../helpers/images.js';
import { buildZip, readZipBuffer } from '../helpers/zip.js';

describe('dataset pages', () => {
  let t: TestApp;
  let agent: Agent;
  let other: Agent;
  before(async () => {
    t = createTestApp();
    agent = await signIn(t.app, await t.createUser({ username: 'carol' }));
    other = await signIn(t.app, await t.createUser({ username: 'dave' }));
  });
  after(() => t.close());

  async function post(path: string, fields: Record<string, string | string[]>, page = '/datasets') {
    const token = await csrfToken(agent, page);
    const body = new URLSearchParams({ _csrf: token });
    for (const [name, value] of Object.entries(fields)) for (const v of [value].flat()) body.append(name, v);
    return agent.post(path).type('form').send(body.toString());
  }

  async function newDataset(name: string, labels: string) {
    const res = await post('/datasets', { name, labels, description: '' });
    assert.equal(res.status, 302, res.text);
    return Number(/\/datasets\/(\d+)$/.exec(res.headers.location!)![1]);
  }

  const labelIds = (datasetId: number) =>
    t.db.prepare('SELECT id, name FROM dataset_labels WHERE dataset_id = ? ORDER BY id').all(datasetId) as { id: number; name: string }[];

  /** Uploads as public/js/uploader.js does: one file, JSON wanted, CSRF token in the form. */
  async function uploadViaScript(datasetId: number, labelId: number, bytes: Buffer, name: string, status: number, source = 'upload') {
    const token = await csrfToken(agent, `/datasets/${datasetId}/labels/${labelId}`);
    return agent
      .post(`/datasets/${datasetId}/labels/${labelId}/images`)
      .set('Accept', 'application/json')
      .field('_csrf', token)
      .field('source', source)
      .attach('images', bytes, name)
      .expect(status);
  }

  it('when signed out, then /datasets sends to the login page; signed in without datasets, then it explains how to start', async () => {
    const res = await request(t.app).get('/datasets').expect(302);
    assert.match(res.headers.location!, /^\/login\?next=%2Fdatasets/);
    const page = await agent.get('/datasets').expect(200);
    assert.match(page.text, /No datasets yet/);
    assert.match(page.text, /href="\/datasets\/new"/);
    assert.match(page.text, /href="\/datasets\/import"/);
    assert.match((await agent.get('/').expect(200)).text, /href="\/datasets"/, 'in the navigation');
  });

  it('when the new-dataset form has errors, then it comes back with 422 (or 409 for a taken name) and the input; then it creates the dataset', async () => {
    const bad = await post('/datasets', { name: '../x', labels: 'cat\ndog', description: 'd' });
    assert.equal(bad.status, 422);
    assert.match(bad.text, /may contain only letters, digits/);
    assert.match(bad.text, /cat\ndog<\/textarea>/);
    const badLabel = await post('/datasets', { name: 'animals', labels: 'cat, CAT', description: '' });
    assert.equal(badLabel.status, 422);
    assert.match(badLabel.text, /listed twice/);
    const id = await newDataset('animals', 'cat\ndog, bird');
    assert.deepEqual(labelIds(id).map((l) => l.name), ['cat', 'dog', 'bird']);
    const page = await agent.get(`/datasets/${id}`).expect(200);
    assert.match(page.text, /Created animals with 3 labels/);
    const taken = await post('/datasets', { name: 'ANIMALS', labels: '', description: '' });
    assert.equal(taken.status, 409);
    assert.match(taken.text, /already have a dataset named &#34;animals&#34;/);
    const list = await agent.get('/datasets').expect(200);
    assert.match(list.text, /animals<\/a>/);
  });

  it('when labels are added and renamed on the pages, then clashes and bad names re-render the form with the message', async () => {
    const id = await newDataset('label pages', 'one');
    assert.equal((await post(`/datasets/${id}/labels`, { name: 'two' }, `/datasets/${id}`)).status, 302);
    const clash = await post(`/datasets/${id}/labels`, { name: 'ONE' }, `/datasets/${id}`);
    assert.equal(clash.status, 409);
    assert.match(clash.text, /already has a label named &#34;one&#34;/);
    const [one, two] = labelIds(id);
    const renamed = await post(`/datasets/${id}/labels/${two!.id}/rename`, { name: 'deux' }, `/datasets/${id}`);
    assert.equal(renamed.status, 302);
    const bad = await post(`/datasets/${id}/labels/${one!.id}/rename`, { name: 'a/b' }, `/datasets/${id}`);
    assert.equal(bad.status, 422);
    assert.match(bad.text, /value="a\/b"/);
  });

  it('when the upload script sends files into a label, then each gets JSON with a link; a duplicate gets 422 naming the existing image', async () => {
    const id = await newDataset('upload pages', 'cat\ndog');
    const [cat, dog] = labelIds(id);
    const png = await images.pngImage(30, 30, 901);
    const ok = await uploadViaScript(id, cat!.id, png, 'tom.png', 201);
    assert.match(ok.body.items[0].url, new RegExp(`^/datasets/${id}/images/\\d+/file$`));
    assert.equal(ok.body.label.image_count, 1);
    const dup = await uploadViaScript(id, dog!.id, png, 'tom again.png', 422);
    assert.equal(dup.body.error.code, 'duplicate');
    assert.match(dup.body.error.message, /already in this dataset: cat\/tom\.png/);
    const bad = await uploadViaScript(id, dog!.id, Buffer.from('<svg/>'), 'x.png', 422);
    assert.match(bad.body.error.message, /SVG/);
    const label = await agent.get(`/datasets/${id}/labels/${cat!.id}`).expect(200);
    assert.match(label.text, /tom\.png/);
    assert.match(label.text, new RegExp(`/datasets/${id}/images/${ok.body.items[0].id}/thumbnail`));
    await agent.get(`/datasets/${id}/images/${ok.body.items[0].id}/thumbnail`).expect(200).expect('content-type', 'image/webp');
    // Without the CSRF token, refused.
    await agent.post(`/datasets/${id}/labels/${cat!.id}/images`).attach('images', png, 'x.png').expect(403);
    // A plain form post (no script) is redirected back with the outcome.
    const token = await csrfToken(agent, `/datasets/${id}`);
    const plain = await agent.post(`/datasets/${id}/labels/${dog!.id}/images`).field('_csrf', token).attach('images', await images.pngImage(30, 30, 902), 'rex.png').expect(302);
    assert.equal(plain.headers.location, `/datasets/${id}/labels/${dog!.id}`);
  });

  it('when images are selected on a label page, then Move moves them and Delete asks on a confirmation page first', async () => {
    const id = await newDataset('select pages', 'a\nb');
    const [a, b] = labelIds(id);
    const first = (await uploadViaScript(id, a!.id, await images.pngImage(30, 30, 903), 'one.png', 201)).body.items[0];
    const second = (await uploadViaScript(id, a!.id, await images.pngImage(30, 30, 904), 'two.png', 201)).body.items[0];
    const moved = await post(`/datasets/${id}/images/move`, { ids: [String(first.id)], label: String(b!.id), from_label: String(a!.id) }, `/datasets/${id}/labels/${a!.id}`);
    assert.equal(moved.status, 302);
    assert.equal(moved.headers.location, `/datasets/${id}/labels/${a!.id}`);
    assert.match((await agent.get(`/datasets/${id}/labels/${b!.id}`)).text, /one\.png/);

    const confirm = await post(`/datasets/${id}/images/delete/confirm`, { ids: [String(second.id)], from_label: String(a!.id) }, `/datasets/${id}/labels/${a!.id}`);
    assert.equal(confirm.status, 200);
    assert.match(confirm.text, /Delete this image\?/);
    assert.match(confirm.text, /two\.png/);
    await agent.get(`/datasets/${id}/images/${second.id}/file`).expect(200);
    const deleted = await post(`/datasets/${id}/images/delete`, { ids: [String(second.id)], from_label: String(a!.id) }, `/datasets/${id}`);
    assert.equal(deleted.status, 302);
    await agent.get(`/datasets/${id}/images/${second.id}/file`).expect(404);
  });

  it('when labels are named with numbers, then uploads and moves on the pages go to the label chosen by id, not to one named like the id', async () => {
    // Labels get the next ids in turn, so each label here is named with the id of the label after it (as labels "0"-"9"
    // of a digit dataset are named with the ids of other labels).
    const next = (t.db.prepare('SELECT MAX(id) AS id FROM dataset_labels').get() as { id: number | null }).id ?? 0;
    const id = await newDataset('numbered', [2, 3, 4].map((k) => String(next + k)).join('\n'));
    const labels = labelIds(id);
    assert.deepEqual(labels.map((label) => label.id), [next + 1, next + 2, next + 3]);
    for (const label of labels) {
      const res = await uploadViaScript(id, label.id, await images.pngImage(30, 30, 950 + label.id), `${label.name}.png`, 201);
      assert.equal(res.body.label.id, label.id, `the upload into label ${label.id} (named ${label.name})`);
      assert.equal(res.body.items[0].label_id, label.id);
    }
    const [first, second] = labels;
    const image = t.db.prepare('SELECT id FROM dataset_images WHERE dataset_id = ? AND label_id = ?').get(id, second!.id) as { id: number };
    const moved = await post(`/datasets/${id}/images/move`, { ids: [String(image.id)], label: String(first!.id), from_label: String(second!.id) }, `/datasets/${id}/labels/${second!.id}`);
    assert.equal(moved.status, 302);
    assert.equal((t.db.prepare('SELECT label_id AS labelId FROM dataset_images WHERE id = ?').get(image.id) as { labelId: number }).labelId, first!.id);
  });

  it('when a label or a dataset is deleted, then a confirmation page comes first, and the POST deletes it', async () => {
    const id = await newDataset('delete pages', 'gone\nstays');
    const [gone] = labelIds(id);
    await uploadViaScript(id, gone!.id, await images.pngImage(30, 30, 905), 'x.png', 201);
    const confirmLabel = await agent.get(`/datasets/${id}/labels/${gone!.id}/delete`).expect(200);
    assert.match(confirmLabel.text, /Delete the label gone\?/);
    assert.match(confirmLabel.text, /its 1 image\s+will be deleted/);
    assert.equal((await post(`/datasets/${id}/labels/${gone!.id}/delete`, {}, `/datasets/${id}`)).status, 302);
    assert.deepEqual(labelIds(id).map((l) => l.name), ['stays']);
    const confirm = await agent.get(`/datasets/${id}/delete`).expect(200);
    assert.match(confirm.text, /Delete delete pages\?/);
    assert.equal((await post(`/datasets/${id}/delete`, {}, `/datasets/${id}`)).headers.location, '/datasets');
    await agent.get(`/datasets/${id}`).expect(404);
  });

  it('when the dataset is edited, then the name and description change; a bad name re-renders with 422', async () => {
    const id = await newDataset('edit me', '');
    assert.equal((await post(`/datasets/${id}/edit`, { name: 'edited', description: 'line one\nline two' }, `/datasets/${id}/edit`)).status, 302);
    const page = await agent.get(`/datasets/${id}`).expect(200);
    assert.match(page.text, /<h1 class="dataset-title">edited<\/h1>/);
    assert.match(page.text, /line one\nline two/);
    assert.match(page.text, /no labels yet/);
    assert.equal((await post(`/datasets/${id}/edit`, { name: '', description: '' }, `/datasets/${id}/edit`)).status, 422);
  });

  it('when the capture page opens, then it has the camera, its script, and a button per label with its key and count', async () => {
    const id = await newDataset('capture page', 'left\nright');
    const [, right] = labelIds(id);
    const res = await agent.get(`/datasets/${id}/capture?label=${right!.id}`).expect(200);
    assert.match(res.text, /data-camera/);
    assert.match(res.text, /\/js\/dataset-capture\.js/);
    assert.match(res.text, /<kbd>1<\/kbd>\s*<span class="capture-label-name">left<\/span>/);
    assert.match(res.text, new RegExp(`aria-checked="true"\\s+data-label-id="${right!.id}"`));
    const captured = await uploadViaScript(id, right!.id, await images.jpegImage(40, 30, 906), 'camera.jpg', 201, 'camera');
    assert.match(captured.body.items[0].name, /^capture \d{4}-\d\d-\d\d \d\d-\d\d-\d\d-\d{3}\.jpg$/);
    const none = await newDataset('capture without labels', '');
    assert.equal((await agent.get(`/datasets/${none}/capture`)).headers.location, `/datasets/${none}`);
  });

  it('when library images are added to a label (from the picker or from the image page), then they are referenced, duplicates skipped', async () => {
    const id = await newDataset('from library', 'pick');
    const [pick] = labelIds(id);
    const token = await csrfToken(agent, '/images');
    const lib = await agent.post('/images').set('Accept', 'application/json').field('_csrf', token).attach('images', await images.pngImage(30, 30, 907), 'library.png').expect(201);
    const libraryId = lib.body.items[0].id;
    const imagePage = await agent.get(`/images/${libraryId}`).expect(200);
    assert.match(imagePage.text, new RegExp(`href="/datasets/add-images\\?ids=${libraryId}"[^>]*>add to a dataset label`));
    const chooser = await agent.get(`/datasets/add-images?ids=${libraryId}`).expect(200);
    assert.match(chooser.text, new RegExp(`value="${id}:${pick!.id}">from library / pick`));
    const picker = await agent.get(`/datasets/${id}/library?label=${pick!.id}`).expect(200);
    assert.match(picker.text, /library\.png/);

    const added = await post('/datasets/add-images', { ids: [String(libraryId)], target: `${id}:${pick!.id}` }, '/images');
    assert.equal(added.headers.location, `/datasets/${id}/labels/${pick!.id}`);
    assert.match((await agent.get(added.headers.location!)).text, /Added 1 image to from library \/ pick/);
    const again = await post('/datasets/add-images', { ids: [String(libraryId)], target: `${id}:${pick!.id}` }, '/images');
    assert.match((await agent.get(again.headers.location!)).text, /library\.png: The same image is already in this dataset: pick\/library\.png/);
    const refs = t.db.prepare('SELECT ref_count FROM stored_images WHERE sha256 = ?').pluck().get(lib.body.items[0].sha256);
    assert.equal(refs, 2, 'the library image and the dataset image share one stored file');
    // Another user's label, or another user's library image: 404.
    const otherToken = await csrfToken(other, '/datasets');
    await other.post('/datasets/add-images').type('form').send({ _csrf: otherToken, ids: String(libraryId), target: `${id}:${pick!.id}` }).expect(404);
  });

  it('when the export form is sent, then the zip downloads with the split from the checkbox; bad options re-render the page with 422', async () => {
    const id = await newDataset('export page', 'x');
    const [x] = labelIds(id);
    for (let i = 0; i < 3; i++) await uploadViaScript(id, x!.id, await images.pngImage(20, 20, 910 + i), `${i}.png`, 201);
    const res = await agent.get(`/datasets/${id}/export?split=on&train=34&val=33&test=33&seed=4&format=original&max_side=`).buffer(true).parse(binary).expect(200);
    assert.match(res.headers['content-disposition']!, /filename="export page_dataset\.zip"/);
    const names = (await readZipBuffer(res.body as Buffer)).map((e) => e.name);
    assert.ok(['train', 'val', 'test'].every((split) => names.some((n) => n.startsWith(`export page/${split}/x/`))), names.join(', '));
    const bad = await agent.get(`/datasets/${id}/export?split=on&train=90&val=20&test=0`).expect(422);
    assert.match(bad.text, /must add up to 100/);
    assert.match(bad.text, /value="90"/);
  });

  it('when a zip is imported through the page, then the report page lists what was imported and skipped; without the CSRF token, 403', async () => {
    const zip = buildZip([{ name: 'cats/a.png', data: await images.pngImage(20, 20, 920) }, { name: 'cats/readme.txt', data: Buffer.from('hello') }]);
    const form = await agent.get('/datasets/import').expect(200);
    assert.match(form.text, /enctype="multipart\/form-data"/);
    const token = await csrfToken(agent, '/datasets/import');
    const res = await agent.post('/datasets/import').field('_csrf', token).field('dataset_id', '').field('name', 'imported here').attach('archive', zip, 'cats.zip').expect(302);
    assert.match(res.headers.location!, /^\/datasets\/\d+\/imports\/\d+$/);
    const report = await agent.get(res.headers.location!).expect(200);
    assert.match(report.text, /Imported 1 image into imported here; 1 skipped/);
    assert.match(report.text, /cats\/readme\.txt/);
    assert.match(report.text, /Not an image/);
    await agent.post('/datasets/import').attach('archive', zip, 'cats.zip').expect(403);
    const notZip = await agent.post('/datasets/import').field('_csrf', token).attach('archive', Buffer.from('nope'), 'x.zip').expect(422);
    assert.match(notZip.text, /not a zip archive/);
    await request(t.app).post('/datasets/import').attach('archive', zip, 'cats.zip').expect(401);
    // The report is the owner's only.
    await other.get(res.headers.location!).expect(404);
  });

  it("when another user opens any dataset page by id, then 404", async () => {
    const id = await newDataset('not yours', 'l');
    const [l] = labelIds(id);
    const image = (await uploadViaScript(id, l!.id, await images.pngImage(20, 20, 930), 'p.png', 201)).body.items[0];
    for (const path of [`/datasets/${id}`, `/datasets/${id}/edit`, `/datasets/${id}/delete`, `/datasets/${id}/labels/${l!.id}`, `/datasets/${id}/labels/${l!.id}/delete`,
      `/datasets/${id}/capture`, `/datasets/${id}/library`, `/datasets/${id}/export`, `/datasets/${id}/images/${image.id}/file`, `/datasets/${id}/images/${image.id}/thumbnail`]) {
      await other.get(path).expect(404);
    }
    const token = await csrfToken(other, '/datasets');
    for (const path of [`/datasets/${id}/delete`, `/datasets/${id}/labels`, `/datasets/${id}/images/move`, `/datasets/${id}/images/delete`]) {
      const res = await other.post(path).type('form').send({ _csrf: token, name: 'x', ids: String(image.id), label: String(l!.id) });
      assert.equal(res.status, 404, path);
    }
    await agent.get(`/datasets/${id}`).expect(200);
  });
});
