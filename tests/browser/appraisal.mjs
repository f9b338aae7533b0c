// The monthly 通报 page in Chromium: logs in with a token, waits for the
// sheet, checks the row of a department, and prints it to an A4 PDF.
//
//   node tests/browser/appraisal.mjs --base http://127.0.0.1:PORT \
//        --token TOKEN --path '/appraisal.html?hall=h1&month=2026-11' \
//        --expect-key '' --pdf /tmp/x.pdf
//
// Prints READY, then ROW <cells…> for --expect-key, then PDF <bytes> <pages>.
// Exit 1 on a failure (with what the page showed), 2 on bad arguments.

import { parseArgs, out, launchChromium, newPage, describePage } from './lib.mjs';
import { readFileSync } from 'node:fs';

const USAGE = `usage: node appraisal.mjs --base URL --token TOKEN --path PATH
       [--expect-key KEY] [--pdf FILE] [--timeout-ms MS]`;

let opts;
try {
  opts = parseArgs(process.argv.slice(2), {
    base: 'string', token: 'string', path: 'string', 'expect-key': 'string', pdf: 'string',
    'timeout-ms': 'number',
  }, { base: null, token: null, path: null, expectKey: '', pdf: null, timeoutMs: 20000 }, USAGE);
  if (!opts.base || !opts.token || !opts.path) throw new Error('--base, --token and --path are required');
} catch (e) {
  console.error(`appraisal.mjs: ${e.message}\n${USAGE}`);
  process.exit(2);
}

const log = [];
let browser;
let page;
let phase = 'launch';

async function main() {
  browser = await launchChromium(opts.timeoutMs);
  ({ page } = await newPage(browser, { width: 1400, height: 1000 }, log));
  phase = 'load';
  await page.goto(opts.base.replace(/\/+$/, '') + opts.path, { waitUntil: 'domcontentloaded', timeout: opts.timeoutMs });
  phase = 'log in';
  await page.locator('#token').fill(opts.token, { timeout: opts.timeoutMs });
  await page.locator('#login-submit').click({ timeout: opts.timeoutMs });
  phase = 'wait for the sheet';
  await page.waitForFunction(() => document.body.dataset.state === 'ready', null, { timeout: opts.timeoutMs, polling: 100 });
  await out(`READY ${await page.locator('#title').textContent()}`);
  const cells = await page.evaluate((key) => {
    const row = [...document.querySelectorAll('#rows tr')].find((r) => r.dataset.key === key);
    return row ? [...row.children].map((td) => td.textContent).join('|') : null;
  }, opts.expectKey);
  if (cells === null) throw new Error(`no row for ${JSON.stringify(opts.expectKey)}`);
  await out(`ROW ${cells}`);
  if (opts.pdf) {
    phase = 'print to PDF';
    await page.emulateMedia({ media: 'print' });
    const controls = await page.locator('#controls').isVisible();
    if (controls) throw new Error('the controls would be printed');
    await page.pdf({ path: opts.pdf, preferCSSPageSize: true });
    const bytes = readFileSync(opts.pdf);
    const pages = (bytes.toString('latin1').match(/\/Type\s*\/Page[^s]/g) || []).length;
    await out(`PDF ${bytes.length} ${pages}`);
  }
}

let code = 0;
try {
  await main();
} catch (e) {
  code = 1;
  const lines = [`appraisal.mjs: failed in phase ${phase}: ${e && e.message ? e.message : e}`];
  if (page) lines.push(...await describePage(page));
  lines.push(...log);
  process.stderr.write(lines.join('\n') + '\n');
} finally {
  if (browser) await browser.close().catch(() => {});
}
process.exit(code);
