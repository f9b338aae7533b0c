#!/usr/bin/env node
// Follow a ticket's phone page in the system Chromium at a phone's size.
//
//   node tests/browser/phone.mjs --url http://127.0.0.1:PORT/t/TOKEN --ticket B001 \
//        --window 2号窗口 --screenshot /tmp/phone.png --timeout-ms 20000
//
// Prints a line as each step is seen, for the test to act on:
//   WAITING          the page shows --ticket waiting (large, no sideways scroll)
//   CALLED W V       called to window W, shown large; the phone vibrated V times
//   MISSED           过号, with how to be called again
//   RECOVERED        the network dropped (the page said so) and came back
//   CANCELLED        取消排队 confirmed on the page
//   GONE             a wrong token's page is a plain 404
// Exits 0 when all were seen, 1 on a timeout or a failure (the page's text
// and console errors go to stderr), 2 on bad arguments.
//
// Environment: CHROMIUM overrides the browser path (default /usr/bin/chromium).

import { parseArgs, out, launchChromium, newPage, describePage } from './lib.mjs';

const USAGE = `usage: node phone.mjs --url URL --ticket NO --window NAME
       [--screenshot FILE] [--timeout-ms MS]`;

let opts;
try {
  opts = parseArgs(process.argv.slice(2), {
    url: 'string', ticket: 'string', window: 'string', screenshot: 'string', 'timeout-ms': 'number',
  }, { url: null, ticket: null, window: null, screenshot: null, timeoutMs: 20000 }, USAGE);
  if (!opts.url || !opts.ticket || !opts.window) throw new Error('--url, --ticket and --window are required');
} catch (e) {
  console.error(`phone.mjs: ${e.message}\n${USAGE}`);
  process.exit(2);
}

const consoleLines = [];
let browser;
let page;
let phase = 'launch';

const waitState = (state) => page.waitForFunction(
  (s) => document.body && document.body.dataset.state === s,
  state,
  { timeout: opts.timeoutMs, polling: 50 },
);

const fontPx = (selector) => page.$eval(selector, (n) => parseFloat(getComputedStyle(n).fontSize));

async function main() {
  browser = await launchChromium(opts.timeoutMs);
  let context;
  // A phone: 390 × 844 CSS pixels, touch, its own scale.
  ({ context, page } = await newPage(browser, { width: 390, height: 844 }, consoleLines, {
    isMobile: true, hasTouch: true, deviceScaleFactor: 3,
  }));
  await page.addInitScript(() => {
    window.__vibrations = 0;
    Object.defineProperty(navigator, 'vibrate', {
      value: () => { window.__vibrations += 1; return true; },
    });
  });

  phase = 'load';
  await page.goto(opts.url, { waitUntil: 'domcontentloaded', timeout: opts.timeoutMs });
  phase = 'waiting';
  await waitState('waiting');
  const shown = (await page.textContent('#ticket-no')).trim();
  if (shown !== opts.ticket) throw new Error(`the page shows ${shown}, not ${opts.ticket}`);
  if (await fontPx('#ticket-no') < 48) throw new Error('the ticket number is not large');
  const sideways = await page.evaluate(() => document.documentElement.scrollWidth > innerWidth);
  if (sideways) throw new Error('the page scrolls sideways on a phone');
  await out('WAITING');

  phase = 'called';
  await waitState('called');
  await page.waitForSelector('#call:not([hidden])', { timeout: opts.timeoutMs });
  const win = (await page.textContent('#call-window')).trim();
  if (win !== opts.window) throw new Error(`called to ${win}, not ${opts.window}`);
  if (await fontPx('#call-window') < 40) throw new Error('the window is not shown large');
  const vibrations = await page.evaluate(() => window.__vibrations);
  if (opts.screenshot) await page.screenshot({ path: opts.screenshot });
  await out(`CALLED ${win} ${vibrations}`);

  phase = 'missed';
  await waitState('missed');
  const detail = await page.textContent('#detail');
  if (!detail.includes('重新叫号')) throw new Error(`a missed ticket's page says: ${detail}`);
  await out('MISSED');

  phase = 'network down and back';
  await context.setOffline(true);
  await page.evaluate(() => document.dispatchEvent(new Event('visibilitychange')));
  await page.waitForSelector('#conn:not([hidden])', { timeout: opts.timeoutMs });
  await context.setOffline(false);
  await page.evaluate(() => window.dispatchEvent(new Event('online')));
  await page.waitForSelector('#conn', { state: 'hidden', timeout: opts.timeoutMs });
  await out('RECOVERED');

  phase = 'give up';
  await page.click('#give-up');
  await page.click('#confirm-yes');
  await waitState('cancelled');
  await out('CANCELLED');

  phase = 'a wrong token';
  const wrong = new URL('000000000000000000', opts.url).href;
  const res = await page.goto(wrong, { waitUntil: 'domcontentloaded', timeout: opts.timeoutMs });
  if (res.status() !== 404) throw new Error(`a wrong token answered ${res.status()}`);
  const text = await page.textContent('body');
  if (!text.includes('号码不存在或已过期')) throw new Error(`a wrong token's page says: ${text}`);
  await out('GONE');

  // The page keeps to the content security policy: nothing was refused.
  const refused = consoleLines.filter((l) => /Content Security Policy|pageerror/.test(l));
  if (refused.length) throw new Error(`the page broke its policy:\n${refused.join('\n')}`);
}

main()
  .then(async () => {
    await browser.close();
    process.exit(0);
  })
  .catch(async (e) => {
    process.stderr.write(`phone.mjs: ${e.message} (phase: ${phase})\n`);
    process.stderr.write((await describePage(page)).join('\n') + '\n');
    process.stderr.write(consoleLines.join('\n') + '\n');
    if (browser) await browser.close();
    process.exit(1);
  });
