#!/usr/bin/env node
// A wall screen that follows its hall through a failover, in the system Chromium.
//
//   node tests/browser/follow.mjs --url http://127.0.0.1:PORT/wall.html?hall=HALL \
//        --before B001 --after B002 --timeout-ms 30000
//
// 1. Opens --url and waits until <body data-state> is "live": prints `READY`.
// 2. Waits until #latest-ticket shows --before: prints `SEEN B001`.
// 3. Waits until the page notices it lost its server (data-state leaves
//    "live"): prints `LOST`; then until it is live again by itself: prints
//    `LIVE` and the ticket the fresh snapshot shows, as `SHOWS B001`.
// 4. Waits until #latest-ticket shows --after: prints `SEEN B002`, exits 0.
// Each wait has up to --timeout-ms. On a timeout or any failure the page's
// state, text and console errors go to stderr and the exit code is 1; bad
// arguments exit 2.
//
// Environment: CHROMIUM overrides the browser path (default /usr/bin/chromium).

import { parseArgs, out, launchChromium, newPage, describePage } from './lib.mjs';

const USAGE = 'usage: node follow.mjs --url URL --before TICKET --after TICKET [--timeout-ms MS]';

let opts;
try {
  opts = parseArgs(process.argv.slice(2), {
    url: 'string', before: 'string', after: 'string', 'timeout-ms': 'number',
  }, { url: null, before: null, after: null, timeoutMs: 30000 }, USAGE);
  if (!opts.url || !opts.before || !opts.after) throw new Error('--url, --before and --after are required');
} catch (e) {
  console.error(`follow.mjs: ${e.message}\n${USAGE}`);
  process.exit(2);
}

const consoleLines = [];
let browser;
let page;
let phase = 'launch';

const shows = (want) => page.waitForFunction(
  (w) => document.querySelector('#latest-ticket')?.textContent.trim() === w,
  want,
  { timeout: opts.timeoutMs, polling: 50 },
);

async function main() {
  browser = await launchChromium(opts.timeoutMs);
  // The lost connection logs errors by design; only the final state counts.
  ({ page } = await newPage(browser, { width: 1920, height: 1080 }, consoleLines));
  phase = 'load';
  await page.goto(opts.url, { waitUntil: 'domcontentloaded', timeout: opts.timeoutMs });
  phase = 'wait for the first snapshot';
  await page.waitForFunction(() => document.body?.dataset.state === 'live', null,
    { timeout: opts.timeoutMs, polling: 50 });
  await out('READY');
  phase = `wait for ${opts.before}`;
  await shows(opts.before);
  await out(`SEEN ${opts.before}`);
  phase = 'wait for the page to notice its server is gone';
  await page.waitForFunction(() => document.body.dataset.state !== 'live', null,
    { timeout: opts.timeoutMs, polling: 20 });
  await out('LOST');
  phase = 'wait for the page to be live again by itself';
  await page.waitForFunction(() => document.body.dataset.state === 'live', null,
    { timeout: opts.timeoutMs, polling: 50 });
  await out('LIVE');
  const latest = await page.evaluate(() => document.querySelector('#latest-ticket')?.textContent.trim() ?? '');
  await out(`SHOWS ${latest}`);
  phase = `wait for ${opts.after}`;
  await shows(opts.after);
  await out(`SEEN ${opts.after}`);
}

try {
  await main();
  await browser.close();
  process.exit(0);
} catch (e) {
  const lines = [`follow.mjs: ${e.message} (phase: ${phase}, url: ${opts.url})`];
  if (page) lines.push(...await describePage(page));
  lines.push(...consoleLines);
  process.stderr.write(lines.join('\n') + '\n');
  if (browser) await browser.close().catch(() => {});
  process.exit(1);
}
