import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { pngImage } from '../helpers/images.js';
import { browserMissing, dropFiles, serveInBrowser, signedInPage } from '../helpers/browser.js';
import { createTestApp, type TestApp } from '../helpers/test-app.js';
import { parseCsv, readZipBuffer } from '../helpers/zip.js';

const missingBrowser = browserMissing('datasets');

describe('datasets in a real browser', { skip: missingBrowser }, () => {
  let t: TestApp;
  let browser: Browser;
  let base: string;
  let stop: () => Promise<void>;

  before(async () => {
    t = createTestApp();
    ({ base, browser, stop } = await serveInBrowser(t, { camera: true }));
  });

  after(async () => {
    await stop?.();
  });

  it('when a user makes a dataset, captures into two labels with the keyboard, drops a file, moves it and downloads, then the zip holds them', async () => {
    const user = await t.createUser({ username: 'ada' });
    const { context, page, problems } = await signedInPage(browser, base, user, '/datasets', { camera: true, acceptDownloads: true });
    assert.match(await page.locator('main').innerText(), /No datasets yet/);

    // 1. A dataset with three labels.
    await page.getByRole('button', { name: 'New dataset' }).click();
    await page.getByLabel('Name').fill('birds');
    await page.getByLabel('Labels').fill('robin\nwren\njay');
    await page.getByRole('button', { name: 'Create dataset' }).click();
    await page.waitForURL(/\/datasets\/\d+$/);
    const datasetUrl = page.url();

    // 2. Rapid capture: key 2 selects wren, the space bar takes a photo; key 3 selects jay, space again.
    await page.getByRole('button', { name: 'Capture with the camera' }).click();
    const shutter = page.getByRole('button', { name: 'Take photo' });
    await shutter.waitFor();
    await page.keyboard.press('2');
    assert.equal(await page.locator('[data-label-name="wren"]').getAttribute('aria-checked'), 'true');
    await page.keyboard.press('Space');
    await page.getByRole('link', { name: /^Stored in wren: capture / }).waitFor();
    await page.keyboard.press('3');
    await page.keyboard.press('Space');
    await page.getByRole('link', { name: /^Stored in jay: capture / }).waitFor();
    assert.equal(await page.locator('[data-label-name="wren"] [data-count]').innerText(), '1', 'the count updated live');
    assert.equal(await page.locator('[data-label-name="jay"] [data-count]').innerText(), '1');
    assert.equal(await page.locator('[data-label-name="robin"] [data-count]').innerText(), '0');

    // 3. Drag and drop a file into robin: a progress row, then the label's grid shows it.
    await page.goto(datasetUrl);
    await page.getByRole('link', { name: 'robin', exact: true }).click();
    await dropFiles(page, '[data-dropzone]', [{ name: 'robin-photo.png', type: 'image/png', bytes: await pngImage(120, 90, 950) }]);
    await page.waitForSelector('.gallery-item');
    assert.deepEqual(await page.locator('.gallery-name').allInnerTexts(), ['robin-photo.png']);

    // 4. Move it to wren.
    await page.getByLabel('Select robin-photo.png').check();
    await page.getByLabel('Label to move the selected images to').selectOption({ label: 'wren' });
    await page.getByRole('button', { name: 'Move', exact: true }).click();
    await page.waitForURL(/\/labels\/\d+$/);
    assert.match(await page.locator('.flash-success').innerText(), /Moved 1 image to wren/);

    // 5. Download the zip from the dataset page.
    await page.goto(datasetUrl);
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download birds_dataset.zip' }).click()]);
    assert.equal(download.suggestedFilename(), 'birds_dataset.zip');
    const entries = await readZipBuffer(readFileSync((await download.path())!));
    const files = entries.map((e) => e.name).filter((name) => !/README\.md|labels\.csv/.test(name)).sort();
    assert.equal(files.length, 3, files.join(', '));
    assert.ok(files.filter((name) => name.startsWith('birds/wren/')).length === 2 && files.some((name) => name === 'birds/wren/robin-photo.png'));
    assert.ok(files.some((name) => /^birds\/jay\/capture .*\.jpg$/.test(name)));
    const rows = parseCsv(entries.find((e) => e.name === 'birds/labels.csv')!.data.toString('utf8'));
    assert.deepEqual(rows.slice(1).map((r) => r[1]).sort(), ['jay', 'wren', 'wren']);

    assert.deepEqual(problems, [], 'no script errors or CSP violations');
    await context.close();
  });
});
