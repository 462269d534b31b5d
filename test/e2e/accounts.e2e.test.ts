import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { createTestApp, type TestApp } from '../helpers/test-app.js';

const CHROMIUM = '/usr/bin/chromium';
const missingBrowser = existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (CI installs it; apt-get install chromium)`;
if (missingBrowser) console.log(`# skipping the accounts browser test: ${missingBrowser}`);

describe('accounts in a real browser', { skip: missingBrowser }, () => {
  let t: TestApp;
  let server: http.Server;
  let browser: Browser;
  let base: string;

  before(async () => {
    t = createTestApp();
    server = http.createServer(t.app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
    });
  });

  after(async () => {
    await browser?.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    t.close();
  });

  it('when someone registers, logs out and logs in again, then each page shows where they are', async () => {
    const page = await browser.newPage();
    const scriptErrors: string[] = [];
    page.on('pageerror', (err) => scriptErrors.push(err.message));
    page.on('console', (msg) => {
      // The wrong-password attempt below answers 401 on purpose; anything else (a CSP violation, say) counts.
      if (msg.type() === 'error' && !/status of 401/.test(msg.text())) scriptErrors.push(msg.text());
    });

    await page.goto(`${base}/register`);
    // A fresh server has no administrator: the first person needs the setup code from the server's log.
    await page.getByLabel('Setup code').fill(t.setupCode()!);
    await page.getByLabel('Administrator username').fill('Wendy');
    await page.getByLabel('Password', { exact: true }).fill('correct horse battery');
    await page.getByLabel('Repeat the password').fill('correct horse battery');
    await page.getByRole('button', { name: 'Create the administrator' }).click();

    await page.waitForURL(`${base}/admin/registration`);
    assert.match(await page.locator('.flash-success').innerText(), /Welcome, wendy!/);
    assert.equal(await page.getByRole('link', { name: 'wendy' }).count(), 1);

    await page.getByRole('button', { name: 'Log out' }).click();
    await page.waitForURL(`${base}/`);
    assert.match(await page.locator('.flash-success').innerText(), /signed out/);
    assert.equal(await page.getByRole('button', { name: 'Log out' }).count(), 0);

    await page.getByRole('link', { name: 'Log in', exact: true }).first().click();
    await page.waitForURL(`${base}/login`);
    await page.getByLabel('Username').fill('wendy');
    await page.getByLabel('Password').fill('wrong password!');
    await page.getByRole('button', { name: 'Log in' }).click();
    assert.match(await page.getByRole('alert').innerText(), /Incorrect username or password/);

    await page.getByLabel('Password').fill('correct horse battery');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForURL(`${base}/`);
    assert.match(await page.locator('.flash-success').innerText(), /Signed in as wendy/);

    assert.deepEqual(scriptErrors, []);
    await page.close();
  });

  it('when deleting an account, then the page script asks first and cancelling keeps the account', async () => {
    const page = await browser.newPage();
    await page.goto(`${base}/register`);
    await page.getByLabel('Username').fill('xavier');
    await page.getByLabel('Password', { exact: true }).fill('correct horse battery');
    await page.getByLabel('Repeat the password').fill('correct horse battery');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.waitForURL(`${base}/`);

    await page.goto(`${base}/account`);
    await page.getByRole('button', { name: /Delete my account/ }).click();
    await page.waitForURL(`${base}/account/delete`);
    await page.getByLabel('Type your password to confirm').fill('correct horse battery');

    const dialogs: string[] = [];
    page.once('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    await page.getByRole('button', { name: 'Delete my account' }).click();
    await page.waitForTimeout(200);
    assert.equal(dialogs.length, 1, 'public/js/account.js should ask for confirmation');
    assert.equal(page.url(), `${base}/account/delete`);
    assert.ok(t.db.prepare("SELECT 1 FROM users WHERE username = 'xavier'").get());

    page.once('dialog', (dialog) => void dialog.accept());
    await page.getByRole('button', { name: 'Delete my account' }).click();
    await page.waitForURL(`${base}/`);
    assert.match(await page.locator('.flash-success').innerText(), /deleted/);
    assert.equal(t.db.prepare("SELECT 1 FROM users WHERE username = 'xavier'").get(), undefined);
    await page.close();
  });
});
