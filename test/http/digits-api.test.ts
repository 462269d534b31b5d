import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import request from 'supertest';
import { seededRandom } from '../../src/lib/random.js';
import { bearerFor } from '../helpers/agent.js';
import { blankCanvasPng, drawnDigitPng, shippedDigitModels } from '../helpers/digits.js';
import * as images from '../helpers/images.js';
import { shippedVersion } from '../helpers/ml-models.js';
import { createTestApp, type TestApp } from '../helpers/test-app.js';

type Models = Awaited<ReturnType<typeof shippedDigitModels>>;

const CREATED_FIELDS = ['confidence', 'created_at', 'digit', 'id', 'model_version', 'probabilities'];

function predict(t: TestApp, auth: string, png: Buffer, name = 'digit.png', query = '') {
  return request(t.app).post(`/api/v1/digits/predictions${query}`).set('Authorization', auth).attach('image', png, name);
}

function batch(t: TestApp, auth: string, files: [Buffer, string][]) {
  const req = request(t.app).post('/api/v1/digits/predictions/batch').set('Authorization', auth);
  for (const [bytes, name] of files) req.attach('images', bytes, name);
  return req;
}

const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);

describe('digit recognition API', () => {
  let models: Models;
  let t: TestApp;
  let alice: string;
  let bob: string;
  let admin: string;
  before(async () => {
    models = await shippedDigitModels();
    t = createTestApp({ ...models.deps, env: { DIGITS_BATCH_MAX_FILES: '5', UPLOAD_MAX_FILE_MB: '1' } });
    admin = await bearerFor(t.app, await t.createUser({ username: 'root', role: 'admin' }));
    alice = await bearerFor(t.app, await t.createUser({ username: 'alice' }));
    bob = await bearerFor(t.app, await t.createUser({ username: 'bob' }));
  });
  after(async () => {
    await t.close();
    await models.close();
  });

  it('when a drawn 3 is sent as the multipart field image, then 201 answers exactly the contract: the digit 3 and ten probabilities', async () => {
    const res = await predict(t, alice, await drawnDigitPng(3)).expect(201);
    assert.deepEqual(Object.keys(res.body).sort(), CREATED_FIELDS);
    assert.equal(res.body.digit, 3);
    assert.equal(res.body.probabilities.length, 10);
    assert.ok(Math.abs(sum(res.body.probabilities) - 1) < 1e-4);
    assert.equal(res.body.confidence, res.body.probabilities[3]);
    assert.equal(res.body.model_version, shippedVersion('digits'));
    assert.ok(!Number.isNaN(Date.parse(res.body.created_at)));
  });

  it('when include=input is asked, then the answer carries the 28x28 image the model saw, bright ink on black', async () => {
    const res = await predict(t, alice, await drawnDigitPng(7), 'seven.png', '?include=input').expect(201);
    assert.equal(res.body.digit, 7);
    assert.match(res.body.input, /^data:image\/png;base64,/);
    const png = Buffer.from(res.body.input.split(',')[1], 'base64');
    const meta = await sharp(png).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height, meta.channels], ['png', 28, 28, 1]);
    const data = await sharp(png).extractChannel(0).raw().toBuffer();
    assert.equal(data[0], 0, 'the corner is background');
    assert.ok(Math.max(...data) === 255, 'the strongest ink is white');
  });

  it('when the image comes as a JSON data URL, then it is read like the same file', async () => {
    const png = await drawnDigitPng(5);
    const res = await request(t.app).post('/api/v1/digits/predictions').set('Authorization', alice).send({ image: `data:image/png;base64,${png.toString('base64')}` }).expect(201);
    assert.equal(res.body.digit, 5);
    const bad = await request(t.app).post('/api/v1/digits/predictions').set('Authorization', alice).send({ image: 'https://example.com/x.png' }).expect(422);
    assert.ok(bad.body.error.fields.image);
  });

  it('when a blank canvas is sent, then 422 no_ink and nothing is added to the history', async () => {
    const before = (await request(t.app).get('/api/v1/digits/predictions').set('Authorization', alice).expect(200)).body.total;
    const res = await predict(t, alice, await blankCanvasPng()).expect(422);
    assert.equal(res.body.error.code, 'no_ink');
    assert.match(res.body.error.message, /blank/);
    const after = (await request(t.app).get('/api/v1/digits/predictions').set('Authorization', alice).expect(200)).body.total;
    assert.equal(after, before);
  });

  it('when a file is not a readable image or is too big, then 422 with its reason, or 413 for size', async () => {
    const cases: [Buffer, string][] = [
      [Buffer.from('just text'), 'unsupported_type'],
      [images.truncated(await drawnDigitPng(2)), 'undecodable'],
      [images.pngBomb(), 'too_many_pixels'],
    ];
    for (const [bytes, code] of cases) {
      const res = await predict(t, alice, bytes).expect(422);
      assert.equal(res.body.error.code, code);
    }
    const huge = await sharp({ create: { width: 1200, height: 1200, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 60 } } }).png().toBuffer();
    assert.ok(huge.length > 1024 * 1024);
    const res = await predict(t, alice, huge).expect(413);
    assert.equal(res.body.error.code, 'payload_too_large');
  });

  it('when a photo is bigger than what is kept in memory, then it is received to disk, read, and its received file removed', async () => {
    // Paper grain that does not compress: the PNG is several hundred KB.
    const pixels = await sharp(await drawnDigitPng(4)).resize(900, 900).grayscale().raw().toBuffer();
    const random = seededRandom(4);
    const grainy = pixels.map((v) => Math.max(0, Math.min(255, v - Math.floor(random() * 24))));
    const photo = await sharp(grainy, { raw: { width: 900, height: 900, channels: 1 } }).png().toBuffer();
    assert.ok(photo.length > 256 * 1024 && photo.length < 1024 * 1024, `${photo.length} bytes`);
    const res = await predict(t, alice, photo, 'photo.png').expect(201);
    assert.equal(res.body.digit, 4);
    const incoming = path.join(t.config.uploadDir, '.tmp', 'incoming');
    for (let waited = 0; existsSync(incoming) && readdirSync(incoming).length > 0 && waited < 2000; waited += 20) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(existsSync(incoming) ? readdirSync(incoming) : [], []);
  });

  it('when a request has no image, the wrong field or two images, then 422 says what to send', async () => {
    const none = await request(t.app).post('/api/v1/digits/predictions').set('Authorization', alice).field('x', '1').expect(422);
    assert.match(none.body.error.message, /field "image"/);
    const wrong = await request(t.app).post('/api/v1/digits/predictions').set('Authorization', alice).attach('file', await drawnDigitPng(1), 'a.png').expect(422);
    assert.ok(wrong.body.error.fields.file);
    const two = await request(t.app).post('/api/v1/digits/predictions').set('Authorization', alice).attach('image', await drawnDigitPng(1), 'a.png').attach('image', await drawnDigitPng(2), 'b.png').expect(422);
    assert.match(two.body.error.message, /batch/);
  });

  it('when a batch has a blank and a broken file in the middle, then each file gets its own item, in order, and the others are read', async () => {
    const res = await batch(t, alice, [
      [await drawnDigitPng(0), 'zero.png'],
      [await blankCanvasPng(), 'blank.png'],
      [await drawnDigitPng(4), 'four.png'],
      [Buffer.from('not an image'), 'notes.png'],
      [await drawnDigitPng(8), 'eight.png'],
    ]).expect(200);
    assert.deepEqual(res.body.items.map((item: { file: string }) => item.file), ['zero.png', 'blank.png', 'four.png', 'notes.png', 'eight.png']);
    const [zero, blank, four, notes, eight] = res.body.items;
    assert.deepEqual([zero.digit, four.digit, eight.digit], [0, 4, 8]);
    assert.deepEqual(Object.keys(zero).sort(), ['confidence', 'digit', 'file', 'id', 'probabilities']);
    assert.deepEqual(Object.keys(blank).sort(), ['error', 'file']);
    assert.equal(blank.error.code, 'no_ink');
    assert.equal(notes.error.code, 'unsupported_type');
    assert.ok(typeof notes.error.message === 'string' && notes.error.message.length > 0);
    await request(t.app).get(`/api/v1/digits/predictions/${four.id}`).set('Authorization', alice).expect(200);
  });

  it('when a batch has more files than DIGITS_BATCH_MAX_FILES, then 413', async () => {
    const png = await drawnDigitPng(1);
    const res = await batch(t, alice, Array.from({ length: 6 }, (_, i) => [png, `${i}.png`] as [Buffer, string])).expect(413);
    assert.equal(res.body.error.code, 'payload_too_large');
  });

  it('when the history is listed, then it is newest first, filtered by digit, source and review, and each prediction, its image and its deletion answer', async () => {
    const res = await predict(t, bob, await drawnDigitPng(6), 'six.png').expect(201);
    await predict(t, bob, await drawnDigitPng(9), 'nine.png').expect(201);
    const list = await request(t.app).get('/api/v1/digits/predictions').set('Authorization', bob).expect(200);
    assert.equal(list.body.total, 2);
    assert.deepEqual(list.body.items.map((item: { digit: number }) => item.digit), [9, 6]);
    const six = list.body.items[1];
    assert.deepEqual(
      { ...six, created_at: undefined },
      { ...res.body, created_at: undefined, source: 'api', file_name: 'six.png', has_image: true, correction: null },
    );
    assert.equal((await request(t.app).get('/api/v1/digits/predictions?digit=6').set('Authorization', bob)).body.total, 1);
    assert.equal((await request(t.app).get('/api/v1/digits/predictions?source=drawing').set('Authorization', bob)).body.total, 0);
    assert.equal((await request(t.app).get('/api/v1/digits/predictions?corrected=false&per_page=1&page=2').set('Authorization', bob)).body.items[0].digit, 6);
    await request(t.app).get('/api/v1/digits/predictions?digit=12').set('Authorization', bob).expect(422);

    const image = await request(t.app).get(`/api/v1/digits/predictions/${six.id}/image`).set('Authorization', bob).buffer(true).expect(200);
    assert.equal(image.headers['content-type'], 'image/png');
    assert.equal(image.headers['x-content-type-options'], 'nosniff');
    assert.equal((await sharp(image.body as Buffer).metadata()).width, 280);

    await request(t.app).delete(`/api/v1/digits/predictions/${six.id}`).set('Authorization', bob).expect(204);
    await request(t.app).get(`/api/v1/digits/predictions/${six.id}`).set('Authorization', bob).expect(404);
    assert.equal((await request(t.app).get('/api/v1/digits/predictions').set('Authorization', bob)).body.total, 1);
  });

  it("when another user asks for a prediction by id, then every route answers 404, exactly as for an id that does not exist", async () => {
    const { id } = (await predict(t, alice, await drawnDigitPng(2)).expect(201)).body;
    const routes: ['get' | 'delete' | 'put', string][] = [['get', ''], ['get', '/image'], ['delete', ''], ['put', '/correction'], ['delete', '/correction']];
    for (const [method, suffix] of routes) {
      const theirs = await request(t.app)[method](`/api/v1/digits/predictions/${id}${suffix}`).set('Authorization', bob).send({ label: 1 });
      const missing = await request(t.app)[method](`/api/v1/digits/predictions/99999999${suffix}`).set('Authorization', bob).send({ label: 1 });
      assert.equal(theirs.status, 404, `${method} ${suffix}`);
      assert.deepEqual(theirs.body, missing.body);
    }
    const mine = await request(t.app).get(`/api/v1/digits/predictions/${id}`).set('Authorization', alice).expect(200);
    assert.equal(mine.body.correction, null, 'the other user changed nothing');
  });

  it('when predictions are corrected, confirmed or marked not a digit, then accuracy, its interval, the confusion matrix and the pairs follow', async () => {
    const carol = await bearerFor(t.app, await t.createUser({ username: 'carol' }));
    const ids: Record<string, number> = {};
    for (const digit of [1, 2, 3, 4, 7]) ids[digit] = (await predict(t, carol, await drawnDigitPng(digit)).expect(201)).body.id;
    const correct = (id: number, label: number | null) => request(t.app).put(`/api/v1/digits/predictions/${id}/correction`).set('Authorization', carol).send({ label });
    // The 1 and the 4 confirmed; the 7 was "really" a 1; the 2 "really" a 1 too; the 3 is not a digit.
    for (const [id, label] of [[ids[1]!, 1], [ids[4]!, 4], [ids[7]!, 1], [ids[2]!, 1], [ids[3]!, null]] as const) {
      const res = await correct(id, label).expect(200);
      assert.equal(res.body.correction.label, label);
    }
    await correct(ids[1]!, 12).expect(422);

    const stats = (await request(t.app).get('/api/v1/digits/stats').set('Authorization', carol).expect(200)).body;
    assert.deepEqual(stats.totals, { predictions: 5, reviewed: 5, confirmed: 2, corrected: 3, not_digits: 1 });
    assert.deepEqual({ n: stats.accuracy.n, correct: stats.accuracy.correct, rate: stats.accuracy.rate }, { n: 4, correct: 2, rate: 0.5 });
    // Wilson 95% for 2 of 4: 0.150 to 0.850.
    assert.ok(Math.abs(stats.accuracy.interval_95.low - 0.15) < 0.002 && Math.abs(stats.accuracy.interval_95.high - 0.85) < 0.002, JSON.stringify(stats.accuracy));
    assert.deepEqual(stats.confusion_matrix[1], [0, 1, 1, 0, 0, 0, 0, 1, 0, 0], 'true 1s: read as 1, 2 and 7');
    assert.deepEqual(stats.confusion_matrix[4], [0, 0, 0, 0, 1, 0, 0, 0, 0, 0]);
    assert.deepEqual(stats.not_a_digit, [0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    assert.deepEqual(stats.per_digit[1], { digit: 1, n: 3, correct: 1, rate: 1 / 3, interval_95: stats.per_digit[1].interval_95 });
    assert.deepEqual(stats.most_confused, [{ label: 1, predicted: 2, n: 1 }, { label: 1, predicted: 7, n: 1 }]);
    assert.equal(sum(stats.confidence_histogram.map((bin: { predictions: number }) => bin.predictions)), 5);
    assert.equal(stats.per_day.length, 30);
    assert.equal(stats.per_day.at(-1).predictions, 5);

    // Taking a correction back removes it from the figures.
    await request(t.app).delete(`/api/v1/digits/predictions/${ids[7]}/correction`).set('Authorization', carol).expect(204);
    const after = (await request(t.app).get('/api/v1/digits/stats').set('Authorization', carol).expect(200)).body;
    assert.deepEqual([after.accuracy.n, after.accuracy.correct], [3, 2]);
    assert.equal(after.confusion_matrix[1][7], 0);
    assert.equal((await request(t.app).get(`/api/v1/digits/predictions/${ids[7]}`).set('Authorization', carol)).body.correction, null);
  });

  it("when a user asks for everyone's analytics, then only an administrator gets them", async () => {
    const refused = await request(t.app).get('/api/v1/digits/stats?scope=all').set('Authorization', alice).expect(403);
    assert.equal(refused.body.error.code, 'forbidden');
    const all = (await request(t.app).get('/api/v1/digits/stats?scope=all').set('Authorization', admin).expect(200)).body;
    const mine = (await request(t.app).get('/api/v1/digits/stats').set('Authorization', alice).expect(200)).body;
    assert.equal(all.scope, 'all');
    assert.ok(all.totals.predictions > mine.totals.predictions);
    assert.deepEqual(all.review_queue, []);
  });

  it('when an account switches off keeping images, then its new predictions have no image and nothing is stored', async () => {
    const dave = await t.createUser({ username: 'dave' });
    const auth = await bearerFor(t.app, dave);
    assert.deepEqual((await request(t.app).get('/api/v1/digits/settings').set('Authorization', auth).expect(200)).body, { keep_images: true });
    const set = await request(t.app).put('/api/v1/digits/settings').set('Authorization', auth).send({ keep_images: false }).expect(200);
    assert.deepEqual(set.body, { keep_images: false });
    const { id } = (await predict(t, auth, await drawnDigitPng(3)).expect(201)).body;
    const one = (await request(t.app).get(`/api/v1/digits/predictions/${id}`).set('Authorization', auth).expect(200)).body;
    assert.equal(one.has_image, false);
    await request(t.app).get(`/api/v1/digits/predictions/${id}/image`).set('Authorization', auth).expect(404);
    assert.equal(t.db.prepare('SELECT COUNT(*) FROM stored_images WHERE user_id = ?').pluck().get(dave.id), 0);
  });

  it('when a prediction with an image is deleted, then its stored image and files go with it', async () => {
    const erin = await t.createUser({ username: 'erin' });
    const auth = await bearerFor(t.app, erin);
    const { id } = (await predict(t, auth, await drawnDigitPng(6)).expect(201)).body;
    await request(t.app).get(`/api/v1/digits/predictions/${id}`).set('Authorization', auth).expect(200);
    const stored = t.db.prepare('SELECT file FROM stored_images WHERE user_id = ?').all(erin.id) as { file: string }[];
    assert.equal(stored.length, 1);
    assert.ok(existsSync(path.join(t.config.uploadDir, stored[0]!.file)));
    await request(t.app).delete(`/api/v1/digits/predictions/${id}`).set('Authorization', auth).expect(204);
    assert.equal(t.db.prepare('SELECT COUNT(*) FROM stored_images WHERE user_id = ?').pluck().get(erin.id), 0);
    assert.ok(!existsSync(path.join(t.config.uploadDir, stored[0]!.file)));
  });

  it('when the OpenAPI document is read, then every digit endpoint is in it', async () => {
    const doc = (await request(t.app).get('/api/openapi.json').expect(200)).body;
    for (const [route, method] of [
      ['/api/v1/digits/predictions', 'post'],
      ['/api/v1/digits/predictions', 'get'],
      ['/api/v1/digits/predictions/batch', 'post'],
      ['/api/v1/digits/predictions/export', 'get'],
      ['/api/v1/digits/predictions/{id}', 'get'],
      ['/api/v1/digits/predictions/{id}', 'delete'],
      ['/api/v1/digits/predictions/{id}/image', 'get'],
      ['/api/v1/digits/predictions/{id}/correction', 'put'],
      ['/api/v1/digits/predictions/{id}/correction', 'delete'],
      ['/api/v1/digits/stats', 'get'],
    ]) {
      assert.ok(doc.paths[route!]?.[method!], `${method} ${route}`);
    }
    assert.ok(doc.paths['/api/v1/digits/predictions'].post.requestBody.content['application/json'], 'the data URL form is documented');
  });
});

describe('digit history export and review queue on many predictions', () => {
  const ROWS = 20_000;
  let t: TestApp;
  let auth: string;
  before(async () => {
    t = createTestApp();
    const user = await t.createUser({ username: 'many' });
    auth = await bearerFor(t.app, user);
    // Seeded before any prediction of this app: the batched writer numbers its own from the highest id it finds.
    const insert = t.db.prepare(`INSERT INTO digit_predictions (user_id, source, file_name, digit, confidence, probabilities, model_version, created_at, label, corrected_at)
      VALUES (?, 'api', ?, ?, ?, ?, '1.0.0', ?, ?, ?)`);
    t.db.transaction(() => {
      for (let i = 0; i < ROWS; i++) {
        const digit = i % 10;
        const confidence = 0.5 + (i % 50) / 100;
        const probabilities = Array.from({ length: 10 }, (_, d) => (d === digit ? confidence : (1 - confidence) / 9));
        const reviewed = i % 4 === 0;
        const name = i === 7 ? '=HYPERLINK("http://evil.example"),"x"' : `scan_${i}.png`;
        insert.run(user.id, name, digit, confidence, JSON.stringify(probabilities), new Date(Date.UTC(2026, 10, 1) + i * 1000).toISOString(), reviewed ? (i % 8 === 0 ? digit : null) : null, reviewed ? '2026-12-01T00:00:00.000Z' : null);
      }
    })();
  });
  after(() => t.close());

  it(`when ${ROWS} predictions are exported as CSV, then every row comes out once, oldest first, with spreadsheet formulas defused`, async () => {
    const res = await request(t.app).get('/api/v1/digits/predictions/export?format=csv').set('Authorization', auth).buffer(true).expect(200);
    assert.match(res.headers['content-type']!, /^text\/csv/);
    const lines = res.text.trimEnd().split('\r\n');
    assert.equal(lines.length, ROWS + 1);
    const ids = lines.slice(1).map((line) => Number(line.split(',')[0]));
    assert.deepEqual(ids, Array.from({ length: ROWS }, (_, i) => i + 1));
    const formula = lines.find((line) => line.includes('HYPERLINK'))!;
    assert.match(formula, /,"'=HYPERLINK\(""http:\/\/evil\.example""\),""x""",/, 'quoted and prefixed with an apostrophe');
    assert.match(lines[1]!, /^1,2026-11-01T00:00:00\.000Z,api,scan_0\.png,0,0\.5,0\.5,(0\.0555\d*,){9}1\.0\.0,0,2026-12-01T00:00:00\.000Z,false$/, 'a confirmed 0 without image');
    assert.match(lines[5]!, /,not_a_digit,2026-12-01T00:00:00\.000Z,false$/);
  });

  it('when they are exported as JSON with a filter, then the array holds exactly the matching predictions in the API shape', async () => {
    const res = await request(t.app).get('/api/v1/digits/predictions/export?format=json&digit=3&corrected=false').set('Authorization', auth).buffer(true).expect(200);
    const rows = JSON.parse(res.text) as { digit: number; correction: unknown; id: number }[];
    // Of each 40 rows (i % 10 === 3 and i % 4 !== 0): i % 40 in {3, 13, 23, 33}, all unreviewed.
    assert.equal(rows.length, ROWS / 10);
    assert.ok(rows.every((row) => row.digit === 3 && row.correction === null));
    const list = await request(t.app).get('/api/v1/digits/predictions?digit=3&corrected=false').set('Authorization', auth).expect(200);
    assert.equal(list.body.total, rows.length);
    assert.deepEqual(Object.keys(rows[0]!).sort(), Object.keys(list.body.items[0]).sort());
  });

  it('when the analytics are read, then the review queue holds the least confident unreviewed predictions', async () => {
    const stats = (await request(t.app).get('/api/v1/digits/stats').set('Authorization', auth).expect(200)).body;
    assert.equal(stats.totals.predictions, ROWS);
    assert.equal(stats.review_queue.length, 12);
    assert.ok(stats.review_queue.every((p: { confidence: number; correction: unknown }) => p.confidence === 0.5 && p.correction === null));
    assert.equal(stats.confidence_histogram[5].predictions, ROWS / 5);
    // Reviewed: every 4th; of those half confirmed (label = digit), half "not a digit".
    assert.deepEqual([stats.accuracy.n, stats.accuracy.correct, stats.totals.not_digits], [ROWS / 8, ROWS / 8, ROWS / 8]);
  });

  it('when a prediction is made after the seeded rows, then it gets the next id', async () => {
    const models = await shippedDigitModels();
    const withModel = createTestApp({ ...models.deps });
    try {
      const user = await withModel.createUser({ username: 'next' });
      withModel.db.prepare(`INSERT INTO digit_predictions (id, user_id, source, digit, confidence, probabilities, model_version, created_at) VALUES (500, ?, 'api', 1, 0.9, '[]', '1', '2026-01-01T00:00:00Z')`).run(user.id);
      const res = await predict(withModel, await bearerFor(withModel.app, user), await drawnDigitPng(1)).expect(201);
      assert.equal(res.body.id, 501);
    } finally {
      await withModel.close();
      await models.close();
    }
  });
});
