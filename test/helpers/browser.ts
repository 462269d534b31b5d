import { existsSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser } from 'playwright-core';
import type { TestApp } from './test-app.js';

/** Debian's Chromium, driven by playwright-core (no browser download). */
export const CHROMIUM = '/usr/bin/chromium';

/** Why browser tests cannot run here, or false: pass it as `skip` and print it. */
export const missingBrowser = existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (CI installs it; apt-get install chromium)`;

/** Serves a test app on a free loopback port and starts headless Chromium; `stop()` ends both and closes the app. */
export async function serveInBrowser(t: TestApp, extraArgs: string[] = []): Promise<{ base: string; browser: Browser; stop(): Promise<void> }> {
  const server = http.createServer(t.app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', ...extraArgs],
  });
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    browser,
    async stop() {
      await browser.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      t.close();
    },
  };
}
