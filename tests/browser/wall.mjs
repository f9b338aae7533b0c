#!/usr/bin/env node
// Drive a hallwatch display page in the system Chromium (never downloads a browser).
//
//   node tests/browser/wall.mjs --url http://127.0.0.1:PORT/wall.html?hall=HALL \
//        --expect B001 --screenshot /tmp/x.png --timeout-ms 20000
//
// 1. Opens --url and waits until <body data-state> equals --state (default "live",
//    i.e. the first snapshot has been drawn), then prints the line `READY`.
// 2. With --expect T: waits until the element --selector (default #latest-ticket)
//    shows exactly T, optionally also --expect-window W in --window-selector
//    (default #latest-window); then prints `SEEN T`.
// 3. Takes the screenshot (--screenshot FILE, full viewport --viewport WxH,
//    default 1920x1080) if asked, and exits 0.
// Each wait has up to --timeout-ms (default 20000). On a timeout or any failure
// the page's state, text and console errors go to stderr and the exit code is 1;
// bad arguments exit 2.
//
// Environment: CHROMIUM overrides the browser path (default /usr/bin/chromium).

import { chromium } from 'playwright-core';

const USAGE = `usage: node wall.mjs --url URL [--expect TICKET] [--expect-window NAME]
       [--screenshot FILE] [--timeout-ms MS] [--viewport 1920x1080]
       [--state live] [--selector #latest-ticket] [--window-selector #latest-window]`;

function parseArgs(argv) {
  const opts = {
    url: null,
    expect: null,
    expectWindow: null,
    screenshot: null,
    timeoutMs: 20000,
    viewport: { width: 1920, height: 1080 },
    state: 'live',
    selector: '#latest-ticket',
    windowSelector: '#latest-window',
  };
  const takesValue = new Set(['url', 'expect', 'expect-window', 'screenshot', 'timeout-ms', 'viewport', 'state', 'selector', 'window-selector']);
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    if (arg === '-h' || arg === '--help') { console.log(USAGE); process.exit(0); }
    if (!arg.startsWith('--')) throw new Error(`unexpected argument ${arg}`);
    arg = arg.slice(2);
    let value;
    const eq = arg.indexOf('=');
    if (eq >= 0) { value = arg.slice(eq + 1); arg = arg.slice(0, eq); }
    if (!takesValue.has(arg)) throw new Error(`unknown option --${arg}`);
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined) throw new Error(`--${arg} needs a value`);
    }
    switch (arg) {
      case 'url': opts.url = value; break;
      case 'expect': opts.expect = value; break;
      case 'expect-window': opts.expectWindow = value; break;
      case 'screenshot': opts.screenshot = value; break;
      case 'state': opts.state = value; break;
      case 'selector': opts.selector = value; break;
      case 'window-selector': opts.windowSelector = value; break;
      case 'timeout-ms': {
        const n = Number(value);
        if (!Number.isFinite(n) || n <= 0) throw new Error(`bad --timeout-ms ${value}`);
        opts.timeoutMs = n;
        break;
      }
      case 'viewport': {
        const m = /^(\d+)x(\d+)$/.exec(value);
        if (!m) throw new Error(`bad --viewport ${value} (want WIDTHxHEIGHT)`);
        opts.viewport = { width: Number(m[1]), height: Number(m[2]) };
        break;
      }
    }
  }
  if (!opts.url) throw new Error('--url is required');
  return opts;
}

/** Write a line to stdout and wait until it is handed to the pipe. */
function out(line) {
  return new Promise((resolve) => process.stdout.write(line + '\n', resolve));
}

let opts;
try {
  opts = parseArgs(process.argv.slice(2));
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
  if (page) {
    try {
      const info = await page.evaluate(() => ({
        url: location.href,
        state: document.body ? document.body.dataset.state ?? null : null,
        error: document.body ? document.body.dataset.error ?? null : null,
        text: document.body ? document.body.innerText : document.documentElement.outerHTML,
      }));
      lines.push(`page url: ${info.url}`);
      lines.push(`body data-state: ${info.state}${info.error ? `, data-error: ${info.error}` : ''}`);
      lines.push('--- page text ---', info.text.trim(), '--- end of page text ---');
    } catch (e) {
      lines.push(`(could not read the page: ${e.message})`);
    }
  }
  lines.push(consoleLines.length ? '--- console errors ---' : '(no console errors)');
  lines.push(...consoleLines);
  process.stderr.write(lines.join('\n') + '\n');
}

async function main() {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    timeout: opts.timeoutMs,
  });
  const context = await browser.newContext({ viewport: opts.viewport, locale: 'zh-CN', timezoneId: 'Asia/Shanghai' });
  page = await context.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') consoleLines.push(`console.${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => consoleLines.push(`pageerror: ${e.stack || e.message}`));
  page.on('requestfailed', (r) => consoleLines.push(`requestfailed: ${r.url()} ${r.failure()?.errorText ?? ''}`));
  page.on('response', (r) => { if (r.status() >= 400) consoleLines.push(`http ${r.status()}: ${r.url()}`); });

  phase = 'load';
  await page.goto(opts.url, { waitUntil: 'domcontentloaded', timeout: opts.timeoutMs });

  phase = `wait for body[data-state="${opts.state}"]`;
  await page.waitForFunction(
    (s) => document.body && document.body.dataset.state === s,
    opts.state,
    { timeout: opts.timeoutMs, polling: 50 },
  );
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

  if (opts.screenshot) {
    phase = 'screenshot';
    // Let the new-call highlight start so the picture shows what a citizen sees.
    await page.waitForTimeout(300);
    await page.screenshot({ path: opts.screenshot, timeout: opts.timeoutMs });
  }

  if (opts.expect !== null) await out(`SEEN ${opts.expect}`);
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
