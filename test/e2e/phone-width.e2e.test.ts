import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import type { Browser, Page } from 'playwright-core';
import { bearerFor } from '../helpers/agent.js';
import { browserMissing, serveInBrowser, signedInPage } from '../helpers/browser.js';
import { createDataset, uploadTo } from '../helpers/datasets.js';
import { drawnDigitPng, shippedDigitModels } from '../helpers/digits.js';
import { signatureImage } from '../helpers/fake-signatures.js';
import { jpegImage } from '../helpers/images.js';
import { createTestApp, type TestApp } from '../helpers/test-app.js';

const missingBrowser = browserMissing('phone width');

/** The narrowest phone the pages are made for. */
const PHONE = { width: 360, height: 780 };

/** How far the page is wider than the screen (0: no sideways scrolling), and the outermost elements that stick out. */
async function overflowOf(page: Page): Promise<{ by: number; culprits: string[] }> {
  return page.evaluate(() => {
    const by = document.documentElement.scrollWidth - window.innerWidth;
    const outside = Array.from(document.querySelectorAll('body *')).filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1);
    const culprits = outside.filter((e) => !outside.includes(e.parentElement!)).map((e) => `<${e.tagName.toLowerCase()} class="${e.className}">`);
    return { by, culprits };
  });
}

describe('every page on a 360 px phone', { skip: missingBrowser }, () => {
  let t: TestApp;
  let models: Awaited<ReturnType<typeof shippedDigitModels>>;
  let browser: Browser;
  let base: string;
  let stop: () => Promise<void>;
  let user: { username: string; password: string };
  const pages: string[] = [];

  before(async () => {
    models = await shippedDigitModels();
    t = createTestApp({ ...models.deps });
    user = await t.createUser({ username: 'root', role: 'admin' });
    // Something on every page: an image, a signer with references and a verification, a prediction, a dataset.
    const auth = await bearerFor(t.app, user);
    const post = (route: string) => request(t.app).post(route).set('Authorization', auth);
    const image = await post('/api/v1/images').attach('images', await jpegImage(800, 600), 'holiday photo with a long name.jpg').expect(201);
    const signer = await post('/api/v1/signers').send({ name: 'Ada Lovelace-Montgomery', external_ref: 'CUSTOMER-000123456' }).expect(201);
    const references = post(`/api/v1/signers/${signer.body.id}/references`);
    for (const seed of [1, 2, 3, 4]) references.attach('images', await signatureImage(0, seed), `reference-${seed}.png`);
    await references.expect(201);
    const verification = await post(`/api/v1/signers/${signer.body.id}/verifications`).attach('image', await signatureImage(0, 9), 'cheque.png').expect(201);
    const prediction = await post('/api/v1/digits/predictions').attach('image', await drawnDigitPng(3), 'three.png').expect(201);
    const dataset = await createDataset(t.app, auth, 'pen digits', ['0', '1', '2']);
    for (let d = 0; d < 3; d++) await uploadTo(t.app, auth, dataset.id, String(d), [[await drawnDigitPng(d), `${d}.png`]]);
    const s = `/signers/${signer.body.id}`;
    const d = `/datasets/${dataset.id}`;
    pages.push(
      '/', '/account', '/account/delete',
      '/images', `/images/${image.body.items[0].id}`, '/images/capture',
      '/signers', '/signers/new', s, `${s}/edit`, `${s}/delete`, `${s}/library`, `${s}/verifications/${verification.body.id}`,
      '/digits', '/digits/upload', '/digits/history', '/digits/analytics', `/digits/predictions/${prediction.body.id}`,
      '/datasets', '/datasets/new', '/datasets/import', d, `${d}/edit`, `${d}/capture`, `${d}/library`, `${d}/labels/${dataset.labels[0]!.id}`,
      '/admin', '/admin/users', '/admin/requests', '/admin/events', '/admin/registration',
      '/admin/models', '/admin/models/digits/evaluations', '/admin/models/signatures/evaluations', '/admin/models/training',
    );
    ({ base, browser, stop } = await serveInBrowser(t));
  });

  after(async () => {
    await stop?.();
    await models?.close();
  });

  it('when a signed-in administrator opens each page at 360 px, then none scrolls sideways and none reports a script or CSP error', async () => {
    const { context, page, problems } = await signedInPage(browser, base, user, '/', { viewport: PHONE });
    const faults: string[] = [];
    for (const path of pages) {
      problems.length = 0;
      const response = await page.goto(`${base}${path}`);
      assert.equal(response?.status(), 200, path);
      const { by, culprits } = await overflowOf(page);
      if (by > 0) faults.push(`${path}: ${by} px too wide (${culprits.join(', ')})`);
      if (problems.length) faults.push(`${path}: ${problems.join('; ')}`);
    }
    await context.close();
    assert.deepEqual(faults, []);
  });

  it('when someone not signed in opens the sign-in, registration and a missing page at 360 px, then none scrolls sideways', async () => {
    const context = await browser.newContext({ viewport: PHONE });
    const page = await context.newPage();
    const faults: string[] = [];
    for (const path of ['/login', '/register', '/no-such-page']) {
      await page.goto(`${base}${path}`);
      const { by, culprits } = await overflowOf(page);
      if (by > 0) faults.push(`${path}: ${by} px too wide (${culprits.join(', ')})`);
    }
    await context.close();
    assert.deepEqual(faults, []);
  });
});
