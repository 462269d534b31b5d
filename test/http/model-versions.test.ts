import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { createApp } from '../../src/app.js';
import { runAdminCli } from '../../src/cli/admin.js';
import { openMigratedDatabase } from '../../src/db/migrate.js';
import { restoreActiveModels } from '../../src/features/models/index.js';
import { createLogger } from '../../src/logger.js';
import { loadModels, type Models } from '../../src/ml/index.js';
import { bearerFor, csrfFromHtml, signIn, type Agent } from '../helpers/agent.js';
import { drawnDigitPng } from '../helpers/digits.js';
import { signatureImage } from '../helpers/fake-signatures.js';
import { fixtureModelsDir, shippedModelsDir } from '../helpers/ml-models.js';
import { createTestApp, TEST_SESSION_SECRET, type TestApp } from '../helpers/test-app.js';

/*
 * The app runs the tiny fixture models as its "shipped" versions (MODELS_DIR = test/fixtures/ml/models, digits
 * 0.0.1-test); the real models/digits.onnx (1.0.0) is uploaded as a second digits version. The two are different
 * networks, so an answer's probabilities show which one really made it, whatever it says.
 */
const FIXTURE_VERSION = '0.0.1-test';
const SHIPPED_CARD = JSON.parse(readFileSync(path.join(shippedModelsDir, 'digits.json'), 'utf8')) as Record<string, unknown>;
const REAL_VERSION = SHIPPED_CARD.version as string;
const REAL_ONNX = readFileSync(path.join(shippedModelsDir, 'digits.onnx'));
const FIXTURE_ONNX = readFileSync(path.join(fixtureModelsDir, 'digits.onnx'));
const FIXTURE_CARD = JSON.parse(readFileSync(path.join(fixtureModelsDir, 'digits.json'), 'utf8')) as Record<string, unknown>;
const SIGNATURE_CARD = JSON.parse(readFileSync(path.join(fixtureModelsDir, 'signatures.json'), 'utf8')) as Record<string, unknown>;
const SIGNATURE_ONNX = readFileSync(path.join(fixtureModelsDir, 'signatures.onnx'));

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const json = (value: unknown) => Buffer.from(JSON.stringify(value));
/** A digits card for `onnx` under another version; `changes` replace fields. */
const digitsCard = (version: string, onnx: Uint8Array, changes: Record<string, unknown> = {}) => ({
  ...FIXTURE_CARD,
  version,
  file: { bytes: onnx.length, sha256: sha256(onnx) },
  ...changes,
});

function upload(t: TestApp, auth: string, model: string, onnx: Buffer, card: Buffer) {
  return request(t.app).post(`/api/v1/models/${model}/versions`).set('Authorization', auth).attach('onnx', onnx, 'model.onnx').attach('card', card, 'card.json');
}

const activate = (t: TestApp, auth: string, model: string, version: string) =>
  request(t.app).post(`/api/v1/models/${model}/versions/${encodeURIComponent(version)}/activate`).set('Authorization', auth);

const modelOf = async (t: TestApp, auth: string, model: string) => {
  const res = await request(t.app).get('/api/v1/models').set('Authorization', auth).expect(200);
  return (res.body as { model: string; active_version: string; previous_version: string | null; last_error: string | null; versions: { version: string; source: string; active: boolean }[] }[]).find(
    (m) => m.model === model,
  )!;
};

const predict = (t: TestApp, auth: string, png: Buffer) => request(t.app).post('/api/v1/digits/predictions').set('Authorization', auth).attach('image', png, 'digit.png');

const close = (a: number[], b: number[]) => a.length === b.length && a.every((value, i) => Math.abs(value - b[i]!) < 1e-5);

describe('model versions', () => {
  let ml: Models;
  let t: TestApp;
  let admin: string;
  let user: string;
  let adminAccount: { username: string; password: string };
  let userAccount: { username: string; password: string };
  before(async () => {
    ml = await loadModels({ modelsDir: fixtureModelsDir, workers: 2, intraOpNumThreads: 1 });
    t = createTestApp({ env: { MODELS_DIR: fixtureModelsDir, API_RATE_LIMIT: '100000', MODEL_UPLOAD_MAX_MB: '2' }, models: { versions: ml.versions }, ml });
    adminAccount = await t.createUser({ username: 'root', role: 'admin' });
    userAccount = await t.createUser({ username: 'alice' });
    admin = await bearerFor(t.app, adminAccount);
    user = await bearerFor(t.app, userAccount);
  });
  after(async () => {
    await t.close();
    await ml.close();
  });

  it('when the app starts, then each model lists its shipped version as active and /ready names it', async () => {
    const digits = await modelOf(t, admin, 'digits');
    assert.equal(digits.active_version, FIXTURE_VERSION);
    assert.deepEqual(digits.versions.map((v) => [v.version, v.source, v.active]), [[FIXTURE_VERSION, 'shipped', true]]);
    assert.equal((await modelOf(t, admin, 'signatures')).active_version, FIXTURE_VERSION);
    const ready = await request(t.app).get('/ready').expect(200);
    assert.equal(ready.body.checks.models.digits, FIXTURE_VERSION);
  });

  it('when a non-admin calls any model route, then 403 and nothing changes', async () => {
    await request(t.app).get('/api/v1/models').set('Authorization', user).expect(403);
    await upload(t, user, 'digits', REAL_ONNX, json(digitsCard('9.9.9', REAL_ONNX))).expect(403);
    await activate(t, user, 'digits', FIXTURE_VERSION).expect(403);
    await request(t.app).post('/api/v1/models/digits/rollback').set('Authorization', user).expect(403);
    await request(t.app).delete(`/api/v1/models/digits/versions/${FIXTURE_VERSION}`).set('Authorization', user).expect(403);
    await request(t.app).get('/api/v1/models').expect(401);

    const agent = await signIn(t.app, userAccount);
    await agent.get('/admin/models').expect(403);
    const token = csrfFromHtml((await agent.get('/account')).text)!;
    await agent.post(`/admin/models/digits/versions/${FIXTURE_VERSION}/activate`).type('form').send({ _csrf: token }).expect(403);
    await agent.post('/admin/models/digits/rollback').type('form').send({ _csrf: token }).expect(403);
    await agent.get(`/admin/models/digits/versions/${FIXTURE_VERSION}/delete`).expect(403);
    await agent.post(`/admin/models/digits/versions/${FIXTURE_VERSION}/delete`).type('form').send({ _csrf: token }).expect(403);
    await agent.post('/admin/models/digits/versions').field('_csrf', token).attach('onnx', REAL_ONNX, 'm.onnx').expect(403);
    assert.equal((await modelOf(t, admin, 'digits')).versions.length, 1);
  });

  describe('uploads that fail a check are refused, naming the check', () => {
    const refusals: [string, () => [string, Buffer, Buffer], number, string, RegExp][] = [
      ['the card is not JSON', () => ['digits', REAL_ONNX, Buffer.from('{ not json')], 422, 'card_incomplete', /card check.*not valid JSON/],
      ['the card has no output', () => ['digits', REAL_ONNX, json({ ...digitsCard('2.0.0', REAL_ONNX), output: undefined })], 422, 'card_incomplete', /card check.*output/],
      [
        'a signature card has no decision band',
        () => ['signatures', SIGNATURE_ONNX, json({ ...SIGNATURE_CARD, version: '0.0.2-test', decision: undefined })],
        422,
        'card_incomplete',
        /card check.*inconclusive_band/,
      ],
      [
        'a signature card names no scoring rule',
        () => ['signatures', SIGNATURE_ONNX, json({ ...SIGNATURE_CARD, version: '0.0.2-test', scoring: undefined })],
        422,
        'card_incomplete',
        /card check.*scoring rule/,
      ],
      [
        'a signature card asks for two fits ("contain+fill") but takes one input channel',
        () => ['signatures', SIGNATURE_ONNX, json({ ...SIGNATURE_CARD, version: '0.0.3-test', scoring: { rule: 'normalised-mean' }, preprocessing: { fit: 'contain+fill' } })],
        422,
        'shapes_mismatch',
        /shapes check.*\[N, 2, 200, 200\]/,
      ],
      ['the version has a slash', () => ['digits', REAL_ONNX, json(digitsCard('../../etc', REAL_ONNX))], 422, 'card_incomplete', /card check.*version/],
      ['the output has 9 classes', () => ['digits', REAL_ONNX, json(digitsCard('2.0.1', REAL_ONNX, { output: { name: 'probabilities', shape: ['N', 9] } }))], 422, 'shapes_mismatch', /shapes check.*\[N, 10\]/],
      [
        'the input is 32x32',
        () => ['digits', REAL_ONNX, json(digitsCard('2.0.2', REAL_ONNX, { input: { name: 'image', shape: ['N', 1, 32, 32], dtype: 'float32' } }))],
        422,
        'shapes_mismatch',
        /shapes check.*input shape/,
      ],
      ['the sha256 differs', () => ['digits', REAL_ONNX, json(digitsCard('2.0.3', REAL_ONNX, { file: { sha256: sha256(FIXTURE_ONNX) } }))], 422, 'sha256_mismatch', /sha256 check/],
      ['the version exists already', () => ['digits', REAL_ONNX, json(digitsCard(FIXTURE_VERSION, REAL_ONNX))], 409, 'version_exists', /already has a version/],
      ['the file is not ONNX', () => ['digits', Buffer.from('not a model at all'), json(digitsCard('2.0.4', Buffer.from('not a model at all')))], 422, 'inference_failed', /test inference check.*not a loadable ONNX/],
      [
        'the network takes another input size than its card says',
        () => ['digits', SIGNATURE_ONNX, json(digitsCard('2.0.5', SIGNATURE_ONNX, { output: { name: 'embedding', shape: ['N', 10] } }))],
        422,
        'inference_failed',
        /test inference check/,
      ],
    ];
    for (const [name, make, status, code, message] of refusals) {
      it(`when ${name}, then ${status} ${code}`, async () => {
        const [model, onnx, card] = make();
        const res = await upload(t, admin, model, onnx, card).expect(status);
        assert.equal(res.body.error.code, code);
        assert.match(res.body.error.message, message);
      });
    }

    it('when the ONNX file is larger than MODEL_UPLOAD_MAX_MB, then 413', async () => {
      const big = Buffer.alloc(3 * 1024 * 1024, 1);
      await upload(t, admin, 'digits', big, json(digitsCard('2.0.6', big))).expect(413);
    });

    it('then no refused upload left a version or a folder behind', async () => {
      assert.deepEqual((await modelOf(t, admin, 'digits')).versions.map((v) => v.version), [FIXTURE_VERSION]);
      assert.ok(!existsSync(path.join(t.dataDir, 'models', 'digits', '2.0.3')));
      assert.ok(!existsSync(path.join(t.dataDir, 'etc')));
    });
  });

  it('when a card has no sha256, then the upload records the file\'s and keeps the files in DATA_DIR/models/<model>/<version>', async () => {
    const card = { ...SHIPPED_CARD, file: undefined };
    const res = await upload(t, admin, 'digits', REAL_ONNX, json(card)).expect(201);
    assert.equal(res.body.version, REAL_VERSION);
    assert.equal(res.body.source, 'uploaded');
    assert.equal(res.body.active, false);
    assert.equal(res.body.sha256, sha256(REAL_ONNX));
    assert.equal(res.body.created_by, 'root');
    const dir = path.join(t.dataDir, 'models', 'digits', REAL_VERSION);
    assert.equal(sha256(readFileSync(path.join(dir, 'digits.onnx'))), sha256(REAL_ONNX));
    assert.equal(JSON.parse(readFileSync(path.join(dir, 'digits.json'), 'utf8')).file.sha256, sha256(REAL_ONNX));
    assert.equal((await modelOf(t, admin, 'digits')).active_version, FIXTURE_VERSION, 'an upload is not activated');
  });

  it('when a version is activated and rolled back under load, then every request succeeds and names the version that made its answer', async () => {
    const png = await drawnDigitPng(3);
    // What each version answers for this drawing.
    const before = await predict(t, user, png).expect(201);
    assert.equal(before.body.model_version, FIXTURE_VERSION);
    const expected = new Map<string, number[]>([[FIXTURE_VERSION, before.body.probabilities as number[]]]);

    // `sent`: when the request left; one sent before a switch may still answer with the version it started on.
    const answers: { version: string; probabilities: number[]; sent: number }[] = [];
    let stop = false;
    const load = async () => {
      while (!stop) {
        const sent = performance.now();
        const res = await predict(t, user, png);
        assert.equal(res.status, 201, `a request failed during the switch: ${res.text}`);
        answers.push({ version: res.body.model_version, probabilities: res.body.probabilities, sent });
      }
    };
    const clients = Array.from({ length: 6 }, load);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const switchStarted = performance.now();
    const activated = await activate(t, admin, 'digits', REAL_VERSION).expect(200);
    const switched = performance.now();
    assert.equal(activated.body.active_version, REAL_VERSION);
    assert.equal(activated.body.previous_version, FIXTURE_VERSION);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const rolledStarted = performance.now();
    const rolledBack = await request(t.app).post('/api/v1/models/digits/rollback').set('Authorization', admin).expect(200);
    const rolled = performance.now();
    assert.equal(rolledBack.body.active_version, FIXTURE_VERSION);
    await new Promise((resolve) => setTimeout(resolve, 300));
    stop = true;
    await Promise.all(clients);

    const after = answers.filter((a) => a.sent > switched && a.sent < rolledStarted);
    assert.ok(after.length > 0, 'answers between the switch and the roll back');
    expected.set(REAL_VERSION, after[0]!.probabilities);
    assert.ok(!close(expected.get(REAL_VERSION)!, expected.get(FIXTURE_VERSION)!), 'the two versions answer differently');
    for (const answer of answers) {
      assert.ok(expected.has(answer.version), `unknown version ${answer.version}`);
      assert.ok(close(answer.probabilities, expected.get(answer.version)!), `an answer labelled ${answer.version} was made by the other version`);
    }
    assert.ok(answers.some((a) => a.sent < switchStarted && a.version === FIXTURE_VERSION));
    assert.ok(after.every((a) => a.version === REAL_VERSION), 'after the switch, new requests run on the new version');
    const afterRollback = answers.filter((a) => a.sent > rolled);
    assert.ok(afterRollback.length > 0 && afterRollback.every((a) => a.version === FIXTURE_VERSION), 'after the roll back, new requests run on the old version again');
    assert.equal((await request(t.app).get('/ready').expect(200)).body.checks.models.digits, FIXTURE_VERSION);
  });

  it('when an admin activates on the page, then the page shows the new active version; a version whose files broke stays inactive and the page says why', async () => {
    const agent: Agent = await signIn(t.app, adminAccount);
    const page = await agent.get('/admin/models').expect(200);
    assert.match(page.text, /Active: version 0\.0\.1-test/);
    assert.match(page.text, /href="\/admin\/models"[^>]*aria-current="page"/);
    const token = csrfFromHtml(page.text)!;
    await agent.post(`/admin/models/digits/versions/${REAL_VERSION}/activate`).type('form').send({ _csrf: token }).expect(302);
    let after = await agent.get('/admin/models').expect(200);
    assert.match(after.text, new RegExp(`Version ${REAL_VERSION.replaceAll('.', '\\.')} of the digits model is active`));
    assert.match(after.text, new RegExp(`data-active-version="${REAL_VERSION.replaceAll('.', '\\.')}"`));
    assert.match(after.text, /Roll back to 0\.0\.1-test/);
    await agent.post('/admin/models/digits/rollback').type('form').send({ _csrf: token }).expect(302);
    assert.equal(ml.versions().digits, FIXTURE_VERSION);

    // The files on disk no longer match what was registered: loading fails, the active version keeps answering.
    writeFileSync(path.join(t.dataDir, 'models', 'digits', REAL_VERSION, 'digits.onnx'), FIXTURE_ONNX);
    await agent.post(`/admin/models/digits/versions/${REAL_VERSION}/activate`).type('form').send({ _csrf: token }).expect(302);
    after = await agent.get('/admin/models').expect(200);
    assert.match(after.text, /could not be activated, so 0\.0\.1-test stays active: .*sha256/);
    assert.match(after.text, /data-activation-error/);
    assert.equal(ml.versions().digits, FIXTURE_VERSION);
    const res = await activate(t, admin, 'digits', REAL_VERSION).expect(409);
    assert.equal(res.body.error.code, 'activation_failed');
    assert.equal((await predict(t, user, await drawnDigitPng(5)).expect(201)).body.model_version, FIXTURE_VERSION);
    writeFileSync(path.join(t.dataDir, 'models', 'digits', REAL_VERSION, 'digits.onnx'), REAL_ONNX);
  });

  it('when an upload on the page fails a check, then the form shows which one', async () => {
    const agent = await signIn(t.app, adminAccount);
    const token = csrfFromHtml((await agent.get('/admin/models')).text)!;
    const res = await agent
      .post('/admin/models/digits/versions')
      .field('_csrf', token)
      .attach('onnx', REAL_ONNX, 'digits.onnx')
      .attach('card', json(digitsCard('3.0.0', REAL_ONNX, { file: { sha256: '0'.repeat(64) } })), 'digits.json')
      .expect(422);
    assert.match(res.text, /Refused by the sha256 check/);
    const ok = await agent
      .post('/admin/models/digits/versions')
      .field('_csrf', token)
      .attach('onnx', REAL_ONNX, 'digits.onnx')
      .attach('card', json(digitsCard('3.0.0', REAL_ONNX)), 'digits.json')
      .expect(302);
    assert.equal(ok.headers.location, '/admin/models#model-digits');
    assert.match((await agent.get('/admin/models')).text, /passed every check and was added/);
  });

  it('when versions are deleted, then shipped and active ones are refused and others go with their files', async () => {
    let res = await request(t.app).delete(`/api/v1/models/digits/versions/${FIXTURE_VERSION}`).set('Authorization', admin).expect(422);
    assert.match(res.body.error.message, /shipped/);
    await activate(t, admin, 'digits', '3.0.0').expect(200);
    res = await request(t.app).delete('/api/v1/models/digits/versions/3.0.0').set('Authorization', admin).expect(422);
    assert.match(res.body.error.message, /is active/);
    await activate(t, admin, 'digits', FIXTURE_VERSION).expect(200);

    const agent = await signIn(t.app, adminAccount);
    const confirm = await agent.get('/admin/models/digits/versions/3.0.0/delete').expect(200);
    assert.match(confirm.text, /Delete version 3\.0\.0/);
    await agent.post('/admin/models/digits/versions/3.0.0/delete').type('form').send({ _csrf: csrfFromHtml(confirm.text)! }).expect(302);
    assert.ok(!existsSync(path.join(t.dataDir, 'models', 'digits', '3.0.0')));
    assert.deepEqual((await modelOf(t, admin, 'digits')).versions.map((v) => v.version).sort(), [FIXTURE_VERSION, REAL_VERSION].sort());
    await request(t.app).delete('/api/v1/models/digits/versions/3.0.0').set('Authorization', admin).expect(404);
    assert.doesNotMatch((await agent.get('/admin/models')).text, new RegExp(`/versions/${FIXTURE_VERSION.replaceAll('.', '\\.')}/delete`), 'no delete for a shipped version');
  });

  it('when another signature version is activated, then verifications say so and the references are recomputed with it, also during the switch', async () => {
    // The fixture card names no scoring rule (verification needs one), so two complete versions of the same network.
    // Its random weights find every reference an outlier by the fixture's rule: this card leaves none out.
    const card = { ...SIGNATURE_CARD, scoring: { rule: 'normalised-mean' }, reference_checks: { near_duplicate_similarity: 1, outlier_score_below: -10 } };
    await upload(t, admin, 'signatures', SIGNATURE_ONNX, json({ ...card, version: '0.0.2-test' })).expect(201);
    await upload(t, admin, 'signatures', SIGNATURE_ONNX, json({ ...card, version: '0.0.3-test' })).expect(201);
    await activate(t, admin, 'signatures', '0.0.2-test').expect(200);

    const signer = await request(t.app).post('/api/v1/signers').set('Authorization', user).send({ name: 'Vera' }).expect(201);
    const add = request(t.app).post(`/api/v1/signers/${signer.body.id}/references`).set('Authorization', user);
    for (const seed of [1, 2, 3]) add.attach('images', await signatureImage(0, seed), `ref-${seed}.png`);
    await add.expect(201);
    const verify = async (seed: number) => {
      const res = await request(t.app).post(`/api/v1/signers/${signer.body.id}/verifications`).set('Authorization', user).attach('image', await signatureImage(0, seed), 'q.png');
      assert.equal(res.status, 201, res.text);
      return res;
    };
    assert.equal((await verify(10)).body.model_version, '0.0.2-test');

    const during = [verify(11), verify(12), verify(13)];
    await activate(t, admin, 'signatures', '0.0.3-test').expect(200);
    for (const res of await Promise.all(during)) assert.ok(['0.0.2-test', '0.0.3-test'].includes(res.body.model_version));
    assert.equal((await verify(14)).body.model_version, '0.0.3-test');
    const versions = t.db.prepare('SELECT DISTINCT model_version FROM signature_references WHERE signer_id = ?').pluck().all(signer.body.id);
    assert.deepEqual(versions, ['0.0.3-test'], 'the references were recomputed with the new version');
    await activate(t, admin, 'signatures', FIXTURE_VERSION).expect(200);
  });

  it('when administrators changed the models, then the security events record who did what', async () => {
    t.flushRequestLog();
    const rows = t.db.prepare("SELECT action, detail, user_id AS userId FROM security_events WHERE action LIKE 'model.%' ORDER BY id").all() as { action: string; detail: string; userId: number }[];
    const seen = new Set(rows.map((row) => `${row.action} ${row.detail}`));
    for (const expected of [`model.upload digits ${REAL_VERSION}`, `model.activate digits ${REAL_VERSION}`, `model.rollback digits ${FIXTURE_VERSION}`, 'model.delete digits 3.0.0', 'model.upload digits 3.0.0']) {
      assert.ok(seen.has(expected), `${expected} in ${[...seen].join(', ')}`);
    }
    assert.ok(rows.every((row) => row.userId !== null));
  });

  it('when a backup is made, then it holds the versions made here beside the database', async () => {
    const target = mkdtempSync(path.join(os.tmpdir(), 'inkwell-backups-'));
    try {
      const env = { NODE_ENV: 'test', DATA_DIR: t.dataDir, UPLOAD_DIR: t.config.uploadDir, BCRYPT_COST: '4', MODELS_DIR: fixtureModelsDir };
      const status = await runAdminCli(['backup', target], { env, io: { out: () => undefined, err: () => undefined, readPassword: async () => '' } });
      assert.equal(status, 0);
      const backup = path.join(target, readdirSync(target)[0]!);
      assert.equal(sha256(readFileSync(path.join(backup, 'models', 'digits', REAL_VERSION, 'digits.onnx'))), sha256(REAL_ONNX));
      assert.match(readFileSync(path.join(backup, 'RESTORE.txt'), 'utf8'), /DATA_DIR\/models/);
    } finally {
      rmSync(target, { recursive: true, force: true });
    }
  });

  it('when the app restarts on the same data folder, then the version activated last answers again', async () => {
    await activate(t, admin, 'digits', REAL_VERSION).expect(200);
    const { db } = openMigratedDatabase(t.config.databaseFile);
    const ml2 = await loadModels({ modelsDir: fixtureModelsDir, workers: 1, intraOpNumThreads: 1 });
    try {
      assert.equal(ml2.versions().digits, FIXTURE_VERSION);
      const logger = createLogger('silent');
      await restoreActiveModels({ db, ml: ml2, modelsDir: t.config.modelsDir, dataDir: t.config.dataDir, logger });
      const restarted = createApp({ config: t.config, db, logger, sessionSecret: TEST_SESSION_SECRET, models: { versions: ml2.versions }, ml: ml2 });
      try {
        assert.equal(ml2.versions().digits, REAL_VERSION);
        const res = await request(restarted.app).get('/api/v1/models').set('Authorization', admin).expect(200);
        assert.equal(res.body.find((m: { model: string }) => m.model === 'digits').active_version, REAL_VERSION);
        const predicted = await request(restarted.app).post('/api/v1/digits/predictions').set('Authorization', user).attach('image', await drawnDigitPng(7), 'd.png').expect(201);
        assert.equal(predicted.body.model_version, REAL_VERSION);
        assert.equal(predicted.body.digit, 7, 'the real model reads the drawn 7');
      } finally {
        await restarted.close();
      }
    } finally {
      await ml2.close();
      db.close();
    }
    await activate(t, admin, 'digits', FIXTURE_VERSION).expect(200);
  });
});

describe('model versions without loaded models', () => {
  it('when the models are not loaded, then the versions are listed from models/ and activation answers 503', async () => {
    const t = createTestApp();
    try {
      const admin = await bearerFor(t.app, await t.createUser({ username: 'root', role: 'admin' }));
      const digits = await modelOf(t, admin, 'digits');
      assert.equal(digits.active_version, REAL_VERSION);
      assert.deepEqual(digits.versions.map((v) => v.source), ['shipped']);
      const res = await activate(t, admin, 'digits', REAL_VERSION).expect(503);
      assert.match(res.body.error.message, /not loaded/);
      const agent = await signIn(t.app, { username: 'root', password: 'correct horse battery' });
      assert.match((await agent.get('/admin/models').expect(200)).text, /models are not loaded in this process/);
    } finally {
      await t.close();
    }
  });
});
