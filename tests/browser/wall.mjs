#!/usr/bin/env node
// Drive a hallwatch display page in the system Chromium (never downloads a browser).
//
//   node tests/browser/wall.mjs --url http://127.0.0.1:PORT/wall.html?hall=HALL \
//        --expect B001 --screenshot /tmp/x.png --timeout-ms 20000
//
// 1. Opens --url and waits until <body data-state> equals --state (default "live",
//    i.e. the first snapshot has been drawn) and, on a page with a header clock
//    (#clock-time), until that clock shows a time and ticks; then prints the
//    line `READY`.
// 2. With --expect T: waits until the element --selector (default #latest-ticket)
//    shows exactly T, optionally also --expect-window W in --window-selector
//    (default #latest-window); then prints `SEEN T`.
//    With --expect-issuing TEXT: also waits until #issuing (the 停止取号 / lunch
//    strip) shows TEXT; with --expect-wait SERVICE: until that service's queue
//    shows an estimated wait (.q-wait). Then prints `ISSUING TEXT` / `WAIT W`.
// 3. Takes the screenshot (--screenshot FILE, full viewport --viewport WxH,
//    default 1920x1080) if asked, and exits 0.
// Each wait has up to --timeout-ms (default 20000). On a timeout or any failure
// the page's state, text and console errors go to stderr and the exit code is 1;
// bad arguments exit 2.
//
// Environment: CHROMIUM overrides the browser path (default /usr/bin/chromium).

import { parseArgs, out, launchChromium, newPage, describePage } from './lib.mjs';

const USAGE = `usage: node wall.mjs --url URL [--expect TICKET] [--expect-window NAME]
       [--screenshot FILE] [--timeout-ms MS] [--viewport 1920x1080]
       [--state live] [--selector #latest-ticket] [--window-selector #latest-window]`;

let opts;
try {
  opts = parseArgs(process.argv.slice(2), {
    url: 'string', expect: 'string', 'expect-window': 'string', screenshot: 'string',
    'timeout-ms': 'number', viewport: 'viewport', state: 'string', selector: 'string',
    'window-selector': 'string', 'expect-issuing': 'string', 'expect-wait': 'string',
  }, {
    expectIssuing: null,
    expectWait: null,
    url: null,
    expect: null,
    expectWindow: null,
    screenshot: null,
    timeoutMs: 20000,
    viewport: { width: 1920, height: 1080 },
    state: 'live',
    selector: '#latest-ticket',
    windowSelector: '#latest-window',
  }, USAGE);
  if (!opts.url) throw new Error('--url is required');
} catch (e) {
  console.error(`wall.mjs: ${e.message}\n${USAGE}`);
  process.exit(2);
}

const consoleLines = [];   // console errors and warnings, page errors, failed requests
let browser;
let page;
let phase = 'launch';

async function dumpPage(reason) {
  const lines = [`wall.mjs: ${reason} (phase: ${phase}, url: ${opts.url})`];
  lines.push(...await describePage(page));
  lines.push(consoleLines.length ? '--- console errors ---' : '(no console errors)');
  lines.push(...consoleLines);
  process.stderr.write(lines.join('\n') + '\n');
}

async function main() {
  browser = await launchChromium(opts.timeoutMs);
  ({ page } = await newPage(browser, opts.viewport, consoleLines));

  phase = 'load';
  await page.goto(opts.url, { waitUntil: 'domcontentloaded', timeout: opts.timeoutMs });

  phase = `wait for body[data-state="${opts.state}"]`;
  await page.waitForFunction(
    (s) => document.body && document.body.dataset.state === s,
    opts.state,
    { timeout: opts.timeoutMs, polling: 50 },
  );
  phase = 'wait for the header clock to tick';
  const shown = await page.evaluate(() => document.getElementById('clock-time')?.textContent ?? null);
  if (shown !== null) {
    await page.waitForFunction(
      (before) => {
        const t = document.getElementById('clock-time').textContent;
        return /^\d{2}:\d{2}:\d{2}$/.test(t) && t !== before;
      },
      shown,
      { timeout: opts.timeoutMs, polling: 50 },
    );
  }
  await out('READY');

  if (opts.expect !== null) {
    phase = `wait for ${opts.selector} = ${JSON.stringify(opts.expect)}` +
      (opts.expectWindow !== null ? ` and ${opts.windowSelector} = ${JSON.stringify(opts.expectWindow)}` : '');
    await page.waitForFunction(
      ([sel, want, wsel, wwant]) => {
        const t = document.querySelector(sel);
        if (!t || t.textContent.trim() !== want) return false;
        if (wwant === null) return true;
        const w = document.querySelector(wsel);
        return !!w && w.textContent.trim() === wwant;
      },
      [opts.selector, opts.expect, opts.windowSelector, opts.expectWindow],
      { timeout: opts.timeoutMs, polling: 50 },
    );
  }

  if (opts.expectIssuing !== null) {
    phase = `wait for #issuing = ${JSON.stringify(opts.expectIssuing)}`;
    await page.waitForFunction(
      (want) => {
        const n = document.getElementById('issuing');
        return !!n && !n.hidden && n.textContent.trim() === want;
      },
      opts.expectIssuing,
      { timeout: opts.timeoutMs, polling: 50 },
    );
  }
  let wait = null;
  if (opts.expectWait !== null) {
    phase = `wait for the estimated wait of ${opts.expectWait}`;
    const handle = await page.waitForFunction(
      (service) => {
        const n = document.querySelector(`.queue[data-service="${service}"] .q-wait`);
        return n && n.textContent.trim();
      },
      opts.expectWait,
      { timeout: opts.timeoutMs, polling: 50 },
    );
    wait = await handle.jsonValue();
  }

  if (opts.screenshot) {
    phase = 'screenshot';
    // Let the new-call highlight start so the picture shows what a citizen sees.
    await page.waitForTimeout(300);
    await page.screenshot({ path: opts.screenshot, timeout: opts.timeoutMs });
  }

  if (opts.expect !== null) await out(`SEEN ${opts.expect}`);
  if (opts.expectIssuing !== null) await out(`ISSUING ${opts.expectIssuing}`);
  if (wait !== null) await out(`WAIT ${wait}`);
  if (consoleLines.length) {
    process.stderr.write(`wall.mjs: note, the page logged:\n${consoleLines.join('\n')}\n`);
  }
}

let code = 0;
try {
  await main();
} catch (e) {
  code = 1;
  const reason = e && e.name === 'TimeoutError' ? 'timed out' : `failed: ${e && e.message ? e.message : e}`;
  await dumpPage(reason);
} finally {
  if (browser) await browser.close().catch(() => {});
}
process.exit(code);
