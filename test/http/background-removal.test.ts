import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import multer from 'multer';
import express from 'express';
import request from 'supertest';
import { bearerFor, csrfToken, signIn } from '../helpers/agent.js';
import { fakeBackgroundRemover } from '../helpers/fake-background.js';
import { jpegImage, pngImage } from '../helpers/images.js';
import { createTestApp, type TestApp } from '../helpers/test-app.js';

const API_KEY = 'test-remove-bg-key-5f2c9a';

/**
 * Local stand-ins for the external services (the tests never reach the internet): a rembg server and remove.bg.
 * `behaviour` says how the next request is answered.
 */
async function startStub() {
  const received: { path: string; field: string; bytes: number; apiKey: string | undefined }[] = [];
  let behaviour: 'ok' | 'no-credits' | 'bad-key' | 'slow' | 'not-png' = 'ok';
  const cutout = await pngImage(40, 30, 99);
  const app = express();
  const upload = multer({ storage: multer.memoryStorage() });
  app.post(['/api/remove', '/v1.0/removebg'], upload.any(), async (req, res) => {
    const file = (req.files as Express.Multer.File[])[0]!;
    received.push({ path: req.path, field: file.fieldname, bytes: file.size, apiKey: req.get('x-api-key') });
    if (behaviour === 'slow') await new Promise((resolve) => setTimeout(resolve, 2500));
    if (behaviour === 'no-credits') return res.status(402).json({ errors: [{ title: 'Insufficient credits', code: 'insufficient_credits' }] });
    if (behaviour === 'bad-key') return res.status(403).json({ errors: [{ title: 'API Key invalid', code: 'auth_failed' }] });
    if (behaviour === 'not-png') return res.type('html').send('<html>oops</html>');
    res.type('png').send(cutout);
  });
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    set: (next: typeof behaviour) => (behaviour = next),
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(resolve);
    }),
  };
}

describe('background removal through the API and pages', () => {
  let stub: Awaited<ReturnType<typeof startStub>>;
  let t: TestApp;
  let auth: string;
  let imageId: number;
  let user: { username: string; password: string };
  const fake = fakeBackgroundRemover();

  before(async () => {
    stub = await startStub();
    t = createTestApp({
      env: { REMBG_URL: stub.url, REMOVE_BG_API_KEY: API_KEY, REMOVE_BG_URL: `${stub.url}/v1.0/removebg`, BACKGROUND_PROVIDER_TIMEOUT_S: '1' },
      background: fake.remover,
    });
    user = await t.createUser();
    auth = await bearerFor(t.app, user);
    const res = await request(t.app).post('/api/v1/images').set('Authorization', auth).attach('images', await jpegImage(40, 30, 5), 'product.jpg').expect(201);
    imageId = res.body.items[0].id;
  });
  after(async () => {
    t.close();
    await stub.close();
  });

  const removeBackground = (body: object) => request(t.app).post(`/api/v1/images/${imageId}/background-removal`).set('Authorization', auth).send(body);

  it('when the built-in method is asked, then 201 answers a new PNG image derived from the original, which is unchanged', async () => {
    const before = await request(t.app).get(`/api/v1/images/${imageId}`).set('Authorization', auth).expect(200);
    const res = await removeBackground({ mode: 'document', output: 'transparent', strength: 70, ink: 'blue' }).expect(201);
    assert.equal(res.body.type, 'image/png');
    assert.equal(res.body.derived_from, imageId);
    assert.equal(res.body.source, 'background_removal');
    assert.match(res.body.name, /^product \(background removed\)\.png$/);
    assert.deepEqual(
      { mode: res.body.derivation.mode, provider: res.body.derivation.provider, strength: res.body.derivation.strength, ink: res.body.derivation.ink },
      { mode: 'document', provider: 'builtin', strength: 70, ink: 'blue' },
    );
    assert.deepEqual(fake.calls.at(-1), { kind: 'remove', options: { mode: 'document', output: 'transparent', color: undefined, strength: 70, ink: 'blue' } });
    const after = await request(t.app).get(`/api/v1/images/${imageId}`).set('Authorization', auth).expect(200);
    assert.deepEqual(after.body, before.body);
  });

  it('when the options are invalid, then 422 names the field', async () => {
    const res = await removeBackground({ mode: 'magic', output: 'color', color: 'red' }).expect(422);
    assert.ok(res.body.error.fields.mode);
    assert.ok(res.body.error.fields.color);
  });

  it('when the rembg server is chosen, then the image is POSTed to {base}/api/remove as multipart field "file" and its cut-out is used', async () => {
    stub.set('ok');
    const res = await removeBackground({ mode: 'photo', output: 'color', color: '#00FF00', provider: 'rembg' }).expect(201);
    assert.deepEqual(stub.received.at(-1)?.path, '/api/remove');
    assert.equal(stub.received.at(-1)?.field, 'file');
    assert.equal(res.body.derivation.provider, 'rembg');
    assert.equal(res.body.derivation.notice, undefined);
    assert.deepEqual(fake.calls.at(-1), { kind: 'fromCutout', options: { output: 'color', color: '#00ff00' } });
  });

  it('when remove.bg is chosen, then it gets the key in X-Api-Key and the file as image_file', async () => {
    stub.set('ok');
    const res = await removeBackground({ mode: 'photo', output: 'transparent', provider: 'remove.bg' }).expect(201);
    assert.equal(stub.received.at(-1)?.path, '/v1.0/removebg');
    assert.equal(stub.received.at(-1)?.field, 'image_file');
    assert.equal(stub.received.at(-1)?.apiKey, API_KEY);
    assert.equal(res.body.derivation.provider, 'remove.bg');
  });

  const fallbacks: [string, Parameters<typeof stub.set>[0], 'remove.bg' | 'rembg', RegExp][] = [
    ['remove.bg has no credits left', 'no-credits', 'remove.bg', /no credits left \(Insufficient credits\)/],
    ['remove.bg refuses the key', 'bad-key', 'remove.bg', /refused our credentials.*REMOVE_BG_API_KEY/],
    ['the provider does not answer in time', 'slow', 'rembg', /did not answer within 1 seconds/],
    ['the provider sends something that is not a PNG', 'not-png', 'rembg', /did not send back a PNG/],
  ];
  for (const [what, behaviour, provider, notice] of fallbacks) {
    it(`when ${what}, then the built-in method is used and the notice says why, without the key`, async () => {
      stub.set(behaviour);
      const res = await removeBackground({ mode: 'photo', output: 'transparent', provider }).expect(201);
      assert.equal(res.body.derivation.provider, 'builtin');
      assert.match(res.body.derivation.notice, notice);
      assert.match(res.body.derivation.notice, /The built-in method was used instead\./);
      assert.equal(fake.calls.at(-1)?.kind, 'remove');
      assert.ok(!JSON.stringify(res.body).includes(API_KEY));
    });
  }

  it('when the provider cannot be reached, then the notice says so and the built-in method is used', async () => {
    const offline = createTestApp({ env: { REMBG_URL: 'http://127.0.0.1:9' }, background: fake.remover });
    try {
      const u = await offline.createUser();
      const token = await bearerFor(offline.app, u);
      const img = (await request(offline.app).post('/api/v1/images').set('Authorization', token).attach('images', await pngImage(20, 20, 6), 'x.png').expect(201)).body.items[0];
      const res = await request(offline.app).post(`/api/v1/images/${img.id}/background-removal`).set('Authorization', token).send({ mode: 'photo', provider: 'rembg' }).expect(201);
      assert.match(res.body.derivation.notice, /could not be reached/);
      const notConfigured = await request(offline.app).post(`/api/v1/images/${img.id}/background-removal`).set('Authorization', token).send({ mode: 'photo', provider: 'remove.bg' }).expect(422);
      assert.match(notConfigured.body.error.message, /remove\.bg is not configured/);
    } finally {
      offline.close();
    }
  });

  it('when a provider is asked for document mode, then 422: documents are always done on this server', async () => {
    const res = await removeBackground({ mode: 'document', provider: 'remove.bg' }).expect(422);
    assert.match(res.body.error.message, /photo mode only/);
  });

  it('when the image page offers the configured providers, then it warns that the image leaves the server and never shows the key', async () => {
    const agent = await signIn(t.app, user);
    const page = await agent.get(`/images/${imageId}`).expect(200);
    assert.match(page.text, /<option value="remove.bg"/);
    assert.match(page.text, /<option value="rembg"/);
    assert.match(page.text, /leaves this server/);
    assert.ok(!page.text.includes(API_KEY));
  });

  it('when the form on the image page is sent, then the browser lands on the new image, shown beside its original with a fallback notice', async () => {
    stub.set('no-credits');
    const agent = await signIn(t.app, user);
    const token = await csrfToken(agent, `/images/${imageId}`);
    const res = await agent.post(`/images/${imageId}/background-removal`).type('form').send({ _csrf: token, mode: 'photo', output: 'transparent', provider: 'remove.bg' }).expect(302);
    const page = await agent.get(res.headers.location!).expect(200);
    assert.match(page.text, /Original: <a href="\/images\/\d+">product\.jpg<\/a>/);
    assert.match(page.text, /no credits left/);
    assert.match(page.text, /the original is unchanged/);
  });
});

describe('background removal without its model', () => {
  it('when the remover is not loaded, then the API answers 503 and the page says it is not available', async () => {
    const t = createTestApp();
    try {
      const user = await t.createUser();
      const token = await bearerFor(t.app, user);
      const img = (await request(t.app).post('/api/v1/images').set('Authorization', token).attach('images', await pngImage(20, 20, 7), 'x.png').expect(201)).body.items[0];
      await request(t.app).post(`/api/v1/images/${img.id}/background-removal`).set('Authorization', token).send({ mode: 'document' }).expect(503);
      const agent = await signIn(t.app, user);
      assert.match((await agent.get(`/images/${img.id}`)).text, /not available on this server/);
    } finally {
      t.close();
    }
  });
});
