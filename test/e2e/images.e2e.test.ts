import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import sharp from 'sharp';
import { loadBackgroundRemover, type BackgroundRemover } from '../../src/ml/index.js';
import { pngImage } from '../helpers/images.js';
import { shippedModelsDir } from '../helpers/ml-models.js';
import { browserMissing, dropFiles, refuseOnceAsRateLimited, serveInBrowser, signedInPage } from '../helpers/browser.js';
import { createTestApp, type TestApp } from '../helpers/test-app.js';

const missingBrowser = browserMissing('image library');

/** A signature-like stroke on greyish paper, as a phone would photograph it. */
const signaturePhoto = () =>
  sharp(Buffer.from('<svg width="480" height="240"><rect width="480" height="240" fill="#d8d4cc"/><path d="M40 170 C 120 30, 160 230, 240 120 S 380 60, 440 150" stroke="#1a237e" stroke-width="7" fill="none"/></svg>'))
    .jpeg({ quality: 90 })
    .toBuffer();

describe('image library in a real browser', { skip: missingBrowser }, () => {
  let t: TestApp;
  let browser: Browser;
  let background: BackgroundRemover;
  let base: string;
  let stop: () => Promise<void>;

  before(async () => {
    background = await loadBackgroundRemover({ modelsDir: shippedModelsDir, maxPixels: 50_000_000 });
    t = createTestApp({ background });
    ({ base, browser, stop } = await serveInBrowser(t, { camera: true }));
  });

  after(async () => {
    await stop?.();
    await background?.close();
  });

  it('when a user drops two files, takes a photo, removes a background and deletes an image, then each step shows its result', async () => {
    const user = await t.createUser({ username: 'iris' });
    const { context, page, problems } = await signedInPage(browser, base, user, '/images', { camera: true });
    assert.match(await page.locator('main').innerText(), /No images yet/);

    // 1. Drag and drop two files: each gets a progress row, then the gallery reloads with both.
    await dropFiles(page, '[data-dropzone]', [
      { name: 'signature.jpg', type: 'image/jpeg', bytes: await signaturePhoto() },
      { name: 'pattern.png', type: 'image/png', bytes: await pngImage(120, 90, 3) },
    ]);
    await page.waitForSelector('.gallery-item >> nth=1');
    const names = await page.locator('.gallery-name').allInnerTexts();
    assert.deepEqual(names.sort(), ['pattern.png', 'signature.jpg']);

    // 2. The camera: live preview, take a photo, keep it; it is stored and linked.
    await page.getByRole('button', { name: 'Take a photo' }).click();
    await page.getByRole('button', { name: 'Take photo' }).click();
    await page.getByRole('button', { name: 'Keep photo' }).click();
    await page.getByRole('link', { name: /^Stored: Camera / }).waitFor();
    await page.getByRole('link', { name: 'Images', exact: true }).first().click();
    assert.equal(await page.locator('.gallery-item').count(), 3);

    // 3. Background removal of the signature (document mode): the result opens beside its original.
    await page.getByRole('link', { name: 'signature.jpg' }).click();
    await page.getByLabel(/Ink on paper/).check();
    await page.getByRole('button', { name: 'Remove background' }).click();
    await page.waitForURL(/\/images\/\d+$/);
    assert.match(await page.locator('.flash-success').innerText(), /Saved signature \(background removed\)\.png; the original is unchanged/);
    assert.match(await page.locator('.compare').innerText(), /Original: signature\.jpg/);
    const loaded = await page.locator('.compare img').evaluateAll((imgs) => imgs.map((img) => (img as HTMLImageElement).naturalWidth));
    assert.deepEqual(loaded, [480, 480]);

    // 4. Delete an image, confirming on the page that lists it.
    await page.getByRole('button', { name: 'Delete…' }).click();
    await page.getByRole('button', { name: 'Delete image' }).click();
    await page.waitForURL(`${base}/images`);
    assert.match(await page.locator('.flash-success').innerText(), /The image has been deleted/);
    assert.equal(await page.locator('.gallery-item').count(), 3);

    assert.deepEqual(problems, [], 'no script errors or CSP violations');
    await context.close();
  });

  it('when the server answers an upload with 429 (the per-minute limit), then the row says it waits, and the file goes again by itself', async () => {
    const user = await t.createUser({ username: 'ivo' });
    const { context, page, problems } = await signedInPage(browser, base, user, '/images');
    // The server's own limit is tested over HTTP (test/http/uploads.test.ts).
    const refused = await refuseOnceAsRateLimited(page, '**/images');
    await dropFiles(page, '[data-dropzone]', [{ name: 'later.png', type: 'image/png', bytes: await pngImage(40, 30, 9) }]);
    await page.getByText('Waiting 1 s: too many uploads this minute. It will go on by itself.').waitFor();
    await page.waitForSelector('.gallery-item');
    assert.deepEqual(await page.locator('.gallery-name').allInnerTexts(), ['later.png']);
    assert.equal(refused(), 1);
    // Only the refused request's 429 may show in the console.
    assert.deepEqual(problems.filter((problem) => !/429/.test(problem)), [], 'no script errors or CSP violations');
    await context.close();
  });
});
