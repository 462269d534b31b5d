import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { bearerFor, csrfToken, signIn, type Agent } from '../helpers/agent.js';
import { blankCanvasPng, drawnDigitPng, shippedDigitModels } from '../helpers/digits.js';
import * as images from '../helpers/images.js';
import { createTestApp, type TestApp } from '../helpers/test-app.js';

type Models = Awaited<ReturnType<typeof shippedDigitModels>>;

/** The CSRF token of each signed-in agent (it stays the same until the next login). */
const tokens = new WeakMap<Agent, string>();

/** What the drawing page's script sends after a stroke; signIn first, then drawAndPredict.ready(agent). */
function drawAndPredict(agent: Agent, png: Buffer, replaces?: number) {
  const req = agent.post('/digits/predictions').set('Accept', 'application/json').field('_csrf', tokens.get(agent)!).field('source', 'drawing');
  if (replaces !== undefined) req.field('replaces', String(replaces));
  return req.attach('image', png, 'drawing.png');
}

async function signInForDrawing(app: TestApp['app'], user: { username: string; password: string }): Promise<Agent> {
  const agent = await signIn(app, user);
  tokens.set(agent, await csrfToken(agent, '/digits'));
  return agent;
}

const historyIds = async (agent: Agent, query = '') =>
  [...(await agent.get(`/digits/history${query}`).expect(200)).text.matchAll(/name="ids" value="(\d+)"/g)].map((match) => Number(match[1]));

describe('digit recognition pages', () => {
  let models: Models;
  let t: TestApp;
  let agent: Agent;
  before(async () => {
    models = await shippedDigitModels();
    t = createTestApp({ ...models.deps });
    agent = await signInForDrawing(t.app, await t.createUser({ username: 'pat' }));
  });
  after(async () => {
    await t.close();
    await models.close();
  });

  it('when signed out, then every digit page sends the visitor to the login page', async () => {
    for (const page of ['/digits', '/digits/upload', '/digits/history', '/digits/analytics', '/digits/predictions/1', '/digits/export?format=csv']) {
      const res = await request(t.app).get(page).expect(302);
      assert.equal(res.headers.location, `/login?next=${encodeURIComponent(page)}`);
    }
  });

  it('when the pages are opened, then each renders: the drawing pad, the uploader, an empty history and empty analytics that say what to do', async () => {
    const draw = await agent.get('/digits').expect(200);
    assert.match(draw.text, /data-drawing-pad/);
    assert.match(draw.text, /<canvas data-pad-canvas width="280" height="280"/);
    assert.match(draw.text, /src="\/assets\/[0-9a-f]{16}\/js\/digits-draw.js"/);
    const upload = await agent.get('/digits/upload').expect(200);
    assert.match(upload.text, /data-uploader/);
    assert.match((await agent.get('/digits/history').expect(200)).text, /No predictions yet[\s\S]*Draw a digit/);
    assert.match((await agent.get('/digits/analytics').expect(200)).text, /No predictions yet/);
  });

  it('when the pad sends a drawing, then the page gets the digit, its probabilities and the 28x28 input; a new reading of the same drawing replaces it', async () => {
    const first = await drawAndPredict(agent, await drawnDigitPng(3)).expect(201);
    assert.equal(first.body.digit, 3);
    assert.match(first.body.input, /^data:image\/png;base64,/);
    assert.equal(first.body.url, `/digits/predictions/${first.body.id}`);
    assert.equal(first.body.prediction.source, 'drawing');
    const second = await drawAndPredict(agent, await drawnDigitPng(7), first.body.id).expect(201);
    assert.equal(second.body.digit, 7);
    const ids = await historyIds(agent);
    assert.ok(ids.includes(second.body.id));
    assert.ok(!ids.includes(first.body.id), 'the unfinished reading is gone');
  });

  it('when the pad sends a blank canvas, then it gets a message and no guess', async () => {
    const res = await drawAndPredict(agent, await blankCanvasPng()).expect(422);
    assert.equal(res.body.error.code, 'no_ink');
    assert.equal(res.body.digit, undefined);
  });

  it('when a drawing is corrected with the form, then the page says so, the history shows it, and a reviewed drawing is not replaced', async () => {
    const drawn = await drawAndPredict(agent, await drawnDigitPng(1)).expect(201);
    const token = await csrfToken(agent, `/digits/predictions/${drawn.body.id}`);
    const res = await agent.post(`/digits/predictions/${drawn.body.id}/correction`).type('form').send({ _csrf: token, label: '7', next: '/digits/history' }).expect(302);
    assert.equal(res.headers.location, '/digits/history');
    const history = (await agent.get('/digits/history').expect(200)).text;
    assert.match(history, /Corrected to 7/);
    assert.match(history, /it is a 7/);
    await drawAndPredict(agent, await drawnDigitPng(4), drawn.body.id).expect(201);
    assert.ok((await historyIds(agent)).includes(drawn.body.id), 'a reviewed reading stays');

    const json = await agent.post(`/digits/predictions/${drawn.body.id}/correction`).set('Accept', 'application/json').type('form').send({ _csrf: token, label: 'none' }).expect(200);
    assert.deepEqual(json.body.correction.label, null);
    const offsite = await agent.post(`/digits/predictions/${drawn.body.id}/correction`).type('form').send({ _csrf: token, remove: '1', next: 'https://evil.example/' }).expect(302);
    assert.equal(offsite.headers.location, `/digits/predictions/${drawn.body.id}`, 'never redirected off the site');
  });

  it('when files are uploaded without script, then the page lists each result, a blank one with its reason', async () => {
    const token = await csrfToken(agent, '/digits/upload');
    const res = await agent
      .post('/digits/upload')
      .field('_csrf', token)
      .attach('images', await drawnDigitPng(2), 'two.png')
      .attach('images', await blankCanvasPng(), 'empty.png')
      .attach('images', await drawnDigitPng(9), 'nine.png')
      .expect(200);
    assert.match(res.text, /two\.png[\s\S]*<strong class="digit-cell">2<\/strong>/);
    assert.match(res.text, /empty\.png[\s\S]*no_ink/);
    assert.match(res.text, /nine\.png[\s\S]*<strong class="digit-cell">9<\/strong>/);
  });

  it('when the upload script sends one file, then it gets JSON; a refused file gets 422 with its reason', async () => {
    const token = await csrfToken(agent, '/digits/upload');
    const ok = await agent.post('/digits/upload').set('Accept', 'application/json').field('_csrf', token).attach('images', await drawnDigitPng(0), 'zero.png').expect(201);
    assert.deepEqual([ok.body.items[0].file, ok.body.items[0].digit], ['zero.png', 0]);
    const refused = await agent.post('/digits/upload').set('Accept', 'application/json').field('_csrf', token).attach('images', Buffer.from('text'), 'x.png').expect(422);
    assert.equal(refused.body.error.code, 'unsupported_type');
  });

  it('when an image of the library is used for a prediction, then the image page links to it and the prediction refers to the library copy', async () => {
    const auth = await bearerFor(t.app, { username: 'pat', password: 'correct horse battery' });
    const [image] = (await request(t.app).post('/api/v1/images').set('Authorization', auth).attach('images', await drawnDigitPng(8), 'scan_8.png').expect(201)).body.items;
    assert.match((await agent.get(`/images/${image.id}`).expect(200)).text, new RegExp(`href="/digits/upload\\?image=${image.id}"`));
    const page = await agent.get(`/digits/upload?image=${image.id}`).expect(200);
    assert.match(page.text, /scan_8\.png/);
    const token = await csrfToken(agent, `/digits/upload?image=${image.id}`);
    const res = await agent.post(`/digits/library/${image.id}`).type('form').send({ _csrf: token }).expect(302);
    const predictionId = Number(/\/digits\/predictions\/(\d+)$/.exec(res.headers.location!)?.[1]);
    const prediction = await agent.get(`/digits/predictions/${predictionId}`).expect(200);
    assert.match(prediction.text, /Read as 8/);
    assert.match(prediction.text, /Image library/);
    const stored = t.db.prepare('SELECT ref_count FROM stored_images WHERE id = (SELECT stored_image_id FROM library_images WHERE id = ?)').pluck().get(image.id);
    assert.equal(stored, 2, 'one file, referred to by the library and the prediction');
    // Deleting the prediction leaves the library image.
    const deleteToken = await csrfToken(agent, `/digits/history/delete?ids=${predictionId}`);
    await agent.post('/digits/history/delete').type('form').send({ _csrf: deleteToken, ids: String(predictionId) }).expect(302);
    await agent.get(`/images/${image.id}/file`).expect(200);
    // Another user's library image is not found.
    const other = await signIn(t.app, await t.createUser({ username: 'quinn' }));
    const otherToken = await csrfToken(other, '/digits/upload');
    await other.post(`/digits/library/${image.id}`).type('form').send({ _csrf: otherToken }).expect(404);
  });

  it('when a prediction page is opened, then it shows the image, the model\'s view, the ten probabilities and the correction buttons', async () => {
    const drawn = await drawAndPredict(agent, await drawnDigitPng(6)).expect(201);
    const page = (await agent.get(`/digits/predictions/${drawn.body.id}`).expect(200)).text;
    assert.match(page, /Read as 6/);
    assert.equal([...page.matchAll(/<progress value=/g)].length, 10);
    assert.equal([...page.matchAll(/name="label" value="\d"/g)].length, 10);
    const input = await agent.get(`/digits/predictions/${drawn.body.id}/input.png`).buffer(true).expect(200);
    assert.equal(input.headers['content-type'], 'image/png');
    await agent.get(`/digits/predictions/${drawn.body.id}/thumbnail`).expect(200);
  });

  it('when the history is filtered, then only matching predictions are listed, and a bad filter says so instead of failing', async () => {
    const all = await historyIds(agent);
    const drawings = await historyIds(agent, '?source=drawing');
    const uploads = await historyIds(agent, '?source=upload');
    assert.ok(drawings.length > 0 && uploads.length > 0);
    assert.deepEqual([...drawings, ...uploads].sort(), all.filter((id) => drawings.includes(id) || uploads.includes(id)).sort());
    const token = await csrfToken(agent, '/digits/history');
    await agent.post(`/digits/predictions/${all[0]}/correction`).type('form').send({ _csrf: token, label: '3' }).expect(302);
    assert.deepEqual(await historyIds(agent, '?corrected=true'), [all[0]]);
    assert.deepEqual(await historyIds(agent, '?corrected=false'), all.slice(1));
    const today = new Date().toISOString().slice(0, 10);
    assert.deepEqual(await historyIds(agent, `?from=${today}&to=${today}`), all);
    assert.deepEqual(await historyIds(agent, '?from=2001-01-01&to=2001-01-02'), []);
    const bad = await agent.get('/digits/history?digit=eleven').expect(200);
    assert.match(bad.text, /That filter was left out/);
  });

  it('when a selection is deleted, then a confirmation page lists it first; deleting everything asks too', async () => {
    const [a, b] = await historyIds(agent);
    const confirm = await agent.get(`/digits/history/delete?ids=${a},${b}`).expect(200);
    assert.match(confirm.text, /Delete 2 predictions\?/);
    const token = await csrfToken(agent, `/digits/history/delete?ids=${a}`);
    await agent.post('/digits/history/delete').type('form').send({ _csrf: token, ids: [String(a), String(b)] }).expect(302);
    const left = await historyIds(agent);
    assert.ok(!left.includes(a!) && !left.includes(b!));
    assert.match((await agent.get('/digits/history/delete-all').expect(200)).text, new RegExp(`Delete all ${left.length} predictions`));
    await agent.post('/digits/history/delete-all').type('form').send({ _csrf: token }).expect(302);
    assert.deepEqual(await historyIds(agent), []);
  });

  it('when keeping images is switched off on the history page, then new drawings are stored without their image', async () => {
    const token = await csrfToken(agent, '/digits/history');
    await agent.post('/digits/settings').type('form').send({ _csrf: token }).expect(302);
    assert.doesNotMatch((await agent.get('/digits/history').expect(200)).text, /name="keep_images" role="switch" checked/);
    const drawn = await drawAndPredict(agent, await drawnDigitPng(2)).expect(201);
    assert.equal(drawn.body.prediction.has_image, false);
    await agent.get(`/digits/predictions/${drawn.body.id}/image`).expect(404);
    assert.match((await agent.get(`/digits/predictions/${drawn.body.id}`).expect(200)).text, /was not kept/);
    await agent.post('/digits/settings').type('form').send({ _csrf: token, keep_images: 'on' }).expect(302);
    assert.match((await agent.get('/digits/history').expect(200)).text, /name="keep_images" role="switch" checked/);
  });

  it('when reviewed predictions exist, then the analytics page shows accuracy, the confusion matrix and the per-digit table without script', async () => {
    const token = await csrfToken(agent, '/digits');
    for (const [digit, label] of [[4, '4'], [7, '1'], [0, '0']] as const) {
      const { id } = (await drawAndPredict(agent, await drawnDigitPng(digit)).expect(201)).body;
      await agent.post(`/digits/predictions/${id}/correction`).type('form').send({ _csrf: token, label }).expect(302);
    }
    const page = (await agent.get('/digits/analytics').expect(200)).text;
    assert.match(page, /data-stat="accuracy">66\.7%/);
    assert.match(page, /n = 3/);
    assert.match(page, /<tr data-label="1"><th scope="row">1<\/th>(\s*<td[^>]*>\d+<\/td>){7}\s*<td class="cell-wrong">1<\/td>/, 'a true 1 read as 7');
    assert.match(page, /a <strong>1<\/strong> read as <strong>7<\/strong>: 1 time/);
    assert.match(page, /<tr data-digit="4"><td>4<\/td><td>1<\/td><td>1<\/td><td>100\.0%<\/td>/);
    assert.match(page, /src="\/assets\/[0-9a-f]{16}\/vendor\/chart.js\/chart.umd.min.js"/);
    await agent.get('/digits/analytics?scope=all').expect(403);
  });

  it('when the history is exported, then CSV and JSON downloads list the predictions and the corrected images come as a zip with a folder per digit', async () => {
    const csv = await agent.get('/digits/export?format=csv').expect(200);
    assert.match(csv.headers['content-type']!, /^text\/csv/);
    assert.match(csv.headers['content-disposition']!, /attachment; filename="?digit-predictions-\d{4}-\d{2}-\d{2}\.csv"?/);
    const lines = csv.text.trim().split('\r\n');
    assert.equal(lines[0], 'id,created_at,source,file_name,digit,confidence,p0,p1,p2,p3,p4,p5,p6,p7,p8,p9,model_version,label,corrected_at,has_image');
    const json = await agent.get('/digits/export?format=json&corrected=true').expect(200);
    const rows = JSON.parse(json.text) as { correction: { label: number } }[];
    assert.equal(rows.length, 3);
    const zip = await agent.get('/digits/export/corrected.zip').buffer(true).parse((res, done) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => done(null, Buffer.concat(chunks)));
    }).expect(200);
    const names = [...(zip.body as Buffer).toString('latin1').matchAll(/([0-9])\/(\d+)\.png/g)].map((match) => match[1]);
    assert.deepEqual([...new Set(names)].sort(), ['0', '1', '4']);
  });

  it('when the corrected images are added to a dataset, then it has labels 0-9 with each image under its true digit, and a second run adds only new corrections', async () => {
    const token = await csrfToken(agent, '/digits/history');
    const first = await agent.post('/digits/export/dataset').type('form').send({ _csrf: token, name: 'My digits' }).expect(302);
    const datasetId = Number(/^\/datasets\/(\d+)$/.exec(first.headers.location!)![1]);
    const page = (await agent.get(`/datasets/${datasetId}`).expect(200)).text;
    assert.match(page, /3 corrected images added to the dataset “My digits”\./);
    const labels = t.db.prepare('SELECT l.name, COUNT(i.id) AS n FROM dataset_labels l LEFT JOIN dataset_images i ON i.label_id = l.id WHERE l.dataset_id = ? GROUP BY l.id ORDER BY l.name').all(datasetId) as { name: string; n: number }[];
    assert.deepEqual(labels.map((label) => label.name), ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    assert.deepEqual(labels.filter((label) => label.n > 0).map((label) => [label.name, label.n]), [['0', 1], ['1', 1], ['4', 1]], 'the 7 corrected to 1 sits under 1');

    const { id } = (await drawAndPredict(agent, await drawnDigitPng(2)).expect(201)).body;
    await agent.post(`/digits/predictions/${id}/correction`).type('form').send({ _csrf: token, label: '2' }).expect(302);
    const again = await agent.post('/digits/export/dataset').type('form').send({ _csrf: token, name: 'my DIGITS' }).expect(302);
    assert.equal(again.headers.location, `/datasets/${datasetId}`, 'the same dataset, whatever the case');
    assert.match((await agent.get(again.headers.location!).expect(200)).text, /1 corrected image added to the dataset “My digits”\. 3 were already there\./);

    const refused = await agent.post('/digits/export/dataset').type('form').send({ _csrf: token, name: '../etc' }).expect(302);
    assert.equal(refused.headers.location, '/digits/history#download');
    assert.match((await agent.get('/digits/history').expect(200)).text, /class="flash flash-error"/);
  });

  it('when the model is not loaded, then the pages say so and predictions answer 503, while history still works', async () => {
    const bare = createTestApp();
    try {
      const user = await bare.createUser({ username: 'nomodel' });
      const page = await signInForDrawing(bare.app, user);
      assert.match((await page.get('/digits').expect(200)).text, /its model is not loaded/);
      const res = await drawAndPredict(page, await drawnDigitPng(1)).expect(503);
      assert.equal(res.body.error.code, 'service_unavailable');
      await page.get('/digits/history').expect(200);
      const auth = await bearerFor(bare.app, user);
      await request(bare.app).post('/api/v1/digits/predictions').set('Authorization', auth).attach('image', await images.pngImage(30, 30), 'x.png').expect(503);
    } finally {
      await bare.close();
    }
  });
});
