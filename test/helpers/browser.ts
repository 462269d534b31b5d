/** What the browser tests share: Debian's chromium driven by playwright-core (no browser download), and files dropped as a user drops them. */
import { existsSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import type { TestApp } from './test-app.js';

export const CHROMIUM = '/usr/bin/chromium';

/** Why browser tests cannot run here, or false: pass it as `skip` and print it. */
export const missingBrowser = existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (CI installs it; apt-get install chromium)`;

/** Why a browser suite must be skipped (printed once), or false when chromium is there. */
export function browserMissing(suite: string): string | false {
  if (missingBrowser) console.log(`# skipping the ${suite} browser test: ${missingBrowser}`);
  return missingBrowser;
}

/** Headless chromium with nothing fetched from the network; `camera` adds the fake camera that needs no prompt. */
export const launchChromium = ({ camera = false } = {}) =>
  chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run',
      ...(camera ? ['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'] : []),
    ],
  });

/**
 * Serves a test app on a free loopback port and starts headless Chromium (`camera` adds the fake camera);
 * `stop()` ends both and closes the app.
 */
export async function serveInBrowser(t: TestApp, { camera = false } = {}): Promise<{ base: string; browser: Browser; stop(): Promise<void> }> {
  const server = http.createServer(t.app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const browser = await launchChromium({ camera });
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    browser,
    async stop() {
      await browser.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await t.close();
    },
  };
}

/**
 * A new browser context signed in as `user` through the login form and left on `next`. `problems` collects script
 * errors and console errors (CSP violations among them), for a test to assert there were none. `camera` grants the
 * fake camera: http://127.0.0.1 is a secure context, so getUserMedia is allowed.
 */
export async function signedInPage(
  browser: Browser,
  base: string,
  user: { username: string; password: string },
  next: string,
  { viewport = { width: 390, height: 844 }, camera = false, acceptDownloads = false } = {},
): Promise<{ context: BrowserContext; page: Page; problems: string[] }> {
  const context = await browser.newContext({ viewport, acceptDownloads });
  if (camera) await context.grantPermissions(['camera'], { origin: base });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(err.message));
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(msg.text());
  });
  await page.goto(`${base}/login?next=${encodeURIComponent(next)}`);
  await page.getByLabel('Username').fill(user.username);
  await page.getByLabel('Password').fill(user.password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.waitForURL(`${base}${next}`);
  return { context, page, problems };
}

/** Drops files on an element the way a user dragging them from the desktop does. */
export async function dropFiles(page: Page, selector: string, files: { name: string; type: string; bytes: Buffer }[]): Promise<void> {
  const transfer = await page.evaluateHandle((list) => {
    const data = new DataTransfer();
    for (const file of list) data.items.add(new File([Uint8Array.from(atob(file.base64), (c) => c.charCodeAt(0))], file.name, { type: file.type }));
    return data;
  }, files.map((file) => ({ name: file.name, type: file.type, base64: file.bytes.toString('base64') })));
  for (const type of ['dragenter', 'dragover', 'drop']) await page.dispatchEvent(selector, type, { dataTransfer: transfer });
}

/**
 * Answers the first POST to `url` (a glob) as the per-minute limit does: 429, Retry-After 1, the JSON error; later
 * requests reach the server. The limit itself is tested over HTTP; this plays its answer to a page's script.
 * Gives the number of requests refused so far.
 */
export async function refuseOnceAsRateLimited(page: Page, url: string): Promise<() => number> {
  let refused = 0;
  await page.route(url, (route) => {
    if (route.request().method() !== 'POST' || refused > 0) return route.continue();
    refused++;
    return route.fulfill({
      status: 429,
      headers: { 'Retry-After': '1', 'Content-Type': 'application/json' },
      body: JSON.stringify({ error: { code: 'too_many_requests', message: 'Too many changes and uploads. Try again in 1 second.' } }),
    });
  });
  return () => refused;
}
