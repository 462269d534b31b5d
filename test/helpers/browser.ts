/** What the browser tests share: Debian's chromium driven by playwright-core, and files dropped as a user drops them. */
import { existsSync } from 'node:fs';
import { chromium, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** Why a browser suite must be skipped (printed once), or false when chromium is there. */
export function browserMissing(suite: string): string | false {
  if (existsSync(CHROMIUM)) return false;
  const reason = `${CHROMIUM} is not installed (CI installs it; apt-get install chromium)`;
  console.log(`# skipping the ${suite} browser test: ${reason}`);
  return reason;
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

/** Drops files on an element the way a user dragging them from the desktop does. */
export async function dropFiles(page: Page, selector: string, files: { name: string; type: string; bytes: Buffer }[]): Promise<void> {
  const transfer = await page.evaluateHandle((list) => {
    const data = new DataTransfer();
    for (const file of list) data.items.add(new File([Uint8Array.from(atob(file.base64), (c) => c.charCodeAt(0))], file.name, { type: file.type }));
    return data;
  }, files.map((file) => ({ name: file.name, type: file.type, base64: file.bytes.toString('base64') })));
  for (const type of ['dragenter', 'dragover', 'drop']) await page.dispatchEvent(selector, type, { dataTransfer: transfer });
}
