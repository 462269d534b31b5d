import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Locator, Page } from 'playwright-core';
import { loadModels, type Models } from '../../src/ml/index.js';
import { signatureImage } from '../helpers/fake-signatures.js';
import { browserMissing, refuseOnceAsRateLimited, serveInBrowser, signedInPage } from '../helpers/browser.js';
import { shippedModelsDir } from '../helpers/ml-models.js';
import { createTestApp, type TestApp } from '../helpers/test-app.js';

const missingBrowser = browserMissing('signature verification');

/** A signature of three strokes, as a hand draws it with the mouse; `wobble` changes it a little each time. */
const STROKES = [
  [[0.06, 0.7], [0.14, 0.25], [0.2, 0.75], [0.28, 0.3], [0.36, 0.72], [0.42, 0.45]],
  [[0.45, 0.6], [0.55, 0.3], [0.6, 0.7], [0.7, 0.35], [0.8, 0.65], [0.92, 0.4]],
  [[0.12, 0.85], [0.5, 0.8], [0.9, 0.82]],
];

async function drawSignature(page: Page, canvas: Locator, wobble: number) {
  // The mouse works in the viewport: the pad must be on screen.
  await canvas.scrollIntoViewIfNeeded();
  const box = (await canvas.boundingBox())!;
  for (const stroke of STROKES) {
    const points = stroke.map(([x, y], i) => [box.x + (x! + wobble * 0.01 * Math.sin(i + wobble)) * box.width, box.y + (y! + wobble * 0.015 * Math.cos(i * wobble)) * box.height]);
    await page.mouse.move(points[0]![0]!, points[0]![1]!);
    await page.mouse.down();
    for (const [x, y] of points.slice(1)) await page.mouse.move(x!, y!, { steps: 6 });
    await page.mouse.up();
  }
}

describe('signature verification in a real browser', { skip: missingBrowser }, () => {
  let t: TestApp;
  let models: Models;
  let browser: Browser;
  let base: string;
  let stop: () => Promise<void>;

  before(async () => {
    models = await loadModels({ modelsDir: shippedModelsDir, maxPixels: 50_000_000, workers: 2 });
    t = createTestApp({ ml: models });
    ({ base, browser, stop } = await serveInBrowser(t, { camera: true }));
  });

  after(async () => {
    await stop?.();
    await models?.close();
  });

  it('when a user creates a signer, draws three references, uploads one, and verifies a drawn signature with a crop, then the result and the history show it', async () => {
    const user = await t.createUser({ username: 'notary' });
    const { context, page, problems } = await signedInPage(browser, base, user, '/signers', { viewport: { width: 1000, height: 900 } });
    assert.match(await page.locator('main').innerText(), /No signers yet/);

    // 1. A signer.
    await page.getByRole('button', { name: 'New signer' }).click();
    await page.getByLabel('Name').fill('Ada Lovelace');
    await page.getByLabel(/External reference/).fill('C-1815');
    await page.getByRole('button', { name: 'Add signer' }).click();
    await page.waitForURL(/\/signers\/\d+$/);
    assert.match(await page.locator('#verify').innerText(), /Verification needs at least 3 reference signatures/);

    // 2. Three references drawn on the pad; each is uploaded and the page reloads with it.
    for (let i = 1; i <= 3; i++) {
      await page.getByText('Draw on the signature pad').click();
      const pad = page.locator('[data-reference-draw] canvas');
      await drawSignature(page, pad, i);
      await Promise.all([page.waitForEvent('load'), page.getByRole('button', { name: 'Add this signature' }).click()]);
      await page.locator('.reference-card').nth(i - 1).waitFor();
    }

    // 3. One reference uploaded as a file.
    await Promise.all([page.waitForEvent('load'), page.locator('[data-file-input]').setInputFiles({ name: 'scan.png', mimeType: 'image/png', buffer: await signatureImage(20, 5) })]);
    await page.locator('.reference-card').nth(3).waitFor();
    assert.equal(await page.locator('.reference-card img.ink-map').count(), 4, 'each reference shows the ink map the model sees');

    // 4. A drawn questioned signature, cropped by dragging on its preview, then verified.
    await page.getByLabel('Draw it').check();
    const questionedPad = page.locator('[data-verify-panel="drawing"] canvas');
    await drawSignature(page, questionedPad, 2);
    const stage = page.locator('[data-crop-stage]');
    await stage.waitFor();
    await stage.scrollIntoViewIfNeeded();
    const preview = (await stage.boundingBox())!;
    await page.mouse.move(preview.x + preview.width * 0.02, preview.y + preview.height * 0.1);
    await page.mouse.down();
    await page.mouse.move(preview.x + preview.width * 0.97, preview.y + preview.height * 0.95, { steps: 8 });
    await page.mouse.up();
    const crop = await page.getByLabel(/^Crop/).inputValue();
    assert.match(crop, /^\d+,\d+,\d+,\d+$/, 'dragging filled in the crop');
    await page.getByRole('button', { name: 'Verify', exact: true }).click();
    await page.waitForURL(/\/signers\/\d+\/verifications\/\d+$/);

    const verdict = await page.locator('.verdict-label').innerText();
    assert.match(verdict, /^(Genuine|Forged|Inconclusive)$/);
    const details = await page.locator('.details').innerText();
    assert.match(details, new RegExp(`${crop} \\(x, y, width, height\\)`));
    assert.match(details, /Drawn on the pad/);
    assert.ok(details.includes(`signatures ${models.signatures.card.version}`), 'the model version is shown');
    assert.match(await page.locator('#gauge-text').innerText(), /^Score /);

    await page.getByRole('link', { name: 'Ada Lovelace' }).click();
    const history = page.locator('#history');
    assert.match(await history.innerText(), /History \(1\)/);
    assert.match(await history.locator('tbody').innerText(), new RegExp(verdict));

    assert.deepEqual(problems, [], 'no script errors or CSP violations');
    await context.close();
  });

  it('when a reference and a questioned signature are photographed with the camera, then both reach the server and get an answer', async () => {
    const user = await t.createUser({ username: 'clerk' });
    const { context, page, problems } = await signedInPage(browser, base, user, '/signers/new', { viewport: { width: 1000, height: 900 }, camera: true });
    await page.getByLabel('Name').fill('Grace Hopper');
    await page.getByRole('button', { name: 'Add signer' }).click();
    await page.waitForURL(/\/signers\/\d+$/);
    for (let i = 1; i <= 3; i++) {
      await Promise.all([page.waitForEvent('load'), page.locator('[data-file-input]').setInputFiles({ name: `scan${i}.png`, mimeType: 'image/png', buffer: await signatureImage(30, i) })]);
      await page.locator('.reference-card').nth(i - 1).waitFor();
    }

    // A reference photographed: the fake camera's frame (a moving pattern on a plain background) is sent as a JPEG.
    const camera = page.locator('[data-reference-camera]');
    await camera.locator('summary').click();
    await camera.getByRole('button', { name: 'Take photo' }).click();
    await Promise.all([page.waitForEvent('load'), camera.getByRole('button', { name: 'Add as reference' }).click()]);
    await page.locator('.reference-card').nth(3).waitFor();
    assert.match(await page.locator('.reference-card').nth(3).innerText(), /Camera/, 'the fourth reference came from the camera');

    // A questioned signature photographed, then verified against the four.
    await page.getByLabel('Take a photo').check();
    const verifyCamera = page.locator('[data-verify-camera]');
    await verifyCamera.getByRole('button', { name: 'Take photo' }).click();
    await verifyCamera.getByRole('button', { name: 'Use this photo' }).click();
    // Over the per-minute limit (its answer played once here), the form says so and the button waits out Retry-After.
    const refused = await refuseOnceAsRateLimited(page, '**/verifications');
    const verifyButton = page.getByRole('button', { name: 'Verify', exact: true });
    await verifyButton.click();
    await page.getByText('Too many changes and uploads. Try again in 1 second.').waitFor();
    assert.ok(await verifyButton.isDisabled(), 'the button waits out the limit');
    await verifyButton.click();
    await page.waitForURL(/\/signers\/\d+\/verifications\/\d+$/);
    assert.equal(refused(), 1);
    assert.match(await page.locator('.verdict-label').innerText(), /^(Genuine|Forged|Inconclusive)$/);
    assert.match(await page.locator('.details').innerText(), /Camera/);

    assert.deepEqual(problems.filter((problem) => !/429/.test(problem)), [], 'no script errors or CSP violations');
    await context.close();
  });
});
