import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { createTrainingCorrectionsReader } from '../../src/features/digits/index.js';
import { createEvaluationService } from '../../src/features/models/evaluation.service.js';
import { createJobsRepo } from '../../src/features/models/jobs.repo.js';
import { createJobRunner } from '../../src/features/models/jobs.runner.js';
import { createLogger } from '../../src/logger.js';
import { loadDigitModel } from '../../src/ml/index.js';
import { bearerFor, csrfToken, signIn, type Agent } from '../helpers/agent.js';
import { createDataset, uploadTo } from '../helpers/datasets.js';
import { drawnDigitPng, shippedDigitModels } from '../helpers/digits.js';
import { datasetsDir, shippedVersion } from '../helpers/ml-models.js';
import { createTestApp, type TestApp } from '../helpers/test-app.js';

type Models = Awaited<ReturnType<typeof shippedDigitModels>>;

/** Whether /usr/bin/python3 can train (CI installs python3-torch python3-torchvision python3-onnx). */
function torchMissing(): string | null {
  try {
    execFileSync('/usr/bin/python3', ['-c', 'import torch, torchvision, onnx'], { stdio: 'ignore', timeout: 60_000 });
    return null;
  } catch {
    return '/usr/bin/python3 cannot import torch, torchvision and onnx (install python3-torch python3-torchvision python3-onnx)';
  }
}
const MNIST = path.join(datasetsDir, 'mnist/train-images-idx3-ubyte.gz');
const skipTraining = torchMissing() ?? (existsSync(MNIST) ? null : `MNIST is not in ${path.dirname(MNIST)}`);
if (skipTraining) console.log(`# training tests skipped: ${skipTraining}`);

async function waitForJob(t: TestApp, auth: string, url: string, done: (body: { status: string; progress: Record<string, unknown> }) => boolean, timeoutMs = 300_000) {
  const start = Date.now();
  for (;;) {
    const res = await request(t.app).get(url).set('Authorization', auth).expect(200);
    if (done(res.body)) return res.body;
    if (Date.now() - start > timeoutMs) assert.fail(`job at ${url} still ${res.body.status} after ${timeoutMs} ms: ${JSON.stringify(res.body)}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
const ended = (body: { status: string }) => !['queued', 'running'].includes(body.status);
/** The shipped digit version, which the evaluations and the training job compare against. */
const shipped = shippedVersion('digits');

describe('model jobs: evaluation and retraining (admins)', () => {
  let models: Models;
  let t: TestApp;
  let admin: string;
  let alice: string;
  let bob: string;
  let adminAgent: Agent;
  let aliceAgent: Agent;
  let digitsDataset: number;

  before(async () => {
    models = await shippedDigitModels();
    t = createTestApp({ ...models.deps, env: { TRAINING_THREADS: '1', TRAINING_DATA_DIR: datasetsDir } });
    const root = await t.createUser({ username: 'root', role: 'admin' });
    const aliceUser = await t.createUser({ username: 'alice' });
    admin = await bearerFor(t.app, root);
    alice = await bearerFor(t.app, aliceUser);
    bob = await bearerFor(t.app, await t.createUser({ username: 'bob' }));
    adminAgent = await signIn(t.app, root);
    aliceAgent = await signIn(t.app, aliceUser);
    // A small dataset built here: every digit drawn twice (thin and thick strokes).
    const dataset = await createDataset(t.app, admin, 'handwritten', ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    digitsDataset = dataset.id;
    for (let d = 0; d < 10; d++) {
      await uploadTo(t.app, admin, dataset.id, String(d), [
        [await drawnDigitPng(d, { stroke: 10 }), `${d}-thin.png`],
        [await drawnDigitPng(d, { stroke: 16 }), `${d}-thick.png`],
      ]);
    }
  });
  after(async () => {
    await t.close();
    await models.close();
  });

  it('when an admin evaluates the shipped digit version on a dataset labelled 0-9, then 202 answers a job whose result has the accuracy, per-digit accuracy and confusion matrix, shown with the version', async () => {
    const res = await request(t.app).post('/api/v1/models/digits/evaluations').set('Authorization', admin).send({ version: shipped, dataset_id: digitsDataset }).expect(202);
    assert.equal(res.body.kind, 'evaluation');
    assert.ok(['queued', 'running'].includes(res.body.status));
    const job = await waitForJob(t, admin, `/api/v1/models/digits/evaluations/${res.body.id}`, ended);
    assert.equal(job.status, 'succeeded', JSON.stringify(job));
    const result = job.result;
    assert.equal(result.n, 20);
    assert.equal(result.confusion.length, 10);
    assert.equal(result.confusion.flat().reduce((a: number, b: number) => a + b, 0), 20);
    assert.equal(result.correct, result.confusion.reduce((sum: number, row: number[], d: number) => sum + row[d]!, 0));
    assert.ok(result.accuracy >= 90, `the shipped model reads drawn digits: ${result.accuracy}%`);
    assert.deepEqual(Object.keys(result.per_digit_accuracy), ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    assert.deepEqual(job.progress, { done: 20, total: 20 });
    // What the page's script polls.
    const status = await adminAgent.get(`/admin/models/jobs/${res.body.id}/status`).expect(200);
    assert.equal(status.body.status, 'succeeded');

    const page = await adminAgent.get('/admin/models/digits/evaluations').expect(200);
    assert.match(page.text, new RegExp(`${result.accuracy}% of 20`));
    const detail = await adminAgent.get(`/admin/models/digits/evaluations/${res.body.id}`).expect(200);
    assert.match(detail.text, /Confusion matrix/);

    // A second evaluation of the same data: the two compare side by side.
    const second = await request(t.app).post('/api/v1/models/digits/evaluations').set('Authorization', admin).send({ version: shipped, dataset_id: digitsDataset }).expect(202);
    await waitForJob(t, admin, `/api/v1/models/digits/evaluations/${second.body.id}`, ended);
    const compare = await adminAgent.get(`/admin/models/digits/evaluations/compare?a=${res.body.id}&b=${second.body.id}`).expect(200);
    assert.match(compare.text, /B's accuracy is <strong>\+?0 points<\/strong>/);

    // The models page shows each version's newest evaluation beside it, linked.
    const models = await adminAgent.get('/admin/models').expect(200);
    const digitsSection = models.text.match(/id="model-digits"[\s\S]*?<\/section>/)?.[0] ?? '';
    const row = digitsSection.match(new RegExp(`<tr data-version="${shipped.replaceAll('.', '\\.')}">[\\s\\S]*?</tr>`))?.[0] ?? '';
    assert.match(row, new RegExp(`href="/admin/models/digits/evaluations/${second.body.id}">${result.accuracy}% of 20 images in handwritten</a>`));
  });

  it('when the dataset has labels other than 0-9 or the version does not exist, then 422 says which', async () => {
    const pets = await createDataset(t.app, admin, 'pets', ['cat', 'dog']);
    const wrongLabels = await request(t.app).post('/api/v1/models/digits/evaluations').set('Authorization', admin).send({ version: shipped, dataset_id: pets.id }).expect(422);
    assert.match(wrongLabels.body.error.message, /labels other than 0-9/);
    const noVersion = await request(t.app).post('/api/v1/models/digits/evaluations').set('Authorization', admin).send({ version: '9.9.9', dataset_id: digitsDataset }).expect(422);
    assert.match(noVersion.body.error.message, /no version "9.9.9"/);
  });

  it('when the signature model is evaluated, then the result gives FAR, FRR and the inconclusive share on the verifications with a recorded outcome (none yet: it says so)', async () => {
    const version = (await import('../../models/signatures.json', { with: { type: 'json' } })).default.version as string;
    const res = await request(t.app).post('/api/v1/models/signatures/evaluations').set('Authorization', admin).send({ version }).expect(202);
    const job = await waitForJob(t, admin, `/api/v1/models/signatures/evaluations/${res.body.id}`, ended);
    assert.equal(job.status, 'succeeded');
    assert.deepEqual(job.result.n, { genuine: 0, forged: 0 });
    assert.equal(job.result.far, null);
    assert.match(job.result.note, /No verification answered by version/);
    const models = await adminAgent.get('/admin/models').expect(200);
    assert.match(models.text, new RegExp(`href="/admin/models/signatures/evaluations/${res.body.id}">no verification with a recorded outcome yet</a>`));
  });

  it('when a user who is not an administrator calls any model-job route, then 403', async () => {
    const calls = [
      request(t.app).post('/api/v1/models/digits/evaluations').set('Authorization', bob).send({ version: shipped, dataset_id: digitsDataset }),
      request(t.app).get('/api/v1/models/digits/evaluations/1').set('Authorization', bob),
      request(t.app).post('/api/v1/models/digits/training-jobs').set('Authorization', bob).send({ epochs: 1 }),
      // Refused before the body is even looked at.
      request(t.app).post('/api/v1/models/digits/training-jobs').set('Authorization', bob).send({ epochs: 99 }),
      request(t.app).post('/api/v1/models/signatures/evaluations').set('Authorization', bob).send({}),
      request(t.app).get('/api/v1/models/training-jobs/1').set('Authorization', bob),
      request(t.app).delete('/api/v1/models/training-jobs/1').set('Authorization', bob),
    ];
    for (const [i, res] of (await Promise.all(calls)).entries()) assert.equal(res.status, 403, `API call ${i}: ${res.status}`);
    const token = await csrfToken(aliceAgent, '/account');
    const pages = [
      aliceAgent.get('/admin/models/training'),
      aliceAgent.get('/admin/models/training/1'),
      aliceAgent.get('/admin/models/digits/evaluations'),
      aliceAgent.get('/admin/models/digits/evaluations/1'),
      aliceAgent.get('/admin/models/digits/evaluations/compare?a=1&b=2'),
      aliceAgent.get('/admin/models/jobs/1/status'),
      aliceAgent.post('/admin/models/training').type('form').send({ _csrf: token, epochs: '1' }),
      aliceAgent.post('/admin/models/training/1/cancel').type('form').send({ _csrf: token }),
      aliceAgent.post('/admin/models/digits/evaluations').type('form').send({ _csrf: token, version: shipped, dataset_id: String(digitsDataset) }),
    ];
    for (const [i, res] of (await Promise.all(pages)).entries()) assert.equal(res.status, 403, `page ${i}: ${res.status}`);
  });

  it('when a user turns on "let my corrected digits improve the shared model" on the account page, then it is saved (off by default)', async () => {
    const before = await aliceAgent.get('/account').expect(200);
    assert.match(before.text, /Let my corrected digits improve the shared model/);
    assert.doesNotMatch(before.text, /name="share" role="switch" checked/);
    const token = await csrfToken(aliceAgent, '/account');
    await aliceAgent.post('/account/digit-sharing').type('form').send({ _csrf: token, share: 'on' }).expect(302);
    const afterOn = await aliceAgent.get('/account').expect(200);
    assert.match(afterOn.text, /name="share" role="switch" checked/);
  });

  it('when alice allowed it and bob did not, then only alice\'s corrections are offered for training, and "since" filters by the correction\'s date', async () => {
    // alice allowed it (the test above), bob did not: each corrects ten predictions.
    for (const auth of [alice, bob]) {
      for (let d = 0; d < 10; d++) {
        const prediction = await request(t.app).post('/api/v1/digits/predictions').set('Authorization', auth).attach('image', await drawnDigitPng(d, { stroke: 8 + d }), `${d}.png`).expect(201);
        await request(t.app).put(`/api/v1/digits/predictions/${prediction.body.id}/correction`).set('Authorization', auth).send({ label: d }).expect(200);
      }
    }
    const page = await adminAgent.get('/admin/models/training').expect(200);
    assert.match(page.text, /\(10 corrected digits with images from accounts that allowed it, now\)/);
    const reader = createTrainingCorrectionsReader({ db: t.db, store: t.store });
    const aliceId = (t.db.prepare("SELECT id FROM users WHERE username = 'alice'").pluck().get()) as number;
    const consenting = t.db.prepare('SELECT id FROM users WHERE share_digit_corrections = 1').pluck().all() as number[];
    assert.deepEqual(consenting, [aliceId]);
    const exported: number[] = [];
    for await (const batch of reader.batches({ userIds: consenting }, 4)) exported.push(...batch.map((c) => c.userId));
    assert.deepEqual(exported, new Array(10).fill(aliceId));
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    assert.equal(reader.count({ userIds: consenting, since: tomorrow }), 0);
    assert.equal(reader.count({ userIds: consenting, since: '2020-01-01' }), 10);
  });

  it('when a training job runs on 2,000 MNIST images plus corrections, then only consenting accounts\' corrections are used, every 5th is held out, and a loadable version is registered but not activated', { skip: skipTraining ?? false, timeout: 600_000 }, async () => {
    const started = Date.now();
    const res = await request(t.app)
      .post('/api/v1/models/digits/training-jobs')
      .set('Authorization', admin)
      .send({ epochs: 1, augment: true, learning_rate: 0.003, corrections: 'all', mnist_limit: 2000 })
      .expect(202);
    // One job per model at a time.
    await request(t.app).post('/api/v1/models/digits/evaluations').set('Authorization', admin).send({ version: shipped, dataset_id: digitsDataset }).expect(409);
    const job = await waitForJob(t, admin, `/api/v1/models/training-jobs/${res.body.id}`, ended, 580_000);
    console.log(`# training job (1 epoch, 2,000 MNIST images + corrections) took ${((Date.now() - started) / 1000).toFixed(1)} s`);
    assert.equal(job.status, 'succeeded', `${job.error}\n${job.log_tail}`);
    const counts = job.result.counts;
    assert.equal(counts.accounts, 1, 'only alice allowed it');
    assert.equal(counts.corrections, 10);
    assert.equal(counts.corrections_held_out + counts.corrections_trained, 10);
    assert.ok(counts.corrections_held_out >= 1);
    assert.equal(job.result.held_out_corrections.n, counts.corrections_held_out);
    assert.equal(job.progress.epoch, 1);
    assert.match(job.log_tail, /epoch 1\/1/);
    assert.equal(job.version, job.result.version);

    const dir = path.join(t.config.dataDir, 'models', 'digits', job.version);
    const model = await loadDigitModel(dir, { workers: 1, intraOpNumThreads: 1 });
    try {
      assert.equal(model.card.version, job.version);
      const card = model.card as Record<string, any>;
      assert.equal(card.training.settings.epochs, 1);
      assert.equal(card.training_data.corrections.used, 10);
      assert.equal(typeof card.evaluation.mnist_test.accuracy, 'number');
      assert.equal(card.evaluation.held_out_corrections.n, counts.corrections_held_out);
      const [prediction] = await model.classifyFiles([await drawnDigitPng(1)]);
      assert.equal(prediction!.probabilities.length, 10);
    } finally {
      await model.close();
    }
    // Registered as a trained version, not active; the job page's button activates it.
    const listed = await request(t.app).get('/api/v1/models').set('Authorization', admin).expect(200);
    const digits = (listed.body as { model: string; active_version: string; versions: { version: string; source: string }[] }[]).find((m) => m.model === 'digits')!;
    assert.equal(digits.active_version, shipped);
    assert.equal(digits.versions.find((v) => v.version === job.version)?.source, 'trained');
    const page = await adminAgent.get(`/admin/models/training/${res.body.id}`).expect(200);
    assert.match(page.text, /It is <strong>not active<\/strong>/);
    const token = await csrfToken(adminAgent, `/admin/models/training/${res.body.id}`);
    await adminAgent.post(`/admin/models/digits/versions/${encodeURIComponent(job.version)}/activate`).type('form').send({ _csrf: token }).expect(302);
    const activated = await request(t.app).get('/api/v1/models').set('Authorization', admin).expect(200);
    assert.equal((activated.body as { model: string; active_version: string }[]).find((m) => m.model === 'digits')!.active_version, job.version);
    const after = await adminAgent.get(`/admin/models/training/${res.body.id}`).expect(200);
    assert.match(after.text, /It is <strong>active<\/strong> now/);
  });

  it('when a running training job is cancelled, then it is marked cancelled, its process is stopped and another job may start', { skip: skipTraining ?? false, timeout: 300_000 }, async () => {
    const res = await request(t.app).post('/api/v1/models/digits/training-jobs').set('Authorization', admin).send({ epochs: 30, corrections: 'none' }).expect(202);
    const url = `/api/v1/models/training-jobs/${res.body.id}`;
    // Wait until the script is running (its log has its first line).
    await waitForJob(t, admin, url, (body) => ended(body) || (body.progress.phase === 'training' && /MNIST: /.test((body as unknown as { log_tail: string }).log_tail)), 200_000);
    const cancelled = await request(t.app).delete(url).set('Authorization', admin).expect(200);
    assert.equal(cancelled.body.status, 'cancelled');
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const running = execFileSync('ps', ['-eo', 'args']).toString().split('\n').filter((line) => line.includes(`model-jobs/${res.body.id}/`));
    assert.deepEqual(running, [], 'the training process is gone');
    const again = await request(t.app).get(url).set('Authorization', admin).expect(200);
    assert.equal(again.body.status, 'cancelled');
    await request(t.app).post('/api/v1/models/digits/evaluations').set('Authorization', admin).send({ version: shipped, dataset_id: digitsDataset }).expect(202);
  });

  it('when the server starts with jobs left queued or running, then they are marked failed', () => {
    const repo = createJobsRepo(t.db);
    const id = repo.insert({ kind: 'evaluation', model: 'interrupted-model', version: 'x', datasetId: null, settings: {}, createdBy: null as unknown as number });
    repo.start(id);
    createJobRunner({ repo, logger: createLogger('silent') });
    const job = repo.find(id)!;
    assert.equal(job.status, 'failed');
    assert.match(job.error!, /Interrupted/);
  });
});

describe('signature model evaluation', () => {
  it('when verifications with recorded outcomes exist, then FAR, FRR at the card threshold and the inconclusive share are computed from them', async () => {
    const t = createTestApp();
    try {
      const card = JSON.parse(readFileSync('models/signatures.json', 'utf8')) as { version: string; threshold: number };
      const T = card.threshold;
      const row = (score: number, truth: 'genuine' | 'forged', decision: 'genuine' | 'forged' | 'inconclusive') => ({ score, truth, decision, threshold: T, bandLow: T - 0.02, bandHigh: T + 0.02, modelVersion: card.version });
      const rows = [
        row(T + 0.1, 'genuine', 'genuine'),
        row(T + 0.05, 'genuine', 'genuine'),
        row(T - 0.05, 'genuine', 'forged'), // falsely rejected
        row(T + 0.2, 'genuine', 'genuine'),
        row(T - 0.2, 'forged', 'forged'),
        row(T - 0.1, 'forged', 'forged'),
        row(T + 0.01, 'forged', 'inconclusive'), // accepted at the bare threshold, inconclusive by the band
        row(T - 0.3, 'forged', 'forged'),
      ];
      const repo = createJobsRepo(t.db);
      const runner = createJobRunner({ repo, logger: createLogger('silent') });
      const service = createEvaluationService({
        repo,
        runner,
        catalogue: { dirOf: () => path.resolve('models'), activeVersion: () => card.version, versions: () => [card.version] },
        datasets: { describe: () => assert.fail('no dataset for signatures'), batches: () => assert.fail('no dataset for signatures') } as never,
        verifications: { forVersion: (version) => (version === card.version ? rows : []) },
        maxPixels: 1_000_000,
      });
      const user = await t.createUser({ role: 'admin' });
      const job = await runner.settled(service.start(user.id, 'signatures', { version: card.version }).id);
      assert.equal(job.status, 'succeeded', job.error ?? '');
      const result = job.result as { n: { genuine: number; forged: number }; far: number; frr: number; inconclusive: number; decisive: { far: number; frr: number }; curve: unknown[] };
      assert.deepEqual(result.n, { genuine: 4, forged: 4 });
      assert.equal(result.far, 25);
      assert.equal(result.frr, 25);
      assert.equal(result.inconclusive, 12.5);
      assert.deepEqual(result.decisive, { far: 0, frr: 25 });
      assert.equal(result.curve.length, 21);
      assert.deepEqual(service.ofVersion('signatures', card.version).map((j) => j.id), [job.id]);
    } finally {
      await t.close();
    }
  });
});

describe('training without Python and torch', () => {
  it('when the configured Python cannot import torch, then the page names the Debian packages, the start button is disabled and the API answers 503', async () => {
    const t = createTestApp({ env: { TRAINING_PYTHON: '/nonexistent/python3' } });
    try {
      const root = await t.createUser({ username: 'root', role: 'admin' });
      const agent = await signIn(t.app, root);
      const page = await agent.get('/admin/models/training').expect(200);
      assert.match(page.text, /Training is not available on this server/);
      assert.match(page.text, /python3-torch python3-torchvision python3-onnx/);
      assert.match(page.text, /<button type="submit" disabled>Start training<\/button>/);
      const res = await request(t.app).post('/api/v1/models/digits/training-jobs').set('Authorization', await bearerFor(t.app, root)).send({ epochs: 1 }).expect(503);
      assert.match(res.body.error.message, /python3-torch/);
      // The rest of the app is unaffected.
      await agent.get('/admin/models/digits/evaluations').expect(200);
    } finally {
      await t.close();
    }
  });
});
