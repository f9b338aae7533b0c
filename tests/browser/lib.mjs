// Shared helpers for the headless-browser checks in tests/browser/.
// Uses the system Chromium through playwright-core; never downloads a browser.
//
// Environment: CHROMIUM overrides the browser path (default /usr/bin/chromium).

import { chromium } from 'playwright-core';

/**
 * Parse `--name value` / `--name=value` options. `spec` maps each option name
 * to 'string' | 'number' | 'viewport'; `defaults` gives the starting values
 * (keys in camelCase). Throws an Error with a readable message on bad input;
 * `--help` / `-h` prints `usage` and exits 0.
 */
export function parseArgs(argv, spec, defaults, usage) {
  const opts = { ...defaults };
  const camel = (s) => s.replace(/-([a-z])/g, (_, c) => c.toUpperCase());
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    if (arg === '-h' || arg === '--help') { console.log(usage); process.exit(0); }
    if (!arg.startsWith('--')) throw new Error(`unexpected argument ${arg}`);
    arg = arg.slice(2);
    let value;
    const eq = arg.indexOf('=');
    if (eq >= 0) { value = arg.slice(eq + 1); arg = arg.slice(0, eq); }
    if (!Object.hasOwn(spec, arg)) throw new Error(`unknown option --${arg}`);
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined) throw new Error(`--${arg} needs a value`);
    }
    const kind = spec[arg];
    if (kind === 'number') {
      const n = Number(value);
      if (!Number.isFinite(n) || n <= 0) throw new Error(`bad --${arg} ${value}`);
      opts[camel(arg)] = n;
    } else if (kind === 'viewport') {
      const m = /^(\d+)x(\d+)$/.exec(value);
      if (!m) throw new Error(`bad --${arg} ${value} (want WIDTHxHEIGHT)`);
      opts[camel(arg)] = { width: Number(m[1]), height: Number(m[2]) };
    } else {
      opts[camel(arg)] = value;
    }
  }
  return opts;
}

/** Write a line to stdout and wait until it is handed to the pipe. */
export function out(line) {
  return new Promise((resolve) => process.stdout.write(line + '\n', resolve));
}

/** Launch the system Chromium with the options the display tests have always used. */
export function launchChromium(timeoutMs) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    timeout: timeoutMs,
  });
}

/**
 * A context and page like a hall's PC (zh-CN, Asia/Shanghai; `extra` adds
 * context options, such as a phone's), recording console
 * errors and warnings, page errors, failed requests and HTTP errors into
 * `log` (an array of lines) for diagnostics.
 */
export async function newPage(browser, viewport, log, extra = {}) {
  const context = await browser.newContext({
    viewport, locale: 'zh-CN', timezoneId: 'Asia/Shanghai', ...extra,
  });
  const page = await context.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') log.push(`console.${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => log.push(`pageerror: ${e.stack || e.message}`));
  page.on('requestfailed', (r) => log.push(`requestfailed: ${r.url()} ${r.failure()?.errorText ?? ''}`));
  page.on('response', (r) => { if (r.status() >= 400) log.push(`http ${r.status()}: ${r.url()}`); });
  return { context, page };
}

/** Lines describing the page (URL, body data-state, text) for a failure report. */
export async function describePage(page) {
  const lines = [];
  if (!page) return lines;
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
  return lines;
}
