import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { missingBrowser, serveInBrowser } from '../helpers/browser.js';
import { createTestApp, type TestApp } from '../helpers/test-app.js';

if (missingBrowser) console.log(`# skipping the administration browser test: ${missingBrowser}`);

/** Script errors and CSP violations, which Chromium reports on the console. */
function watchProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(err.message));
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(msg.text());
  });
  return problems;
}

describe('administration in a real browser', { skip: missingBrowser }, () => {
  let t: TestApp;
  let browser: Browser;
  let base: string;
  let stop: () => Promise<void>;

  before(async () => {
    // The production default: by invitation.
    t = createTestApp({ env: { REGISTRATION: 'invite' } });
    ({ base, browser, stop } = await serveInBrowser(t));
  });

  after(async () => {
    await stop?.();
  });

  it('when the server starts fresh, the admin sets it up, invites someone, and later resets their password, then each step works as a person sees it', async () => {
    const adminContext = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const adminPage = await adminContext.newPage();
    const adminProblems = watchProblems(adminPage);

    // 1. First start: the register page asks for the setup code from the log.
    await adminPage.goto(`${base}/login`);
    await adminPage.getByRole('link', { name: 'Create an account' }).click();
    assert.match(await adminPage.locator('main').innerText(), /setup code/);
    await adminPage.getByLabel('Setup code').fill('wrong-code-here');
    await adminPage.getByLabel('Administrator username').fill('root');
    await adminPage.getByLabel('Password', { exact: true }).fill('root has a long password');
    await adminPage.getByLabel('Repeat the password').fill('root has a long password');
    await adminPage.getByRole('button', { name: 'Create the administrator' }).click();
    assert.match(await adminPage.locator('#setupCode-error').innerText(), /not the setup code/);
    await adminPage.getByLabel('Setup code').fill(t.setupCode()!);
    await adminPage.getByLabel('Password', { exact: true }).fill('root has a long password');
    await adminPage.getByLabel('Repeat the password').fill('root has a long password');
    await adminPage.getByRole('button', { name: 'Create the administrator' }).click();
    await adminPage.waitForURL(`${base}/admin/registration`);
    assert.match(await adminPage.locator('.flash-success').innerText(), /You are the administrator/);

    // 2. An invitation link, shown once.
    await adminPage.getByLabel(/Note/).fill('for Vera');
    await adminPage.getByRole('button', { name: 'Create invitation link' }).click();
    const link = await adminPage.getByRole('textbox', { name: 'Invitation link' }).inputValue();
    assert.match(link, /\/register\?invite=/);

    // 3. The invited person registers in their own browser (a phone).
    const veraContext = await browser.newContext({ viewport: { width: 390, height: 844 } });
    const vera = await veraContext.newPage();
    const veraProblems = watchProblems(vera);
    await vera.goto(link);
    assert.match(await vera.locator('main').innerText(), /invited to this Inkwell server by root/);
    await vera.getByLabel('Username').fill('vera');
    await vera.getByLabel('Password', { exact: true }).fill('vera picks a passphrase');
    await vera.getByLabel('Repeat the password').fill('vera picks a passphrase');
    await vera.getByRole('button', { name: 'Create account' }).click();
    await vera.waitForURL(`${base}/`);
    assert.match(await vera.locator('.flash-success').innerText(), /Welcome, vera!/);
    await vera.getByRole('button', { name: 'Log out' }).click();
    await vera.waitForURL(`${base}/`);

    // 4. Vera forgot her password: the admin gives her a temporary one.
    await adminPage.getByRole('link', { name: 'Users', exact: true }).click();
    await adminPage.getByRole('link', { name: 'vera', exact: true }).click();
    await adminPage.getByLabel(/A temporary password/).check();
    await adminPage.getByRole('button', { name: 'Reset password' }).click();
    const temporary = await adminPage.getByLabel(/Temporary password/).inputValue();
    assert.match(temporary, /^[a-z2-9]{4}(-[a-z2-9]{4}){3}$/);

    // 5. At her next sign-in, from a page she wanted to see, she must choose her own first, and then gets there.
    await vera.goto(`${base}/account`);
    await vera.waitForURL(/\/login\?next=/);
    assert.match(await vera.locator('main').innerText(), /Please log in to see that page/);
    await vera.getByLabel('Username').fill('vera');
    await vera.getByLabel('Password').fill(temporary);
    await vera.getByRole('button', { name: 'Log in' }).click();
    await vera.waitForURL(/\/account\/new-password/);
    await vera.goto(`${base}/images`);
    await vera.waitForURL(/\/account\/new-password/);
    await vera.getByLabel('New password', { exact: true }).fill('vera remembers this one');
    await vera.getByLabel('Repeat the new password').fill('vera remembers this one');
    await vera.getByRole('button', { name: 'Set my password' }).click();
    await vera.waitForURL(`${base}/images`);
    assert.match(await vera.locator('.flash-success').innerText(), /new password is set/);

    // 6. The admin sees all of it on the security page, times in the viewer's zone.
    await adminPage.getByRole('link', { name: 'Security' }).click();
    const events = await adminPage.locator('#events-table').innerText();
    for (const action of ['setup.first_admin', 'invite.create', 'user.password_reset']) assert.match(events, new RegExp(action.replace('.', '\\.')));
    const time = adminPage.locator('#events-table time').first();
    assert.match(String(await time.getAttribute('title')), /^UTC: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);

    // The wrong setup code above answers 422 on purpose; anything else (a CSP violation, a script error) counts.
    const unexpected = (problems: string[]) => problems.filter((p) => !/status of 422/.test(p));
    assert.deepEqual(unexpected(adminProblems), [], 'no script errors or CSP violations for the admin');
    assert.deepEqual(unexpected(veraProblems), [], 'no script errors or CSP violations for vera');
    await veraContext.close();
    await adminContext.close();
  });
});
