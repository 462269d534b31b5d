import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { browserMissing, refuseOnceAsRateLimited, serveInBrowser, signedInPage } from '../helpers/browser.js';
import { shippedDigitModels } from '../helpers/digits.js';
import { createTestApp, type TestApp } from '../helpers/test-app.js';

const missingBrowser = browserMissing('digit recognition');

/** Strokes in the canvas's own 280x280 coordinates, as a hand would draw them. */
const THREE = [
  [[85, 75], [115, 48], [160, 45], [192, 72], [185, 110], [150, 135], [125, 138]],
  [[150, 135], [190, 155], [200, 195], [178, 228], [135, 240], [90, 222]],
];
const SEVEN = [
  [[70, 60], [140, 58], [212, 60], [170, 140], [125, 235]],
];

/** Draws the strokes with pointer events (mouse down, moves, up), scaled to the canvas's size on the page. */
async function draw(page: Page, strokes: number[][][]) {
  const box = (await page.locator('[data-pad-canvas]').boundingBox())!;
  const at = ([x, y]: number[]) => [box.x + (x! / 280) * box.width, box.y + (y! / 280) * box.height] as const;
  for (const stroke of strokes) {
    await page.mouse.move(...at(stroke[0]!));
    await page.mouse.down();
    for (const point of stroke.slice(1)) await page.mouse.move(...at(point), { steps: 6 });
    await page.mouse.up();
  }
}

async function readResult(page: Page, digit: string) {
  await page.locator('[data-result-digit]', { hasText: digit }).waitFor();
  const seen = await page.locator('[data-result-input]').evaluate((img) => [(img as HTMLImageElement).naturalWidth, (img as HTMLImageElement).naturalHeight, (img as HTMLImageElement).src.slice(0, 22)]);
  assert.deepEqual(seen, [28, 28, 'data:image/png;base64,'], 'the 28x28 image the model saw is shown');
}

describe('digit recognition in a real browser', { skip: missingBrowser }, () => {
  let models: Awaited<ReturnType<typeof shippedDigitModels>>;
  let t: TestApp;
  let browser: Browser;
  let base: string;
  let stop: () => Promise<void>;

  before(async () => {
    models = await shippedDigitModels();
    t = createTestApp({ ...models.deps });
    ({ base, browser, stop } = await serveInBrowser(t));
  });

  after(async () => {
    await stop?.();
    await models?.close();
  });

  it('when a 3 and a 7 are drawn with the pointer, then each is read with its 28x28 view; a correction shows in the history and the analytics', async () => {
    const user = await t.createUser({ username: 'dana' });
    const { context, page, problems } = await signedInPage(browser, base, user, '/digits');
    assert.match(await page.locator('[data-draw-message]').innerText(), /Draw a digit/);
    assert.equal(await page.locator('[data-pad-canvas]').evaluate((canvas) => getComputedStyle(canvas).touchAction), 'none');

    // 1. A 3, in two strokes: read after the pen lifts.
    await draw(page, THREE);
    await readResult(page, '3');
    const probabilities = await page.locator('[data-result-probabilities] progress').evaluateAll((bars) => bars.map((bar) => (bar as HTMLProgressElement).value));
    assert.equal(probabilities.length, 10);
    assert.ok(probabilities[3]! > 0.5);

    // 2. Clear (a new drawing), then a 7; correct it to a 1 with the keyboard-reachable buttons.
    await page.getByRole('button', { name: 'Clear' }).click();
    assert.match(await page.locator('[data-draw-message]').innerText(), /Draw a digit/);
    await draw(page, SEVEN);
    await readResult(page, '7');
    await page.locator('[data-draw-correction]').getByRole('button', { name: '1', exact: true }).click();
    await page.locator('[data-draw-correction] [data-correction-status]', { hasText: 'Reviewed: it is a 1.' }).waitFor();

    // 3. The history lists both drawings, the 7 corrected.
    await page.getByRole('link', { name: 'History', exact: true }).click();
    await page.waitForURL(`${base}/digits/history`);
    const rows = await page.locator('.history-table tbody tr').allInnerTexts();
    assert.equal(rows.length, 2);
    assert.match(rows[0]!, /7[\s\S]*it is a 1/);
    assert.match(rows[1]!, /3[\s\S]*–/);

    // 4. The analytics count the correction: a true 1 read as a 7.
    await page.getByRole('link', { name: 'Analytics', exact: true }).click();
    await page.waitForURL(`${base}/digits/analytics`);
    assert.equal(await page.locator('#confusion-matrix tr[data-label="1"] td').nth(7).innerText(), '1');
    assert.match(await page.locator('[data-stat="accuracy"]').innerText(), /0\.0%/);
    assert.ok(await page.locator('#digits-per-day').isVisible(), 'the chart is drawn');

    assert.deepEqual(problems, [], 'no script errors or CSP violations');
    await context.close();
  });

  it('when the server answers a reading with 429 (the per-minute limit), then the page says so and reads the drawing by itself after the wait', async () => {
    const user = await t.createUser({ username: 'eli' });
    const { context, page, problems } = await signedInPage(browser, base, user, '/digits');
    const refused = await refuseOnceAsRateLimited(page, '**/digits/predictions');
    await draw(page, THREE);
    await page.getByText('Too many readings this minute: this drawing will be read in 1 s.').waitFor();
    await readResult(page, '3');
    assert.equal(refused(), 1);
    assert.deepEqual(problems.filter((problem) => !/429/.test(problem)), [], 'no script errors or CSP violations');
    await context.close();
  });
});
