import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import request from 'supertest';
import { bearerFor, csrfToken, signIn, type Agent } from '../helpers/agent.js';
import { blankImage, fakeSignatureModel, signatureImage } from '../helpers/fake-signatures.js';
import { pngImage } from '../helpers/images.js';
import { createTestApp, type TestApp } from '../helpers/test-app.js';

/*
 * Signature verification through the API and the pages, with the fake model of test/helpers/fake-signatures.ts: an
 * image's embedding is a unit vector at an angle set by its width, so every score below is known in advance. With
 * references at 0°, 10° and 20° (they agree on average at (cos 10° + cos 20° + cos 10°) / 3 = 0.9698):
 *   questioned at 10° scores +0.020 (genuine), at 30° −0.040 (inconclusive in [−0.1, 0)), at 60° −0.333 (forged).
 */

type App = TestApp['app'];

const SIGNER_KEYS = ['created_at', 'external_ref', 'id', 'name', 'notes', 'reference_count'];
const VERIFICATION_KEYS = ['created_at', 'decision', 'duration_ms', 'id', 'inconclusive_band', 'model_version', 'score', 'similarities', 'threshold'];

const createSigner = async (app: App, auth: string, body: object = { name: 'Ada Lovelace' }) =>
  (await request(app).post('/api/v1/signers').set('Authorization', auth).send(body).expect(201)).body as { id: number; name: string };

function addReferences(app: App, auth: string, signerId: number, files: [Buffer, string][]) {
  const req = request(app).post(`/api/v1/signers/${signerId}/references`).set('Authorization', auth);
  for (const [bytes, name] of files) req.attach('images', bytes, name);
  return req;
}

function verify(app: App, auth: string, signerId: number, bytes: Buffer, crop?: string) {
  const req = request(app).post(`/api/v1/signers/${signerId}/verifications`).set('Authorization', auth);
  if (crop !== undefined) req.field('crop', crop);
  return req.attach('image', bytes, 'questioned.png');
}

/** A signer with references at 0°, 10° and 20° (the same images for every signer unless `seed` differs). */
async function enrolled(app: App, auth: string, name = 'Grace Hopper', seed = 0) {
  const signer = await createSigner(app, auth, { name });
  await addReferences(app, auth, signer.id, [
    [await signatureImage(0, seed + 1), 'r0.png'],
    [await signatureImage(10, seed + 2), 'r10.png'],
    [await signatureImage(20, seed + 3), 'r20.png'],
  ]).expect(201);
  return signer;
}

const count = (t: TestApp, table: string) => t.db.prepare(`SELECT COUNT(*) FROM ${table}`).pluck().get() as number;

describe('signature verification API', () => {
  const fake = fakeSignatureModel();
  let t: TestApp;
  let alice: string;
  let bob: string;
  before(async () => {
    t = createTestApp({ ml: fake.ml, env: { SIGNATURE_MAX_REFERENCES: '5' } });
    alice = await bearerFor(t.app, await t.createUser({ username: 'alice' }));
    bob = await bearerFor(t.app, await t.createUser({ username: 'bob' }));
  });
  after(() => t.close());

  it('when a signer is created, listed, searched, read, changed and deleted, then each answer has the documented shape', async () => {
    const created = await request(t.app).post('/api/v1/signers').set('Authorization', alice).send({ name: '  Ada Lovelace ', external_ref: 'C-1042', notes: 'Left-handed.' }).expect(201);
    assert.deepEqual(Object.keys(created.body).sort(), SIGNER_KEYS);
    assert.equal(created.body.name, 'Ada Lovelace');
    assert.equal(created.body.reference_count, 0);
    const other = await createSigner(t.app, alice, { name: 'Charles Babbage' });
    assert.equal((await request(t.app).get(`/api/v1/signers/${other.id}`).set('Authorization', alice).expect(200)).body.external_ref, null);

    const list = await request(t.app).get('/api/v1/signers').set('Authorization', alice).expect(200);
    assert.deepEqual(Object.keys(list.body).sort(), ['items', 'total']);
    assert.ok(list.body.total >= 2);
    assert.deepEqual(Object.keys(list.body.items[0]).sort(), SIGNER_KEYS);
    const search = await request(t.app).get('/api/v1/signers?q=c-10').set('Authorization', alice).expect(200);
    assert.deepEqual(search.body.items.map((s: { id: number }) => s.id), [created.body.id], 'searched by external reference, ignoring case');
    assert.equal((await request(t.app).get('/api/v1/signers?q=babb').set('Authorization', alice).expect(200)).body.total, 1);
    assert.equal((await request(t.app).get('/api/v1/signers?q=%25').set('Authorization', alice).expect(200)).body.total, 0, '% is literal');

    const patched = await request(t.app).patch(`/api/v1/signers/${created.body.id}`).set('Authorization', alice).send({ notes: 'Signs with initials.' }).expect(200);
    assert.equal(patched.body.notes, 'Signs with initials.');
    assert.equal(patched.body.external_ref, 'C-1042', 'fields not sent stay');
    const cleared = await request(t.app).patch(`/api/v1/signers/${created.body.id}`).set('Authorization', alice).send({ external_ref: null }).expect(200);
    assert.equal(cleared.body.external_ref, null);

    await request(t.app).delete(`/api/v1/signers/${other.id}`).set('Authorization', alice).expect(204);
    await request(t.app).get(`/api/v1/signers/${other.id}`).set('Authorization', alice).expect(404);
  });

  it('when a name is empty or longer than 100 characters, or an external reference is already used, then 422 or 409 names the field', async () => {
    const empty = await request(t.app).post('/api/v1/signers').set('Authorization', alice).send({ name: '  ' }).expect(422);
    assert.ok(empty.body.error.fields.name);
    await request(t.app).post('/api/v1/signers').set('Authorization', alice).send({ name: 'x'.repeat(101) }).expect(422);
    await request(t.app).post('/api/v1/signers').set('Authorization', alice).send({ name: 'x'.repeat(100) }).expect(201);
    await createSigner(t.app, alice, { name: 'First', external_ref: 'EMP-7' });
    const taken = await request(t.app).post('/api/v1/signers').set('Authorization', alice).send({ name: 'Second', external_ref: 'emp-7' }).expect(409);
    assert.equal(taken.body.error.code, 'external_ref_taken');
    await createSigner(t.app, bob, { name: 'Bob\'s', external_ref: 'EMP-7' });
  });

  it("when another account uses a signer's, reference's or verification's id, then every endpoint answers 404, as for an id that does not exist", async () => {
    const signer = await enrolled(t.app, alice);
    const [reference] = (await request(t.app).get(`/api/v1/signers/${signer.id}/references`).set('Authorization', alice).expect(200)).body.items;
    const verification = (await verify(t.app, alice, signer.id, await signatureImage(10, 9)).expect(201)).body;
    const attempts = (id: number, referenceId: number, verificationId: number) => [
      request(t.app).get(`/api/v1/signers/${id}`),
      request(t.app).patch(`/api/v1/signers/${id}`).send({ name: 'Mallory' }),
      request(t.app).delete(`/api/v1/signers/${id}`),
      request(t.app).get(`/api/v1/signers/${id}/references`),
      request(t.app).delete(`/api/v1/signers/${id}/references/${referenceId}`),
      request(t.app).get(`/api/v1/signers/${id}/verifications`),
      request(t.app).get(`/api/v1/signers/${id}/verifications.csv`),
      request(t.app).patch(`/api/v1/verifications/${verificationId}`).send({ truth: 'forged' }),
    ];
    const foreign = attempts(signer.id, reference.id, verification.id);
    const missing = attempts(999999, 999999, 999999);
    for (let i = 0; i < foreign.length; i++) {
      const [a, b] = [await foreign[i]!.set('Authorization', bob), await missing[i]!.set('Authorization', bob)];
      assert.equal(a.status, 404, `attempt ${i}`);
      assert.deepEqual(a.body, b.body, 'the answer does not reveal that the record exists');
    }
    const upload = await addReferences(t.app, bob, signer.id, [[await signatureImage(5, 4), 'x.png']]);
    assert.equal(upload.status, 404);
    assert.equal((await verify(t.app, bob, signer.id, await signatureImage(10, 5))).status, 404);
    assert.equal((await request(t.app).delete(`/api/v1/signers/${signer.id}/references/${reference.id}`).set('Authorization', alice)).status, 204, 'still there for its owner');
  });

  it('when references are uploaded, then 201 lists them with their image ids, the list shows them, and a deleted one releases its image', async () => {
    const signer = await createSigner(t.app, alice);
    const res = await addReferences(t.app, alice, signer.id, [[await signatureImage(0, 11), 'a.png'], [await signatureImage(10, 12), 'b.png']]).expect(201);
    assert.deepEqual(Object.keys(res.body).sort(), ['items', 'warnings']);
    assert.equal(res.body.items.length, 2);
    assert.deepEqual(Object.keys(res.body.items[0]).sort(), ['created_at', 'id', 'image_id']);
    assert.deepEqual(res.body.warnings, []);
    const list = await request(t.app).get(`/api/v1/signers/${signer.id}/references`).set('Authorization', alice).expect(200);
    assert.deepEqual(list.body.items.map((r: { id: number }) => r.id), res.body.items.map((r: { id: number }) => r.id));
    assert.equal((await request(t.app).get(`/api/v1/signers/${signer.id}`).set('Authorization', alice).expect(200)).body.reference_count, 2);

    const images = count(t, 'stored_images');
    await request(t.app).delete(`/api/v1/signers/${signer.id}/references/${res.body.items[0].id}`).set('Authorization', alice).expect(204);
    assert.equal(count(t, 'stored_images'), images - 1);
  });

  it('when one file of a reference upload is refused, then the whole request answers 422 naming each refused file and its reason, and nothing is stored', async () => {
    const signer = await createSigner(t.app, alice);
    const before = { images: count(t, 'stored_images'), references: count(t, 'signature_references') };
    const res = await addReferences(t.app, alice, signer.id, [
      [await signatureImage(0, 21), 'good.png'],
      [await blankImage(), 'blank.png'],
      [Buffer.from('not an image'), 'notes.png'],
      [(await signatureImage(5, 22)).subarray(0, 300), 'cut.png'],
    ]).expect(422);
    assert.equal(res.body.error.code, 'image_refused');
    assert.deepEqual(res.body.error.fields, { 'blank.png': 'no_ink', 'notes.png': 'unsupported_type', 'cut.png': 'undecodable' });
    assert.match(res.body.error.message, /Nothing was stored/);
    assert.deepEqual({ images: count(t, 'stored_images'), references: count(t, 'signature_references') }, before);

    // A file only the store refuses (the model reads its signature well) stops the upload all the same.
    const polyglot = Buffer.concat([await signatureImage(6, 23), Buffer.from('<html><script>alert(1)</script>')]);
    const mixed = await addReferences(t.app, alice, signer.id, [
      [await signatureImage(0, 21), 'good.png'],
      [polyglot, 'page.png'],
    ]).expect(422);
    assert.deepEqual(mixed.body.error.fields, { 'page.png': 'polyglot' });
    assert.deepEqual({ images: count(t, 'stored_images'), references: count(t, 'signature_references') }, before);
  });

  it('when a reference is a byte-identical copy of another, then it is refused as duplicate, in the same request or a later one', async () => {
    const signer = await createSigner(t.app, alice);
    const bytes = await signatureImage(0, 31);
    const twice = await addReferences(t.app, alice, signer.id, [[bytes, 'one.png'], [bytes, 'two.png']]).expect(422);
    assert.deepEqual(twice.body.error.fields, { 'two.png': 'duplicate' });
    assert.equal(count(t, 'signature_references WHERE signer_id = ' + signer.id), 0);
    await addReferences(t.app, alice, signer.id, [[bytes, 'one.png']]).expect(201);
    const again = await addReferences(t.app, alice, signer.id, [[bytes, 'again.png']]).expect(422);
    assert.deepEqual(again.body.error.fields, { 'again.png': 'duplicate' });
    assert.match(again.body.error.message, /byte-identical copy/);
  });

  it('when a new reference is almost identical to another, or far from the others, then it is kept with a warning saying so', async () => {
    const signer = await enrolled(t.app, alice, 'Warned');
    const res = await addReferences(t.app, alice, signer.id, [[await signatureImage(0.5, 41), 'nearly.png'], [await signatureImage(90, 42), 'stranger.png']]).expect(201);
    const [nearly, stranger] = res.body.items.map((r: { id: number }) => r.id);
    assert.deepEqual(res.body.warnings.map((w: { reference_id: number; code: string }) => [w.reference_id, w.code]), [[nearly, 'near_duplicate'], [stranger, 'outlier']]);
    assert.match(res.body.warnings[1].message, /probably someone else's signature/);
    const list = await request(t.app).get(`/api/v1/signers/${signer.id}/references`).set('Authorization', alice).expect(200);
    assert.equal(list.body.items.length, 5);
    assert.deepEqual(list.body.warnings.map((w: { code: string }) => w.code).sort(), ['near_duplicate', 'outlier']);

    // The outlier would make the other references look less alike and let a forgery through (60°: −0.369 without it, +0.020, genuine, with it).
    const forged = await verify(t.app, alice, signer.id, await signatureImage(60, 43)).expect(201);
    assert.equal(forged.body.decision, 'forged');
    assert.deepEqual(forged.body.similarities.map((s: { reference_id: number }) => s.reference_id).includes(stranger), false);
    const [record] = (await request(t.app).get(`/api/v1/signers/${signer.id}/verifications`).set('Authorization', alice)).body.items;
    assert.deepEqual(record.left_out, [stranger]);
  });

  it('when outliers leave fewer usable references than needed, then verifying answers 409 and says why', async () => {
    const signer = await createSigner(t.app, alice, { name: 'Mixed up' });
    await addReferences(t.app, alice, signer.id, [[await signatureImage(0, 44), 'a.png'], [await signatureImage(5, 45), 'b.png'], [await signatureImage(90, 46), 'c.png']]).expect(201);
    const res = await verify(t.app, alice, signer.id, await signatureImage(3, 47)).expect(409);
    assert.equal(res.body.error.code, 'too_few_references');
    assert.match(res.body.error.message, /has 2 usable ones \(1 more is an outlier/);
  });

  it('when a signer would get more references than SIGNATURE_MAX_REFERENCES, then 422 too_many_references and none is added', async () => {
    const signer = await enrolled(t.app, alice, 'Full');
    const res = await addReferences(t.app, alice, signer.id, [[await signatureImage(4, 51), 'a.png'], [await signatureImage(6, 52), 'b.png'], [await signatureImage(8, 53), 'c.png']]).expect(422);
    assert.equal(res.body.error.code, 'too_many_references');
    assert.match(res.body.error.message, /at most 5 references.*at most 2 more/);
    assert.equal((await request(t.app).get(`/api/v1/signers/${signer.id}`).set('Authorization', alice)).body.reference_count, 3);
  });

  it('when a signer has fewer than 3 references, then verifying answers 409 too_few_references', async () => {
    const signer = await createSigner(t.app, alice, { name: 'Two only' });
    await addReferences(t.app, alice, signer.id, [[await signatureImage(0, 61), 'a.png'], [await signatureImage(10, 62), 'b.png']]).expect(201);
    const res = await verify(t.app, alice, signer.id, await signatureImage(10, 63)).expect(409);
    assert.equal(res.body.error.code, 'too_few_references');
  });

  it('when signatures are verified, then the decision is genuine, inconclusive or forged by where the score falls, with the documented shape', async () => {
    const signer = await enrolled(t.app, alice, 'Three decisions');
    const cases = [[10, 'genuine', 0.0201], [30, 'inconclusive', -0.0396], [60, 'forged', -0.3335]] as const;
    for (const [angle, decision, score] of cases) {
      const res = await verify(t.app, alice, signer.id, await signatureImage(angle, 70 + angle)).expect(201);
      assert.deepEqual(Object.keys(res.body).sort(), VERIFICATION_KEYS);
      assert.equal(res.body.decision, decision, `at ${angle}°`);
      assert.ok(Math.abs(res.body.score - score) < 1e-3, `score at ${angle}°: ${res.body.score}`);
      assert.equal(res.body.threshold, -0.05);
      assert.deepEqual(res.body.inconclusive_band, [-0.1, 0]);
      assert.equal(res.body.model_version, 'fake-1');
      assert.equal(res.body.similarities.length, 3);
      assert.deepEqual(Object.keys(res.body.similarities[0]).sort(), ['reference_id', 'similarity']);
      assert.ok(Math.abs(res.body.similarities[0].similarity - Math.cos(((angle - 0) * Math.PI) / 180)) < 1e-4);
      assert.ok(res.body.duration_ms > 0);
    }
  });

  it('when a crop is given, then only that region is verified and the image is kept whole; a bad crop answers 422 bad_crop', async () => {
    const signer = await enrolled(t.app, alice, 'Cropped');
    // The whole image is 1200 px wide (60°: forged); its left 700 px are 10°: genuine.
    const photo = await signatureImage(60, 81);
    const res = await verify(t.app, alice, signer.id, photo, '0,0,700,200').expect(201);
    assert.equal(res.body.decision, 'genuine');
    assert.equal(fake.calls.widths.at(-1), 700, 'the model saw the crop');
    const [record] = (await request(t.app).get(`/api/v1/signers/${signer.id}/verifications`).set('Authorization', alice).expect(200)).body.items;
    assert.equal(record.crop, '0,0,700,200');
    const stored = t.db.prepare('SELECT width FROM stored_images WHERE id = ?').pluck().get(record.image_id);
    assert.equal(stored, 1200, 'the questioned image is stored as received');

    for (const crop of ['0,0,1300,200', '1195,0,10,10', '5,5,4,100', 'left half', '1,2,3']) {
      const bad = await verify(t.app, alice, signer.id, photo, crop).expect(422);
      assert.equal(bad.body.error.code, 'bad_crop', crop);
      assert.ok(bad.body.error.fields.crop);
    }
    const blank = await verify(t.app, alice, signer.id, await blankImage(1200, 200), '0,0,600,200').expect(422);
    assert.deepEqual(blank.body.error.fields, { 'questioned.png': 'no_ink' });
  });

  it('when the questioned image is blank, not an image, or too large, then 422 names the reason and nothing is recorded', async () => {
    const signer = await enrolled(t.app, alice, 'Bad images');
    const before = count(t, 'signature_verifications');
    const images = count(t, 'stored_images');
    // The model reads a polyglot's signature well; the store, checking it at the same time, refuses it.
    const polyglot = Buffer.concat([await signatureImage(6, 23), Buffer.from('<script>alert(1)</script>')]);
    for (const [bytes, reason] of [[await blankImage(), 'no_ink'], [Buffer.from('%PDF-1.4 not really'), 'unsupported_type'], [polyglot, 'polyglot']] as const) {
      const res = await verify(t.app, alice, signer.id, bytes).expect(422);
      assert.equal(res.body.error.code, 'image_refused');
      assert.deepEqual(res.body.error.fields, { 'questioned.png': reason });
    }
    const small = createTestApp({ ml: fake.ml, env: { IMAGE_MAX_MEGAPIXELS: '1', UPLOAD_MAX_FILE_MB: '1' } });
    try {
      const auth = await bearerFor(small.app, await small.createUser({ username: 'zoe' }));
      const big = await enrolled(small.app, auth);
      const huge = await sharp({ create: { width: 1500, height: 800, channels: 3, background: '#fff' } }).png().toBuffer();
      const res = await verify(small.app, auth, big.id, huge).expect(422);
      assert.deepEqual(res.body.error.fields, { 'questioned.png': 'too_many_pixels' });
      const heavy = await pngImage(900, 900, 3);
      assert.ok(heavy.length > 1024 * 1024);
      await verify(small.app, auth, big.id, heavy).expect(413);
      await addReferences(small.app, auth, big.id, [[heavy, 'heavy.png']]).expect(413);
    } finally {
      small.close();
    }
    assert.equal(count(t, 'signature_verifications'), before);
    assert.equal(count(t, 'stored_images'), images);
  });

  it('when the model version changes, then stored reference embeddings are recomputed once before use, never compared across versions', async () => {
    const local = fakeSignatureModel();
    const app = createTestApp({ ml: local.ml });
    try {
      const auth = await bearerFor(app.app, await app.createUser({ username: 'vera' }));
      const signer = await enrolled(app.app, auth);
      assert.equal((await verify(app.app, auth, signer.id, await signatureImage(10, 91)).expect(201)).body.decision, 'genuine');
      // Version 2 turns every embedding by 90°: a questioned 10° (now 100°) against version-1 references would score as forged.
      local.changeVersion('fake-2', 90);
      const before = local.calls.images;
      const res = await verify(app.app, auth, signer.id, await signatureImage(10, 92)).expect(201);
      assert.equal(res.body.model_version, 'fake-2');
      assert.equal(res.body.decision, 'genuine');
      assert.equal(local.calls.images - before, 4, 'three references recomputed, one questioned signature');
      const versions = app.db.prepare('SELECT DISTINCT model_version FROM signature_references WHERE signer_id = ?').pluck().all(signer.id);
      assert.deepEqual(versions, ['fake-2']);
      const again = local.calls.images;
      await verify(app.app, auth, signer.id, await signatureImage(10, 93)).expect(201);
      assert.equal(local.calls.images - again, 1, 'recomputed once only');
    } finally {
      app.close();
    }
  });

  it('when the history is read, marked and exported, then it is newest first, paged, carries the truth, and the CSV has every verification', async () => {
    const signer = await enrolled(t.app, alice, 'History, "quoted"');
    const ids: number[] = [];
    for (const angle of [10, 30, 60]) ids.push((await verify(t.app, alice, signer.id, await signatureImage(angle, 100 + angle)).expect(201)).body.id);
    const history = await request(t.app).get(`/api/v1/signers/${signer.id}/verifications?page=1`).set('Authorization', alice).expect(200);
    assert.equal(history.body.total, 3);
    assert.deepEqual(history.body.items.map((v: { id: number }) => v.id), [...ids].reverse());
    assert.equal(history.body.items[0].run_by, 'alice');
    assert.equal(history.body.items[0].truth, null);
    assert.equal((await request(t.app).get(`/api/v1/signers/${signer.id}/verifications?page=2`).set('Authorization', alice).expect(200)).body.items.length, 0);

    const marked = await request(t.app).patch(`/api/v1/verifications/${ids[2]}`).set('Authorization', alice).send({ truth: 'forged' }).expect(200);
    assert.equal(marked.body.truth, 'forged');
    assert.equal(marked.body.decision, 'forged', 'the decision does not change');
    await request(t.app).patch(`/api/v1/verifications/${ids[2]}`).set('Authorization', alice).send({ truth: 'maybe' }).expect(422);
    assert.throws(() => t.db.prepare('UPDATE signature_verifications SET score = 1 WHERE id = ?').run(ids[0]), /append-only/);

    const csv = await request(t.app).get(`/api/v1/signers/${signer.id}/verifications.csv`).set('Authorization', alice).expect(200);
    assert.match(csv.headers['content-type']!, /^text\/csv/);
    assert.match(csv.headers['content-disposition']!, /attachment/);
    const lines = csv.text.trimEnd().split('\r\n');
    assert.equal(lines.length, 4);
    assert.equal(lines[0], 'id,created_at,run_by,source,decision,score,threshold,band_low,band_high,model_version,crop,references,similarities,left_out,duration_ms,truth,truth_marked_at');
    const last = lines[3]!.split(',');
    assert.deepEqual([last[0], last[2], last[3], last[4], last[9], last[15]], [String(ids[2]), 'alice', 'api', 'forged', 'fake-1', 'forged']);
    assert.equal(last[11]!.split(' ').length, 3, 'the three references used');
  });

  it('when a signer is deleted, then its references, verifications and their images go with it', async () => {
    const signer = await enrolled(t.app, alice, 'Leaving', 500);
    await verify(t.app, alice, signer.id, await signatureImage(10, 111)).expect(201);
    const images = count(t, 'stored_images');
    await request(t.app).delete(`/api/v1/signers/${signer.id}`).set('Authorization', alice).expect(204);
    assert.equal(count(t, `signature_references WHERE signer_id = ${signer.id}`), 0);
    assert.equal(count(t, `signature_verifications WHERE signer_id = ${signer.id}`), 0);
    assert.equal(count(t, 'stored_images'), images - 4);
  });

  it('when the OpenAPI document is read, then every signature endpoint is in it', async () => {
    const doc = (await request(t.app).get('/api/openapi.json').expect(200)).body as { paths: Record<string, object> };
    for (const path of ['/api/v1/signers', '/api/v1/signers/{id}', '/api/v1/signers/{id}/references', '/api/v1/signers/{id}/references/{reference_id}',
      '/api/v1/signers/{id}/verifications', '/api/v1/signers/{id}/verifications.csv', '/api/v1/verifications/{id}']) {
      assert.ok(doc.paths[path], path);
    }
  });
});

describe('deleting an account with signers', () => {
  it('when an account is deleted, then its signers, references and verifications go with it', async () => {
    const fake = fakeSignatureModel();
    const t = createTestApp({ ml: fake.ml });
    try {
      const user = await t.createUser({ username: 'erin' });
      const auth = await bearerFor(t.app, user);
      const signer = await enrolled(t.app, auth);
      await verify(t.app, auth, signer.id, await signatureImage(10, 7)).expect(201);
      const agent = await signIn(t.app, user);
      await agent.post('/account/delete').type('form').send({ _csrf: await csrfToken(agent, '/account/delete'), password: user.password }).expect(302);
      for (const table of ['signers', 'signature_references', 'signature_verifications', 'stored_images']) assert.equal(count(t, table), 0, table);
    } finally {
      t.close();
    }
  });
});

describe('signature verification without a loaded model', () => {
  it('when the model is not loaded, then signers still work and adding references or verifying answers 503', async () => {
    const t = createTestApp();
    try {
      const auth = await bearerFor(t.app, await t.createUser({ username: 'nomodel' }));
      const signer = await createSigner(t.app, auth);
      const res = await addReferences(t.app, auth, signer.id, [[await signatureImage(0, 1), 'a.png']]).expect(503);
      assert.match(res.body.error.message, /not loaded/);
      await verify(t.app, auth, signer.id, await signatureImage(0, 2)).expect(503);
    } finally {
      t.close();
    }
  });
});

describe('signature verification pages', () => {
  const fake = fakeSignatureModel();
  let t: TestApp;
  let agent: Agent;
  let other: Agent;
  let auth: string;
  before(async () => {
    t = createTestApp({ ml: fake.ml });
    const carol = await t.createUser({ username: 'carol' });
    agent = await signIn(t.app, carol);
    auth = await bearerFor(t.app, carol);
    other = await signIn(t.app, await t.createUser({ username: 'dave' }));
  });
  after(() => t.close());

  /** Posts a multipart form from the signer's page, as the page scripts (JSON) or a browser without script do, expecting `status`. */
  async function postFiles(status: number, path: string, files: [Buffer, string][], fields: Record<string, string> = {}, json = true) {
    const req = agent.post(path).field('_csrf', await csrfToken(agent, '/signers'));
    if (json) req.set('Accept', 'application/json');
    for (const [name, value] of Object.entries(fields)) req.field(name, value);
    for (const [bytes, name] of files) req.attach(path.endsWith('verifications') ? 'image' : 'images', bytes, name);
    return req.expect(status);
  }

  it('when a new user opens /signers, then the page explains the first steps; signed out, it sends to the login page', async () => {
    const res = await agent.get('/signers').expect(200);
    assert.match(res.text, /No signers yet/);
    assert.match(res.text, /at least 3 reference signatures/);
    assert.match(res.text, /href="\/signers\/new"/);
    const anonymous = await request(t.app).get('/signers').expect(302);
    assert.equal(anonymous.headers.location, '/login?next=%2Fsigners');
  });

  it('when a signer is added through the form, then its page opens; bad input or a taken external reference re-renders the form with the input', async () => {
    const token = await csrfToken(agent, '/signers/new');
    const bad = await agent.post('/signers').type('form').send({ _csrf: token, name: '', external_ref: 'KEEP-ME', notes: 'typed notes' }).expect(422);
    assert.match(bad.text, /Enter a name/);
    assert.match(bad.text, /value="KEEP-ME"/);
    assert.match(bad.text, /typed notes/);
    const created = await agent.post('/signers').type('form').send({ _csrf: token, name: 'Edith <Clarke>', external_ref: 'E-1', notes: '' }).expect(302);
    const page = await agent.get(created.headers.location!).expect(200);
    assert.match(page.text, /Edith &lt;Clarke&gt;/, 'escaped');
    assert.match(page.text, /Add at least 3 reference signatures/);
    assert.match(page.text, /Verification needs at least 3 reference signatures/);
    const taken = await agent.post('/signers').type('form').send({ _csrf: token, name: 'Someone else', external_ref: 'e-1' }).expect(409);
    assert.match(taken.text, /Already used by Edith &lt;Clarke&gt;/);
    assert.match((await agent.get('/signers?q=edith').expect(200)).text, /Edith &lt;Clarke&gt;/);
    assert.doesNotMatch((await agent.get('/signers?q=nobody').expect(200)).text, /Edith/);
  });

  it('when a signer is edited and then deleted, then the form saves, and deleting asks for confirmation first', async () => {
    const signer = await enrolled(t.app, auth, 'To edit', 600);
    const form = await agent.get(`/signers/${signer.id}/edit`).expect(200);
    assert.match(form.text, /value="To edit"/);
    await agent.post(`/signers/${signer.id}/edit`).type('form').send({ _csrf: await csrfToken(agent, `/signers/${signer.id}/edit`), name: 'Edited', external_ref: '', notes: 'n' }).expect(302);
    assert.match((await agent.get(`/signers/${signer.id}`).expect(200)).text, /Edited/);
    const confirm = await agent.get(`/signers/${signer.id}/delete`).expect(200);
    assert.match(confirm.text, /3 reference signatures and\s+0 verifications/);
    const deleted = await agent.post(`/signers/${signer.id}/delete`).type('form').send({ _csrf: await csrfToken(agent, '/signers') }).expect(302);
    assert.equal(deleted.headers.location, '/signers');
    await agent.get(`/signers/${signer.id}`).expect(404);
  });

  it('when references are sent from the page (file, drawing), then the script gets JSON with a link; without script the page comes back with the news', async () => {
    const signer = await createSigner(t.app, auth, { name: 'Page references' });
    const json = await postFiles(201, `/signers/${signer.id}/references`, [[await signatureImage(0, 201), 'scan.png']]);
    assert.equal(json.body.items[0].url, `/signers/${signer.id}#reference-${json.body.items[0].id}`);
    assert.match(json.body.items[0].name, /^Reference #\d+$/);
    await postFiles(201, `/signers/${signer.id}/references`, [[await signatureImage(10, 202), 'drawing.png']], { source: 'drawing' });
    const refused = await postFiles(422, `/signers/${signer.id}/references`, [[await blankImage(), 'blank.png']]);
    assert.match(refused.body.error.message, /looks blank/);
    const plain = await postFiles(302, `/signers/${signer.id}/references`, [[await signatureImage(20, 203), 'plain.png']], {}, false);
    assert.equal(plain.headers.location, `/signers/${signer.id}#references`);
    const sources = t.db.prepare('SELECT source FROM signature_references WHERE signer_id = ? ORDER BY id').pluck().all(signer.id);
    assert.deepEqual(sources, ['upload', 'drawing', 'upload']);
    const page = await agent.get(`/signers/${signer.id}`).expect(200);
    assert.match(page.text, /The reference signature has been added/);
    assert.equal((page.text.match(/class="ink-map"/g) ?? []).length, 3, 'each reference shows its ink map');
    assert.match(page.text, /data-verify-form/, 'three references: the verification form is there');
  });

  it('when library images are picked as references, then they are added without a second copy, and one can be deleted in one click', async () => {
    const signer = await createSigner(t.app, auth, { name: 'From the library' });
    const uploaded = await request(t.app).post('/api/v1/images').set('Authorization', auth)
      .attach('images', await signatureImage(0, 301), 'lib-a.png').attach('images', await signatureImage(10, 302), 'lib-b.png').expect(201);
    const [a, b] = uploaded.body.items as { id: number; sha256: string }[];
    const picker = await agent.get(`/signers/${signer.id}/library?for=reference`).expect(200);
    assert.match(picker.text, /lib-a\.png/);
    const token = await csrfToken(agent, '/signers');
    await agent.post(`/signers/${signer.id}/references/library`).type('form').send(`_csrf=${encodeURIComponent(token)}&ids=${a!.id}&ids=${b!.id}`).expect(302);
    const rows = t.db.prepare('SELECT r.id, r.source, s.ref_count AS refCount FROM signature_references r JOIN stored_images s ON s.id = r.stored_image_id WHERE r.signer_id = ?').all(signer.id) as { id: number; source: string; refCount: number }[];
    assert.deepEqual(rows.map((r) => [r.source, r.refCount]), [['library', 2], ['library', 2]]);
    await agent.post(`/signers/${signer.id}/references/library`).type('form').send(`_csrf=${encodeURIComponent(token)}&ids=${a!.id}`).expect(302);
    assert.match((await agent.get(`/signers/${signer.id}`)).text, /byte-identical copy/);
    await agent.post(`/signers/${signer.id}/references/${rows[0]!.id}/delete`).type('form').send({ _csrf: token }).expect(302);
    assert.equal(count(t, `signature_references WHERE signer_id = ${signer.id}`), 1);
    assert.equal(t.db.prepare('SELECT ref_count FROM stored_images WHERE sha256 = ?').pluck().get(a!.sha256), 1, 'the library keeps its image');
  });

  it('when a signature is verified through the form, then the result page shows the decision, the gauge, the ink maps and the details', async () => {
    const signer = await enrolled(t.app, auth, 'Form verified', 700);
    const script = await postFiles(201, `/signers/${signer.id}/verifications`, [[await signatureImage(10, 401), 'q.png']], { source: 'drawing', crop: '' });
    assert.equal(script.body.decision, 'genuine');
    assert.match(script.body.url, new RegExp(`^/signers/${signer.id}/verifications/\\d+$`));
    const plain = await postFiles(303, `/signers/${signer.id}/verifications`, [[await signatureImage(60, 402), 'q.png']], { crop: '0,0,700,200' }, false);
    const result = await agent.get(plain.headers.location!).expect(200);
    assert.match(result.text, /decision-genuine">Genuine/, 'the crop (700 px: 10°) was verified, not the whole 60° image');
    assert.match(result.text, /0,0,700,200 \(x, y, width, height\)/);
    assert.match(result.text, /<svg viewBox/);
    assert.match(result.text, /signatures fake-1/);
    assert.match(result.text, /Drawn on the pad|Uploaded file/);
    for (const suffix of ['image', 'thumbnail', 'ink-map']) {
      const image = await agent.get(`${plain.headers.location}/${suffix}`).expect(200);
      assert.match(image.headers['content-type']!, /^image\//, suffix);
      await other.get(`${plain.headers.location}/${suffix}`).expect(404);
    }
    await other.get(plain.headers.location!).expect(404);
    await other.get(`/signers/${signer.id}`).expect(404);
    const [reference] = (await request(t.app).get(`/api/v1/signers/${signer.id}/references`).set('Authorization', auth)).body.items;
    for (const suffix of ['image', 'thumbnail', 'ink-map']) {
      await agent.get(`/signers/${signer.id}/references/${reference.id}/${suffix}`).expect(200);
      await other.get(`/signers/${signer.id}/references/${reference.id}/${suffix}`).expect(404);
    }

    const bad = await postFiles(422, `/signers/${signer.id}/verifications`, [[await signatureImage(10, 403), 'q.png']], { crop: '0,0,5000,10' }, false);
    assert.match(bad.text, /id="verify-error">The crop must be at least 8x8 pixels|reaches outside/);
    assert.match(bad.text, /value="0,0,5000,10"/, 'the crop typed comes back');
  });

  it('when a library image is verified and its true outcome marked, then the history shows both and the CSV can be downloaded', async () => {
    const signer = await enrolled(t.app, auth, 'Library verified', 800);
    const [image] = (await request(t.app).post('/api/v1/images').set('Authorization', auth).attach('images', await signatureImage(30, 501), 'cheque.png').expect(201)).body.items;
    const chosen = await agent.get(`/signers/${signer.id}?image=${image.id}`).expect(200);
    assert.match(chosen.text, /name="library_image_id" value="\d+"/);
    const token = await csrfToken(agent, '/signers');
    const res = await agent.post(`/signers/${signer.id}/verifications`).field('_csrf', token).field('library_image_id', String(image.id)).field('crop', '').expect(303);
    const result = await agent.get(res.headers.location!).expect(200);
    assert.match(result.text, /Inconclusive/);
    assert.match(result.text, /From your images/);
    await agent.post(`${res.headers.location}/truth`).type('form').send({ _csrf: token, truth: 'genuine' }).expect(302);
    assert.match((await agent.get(res.headers.location!)).text, /value="genuine" checked/);
    const history = await agent.get(`/signers/${signer.id}`).expect(200);
    assert.match(history.text, /History <small class="muted">\(1\)/);
    assert.match(history.text, /data-label="True outcome">Genuine/);
    const csv = await agent.get(`/signers/${signer.id}/verifications.csv`).expect(200);
    assert.match(csv.text, /,library,inconclusive,/);
    await other.get(`/signers/${signer.id}/verifications.csv`).expect(404);
  });

  it('when an image page offers it, then the image can be added to a signer as a reference or verified against one', async () => {
    const signer = await enrolled(t.app, auth, 'Chosen from an image', 900);
    const [image] = (await request(t.app).post('/api/v1/images').set('Authorization', auth).attach('images', await signatureImage(12, 601), 'found.png').expect(201)).body.items;
    const imagePage = await agent.get(`/images/${image.id}`).expect(200);
    assert.match(imagePage.text, new RegExp(`/signers/use-image\\?image=${image.id}&amp;for=reference`));
    assert.match(imagePage.text, new RegExp(`/signers/use-image\\?image=${image.id}&amp;for=verify`));
    const verifyChoice = await agent.get(`/signers/use-image?image=${image.id}&for=verify&q=chosen`).expect(200);
    assert.match(verifyChoice.text, new RegExp(`/signers/${signer.id}\\?image=${image.id}#verify`));
    const referenceChoice = await agent.get(`/signers/use-image?image=${image.id}&for=reference`).expect(200);
    assert.match(referenceChoice.text, new RegExp(`action="/signers/${signer.id}/references/library"`));
    await other.get(`/signers/use-image?image=${image.id}&for=verify`).expect(404);
  });
});
