#!/usr/bin/env node
// Drive the supervisor console (电子效能监察台) in the system Chromium.
//
//   node tests/browser/console.mjs --base http://127.0.0.1:PORT --token TOKEN \
//        --expect-rule wait_timeout --screenshot /tmp/x.png --timeout-ms 20000
//
// 1. Opens BASE/supervisor.html (--path), which sends a browser without the
//    session cookie to login.html?next=...; logs in through the form with
//    --token and waits until the console is back with <body data-state="live">,
//    the header badge #conn reading 实时 and the header clock ticking.
//    Prints `READY`.
// 2. Waits for an alert row [data-state="open"] whose [data-rule] is
//    --expect-rule (default wait_timeout); prints `ALERT <id>`.
//    With --expect-delivery STATE[,STATE…], waits until the row's notification
//    chip (.a-deliv) reads each state in turn and prints `DELIVERY <state>
//    <text>` for each, so the caller can change the receiver in between.
// 3. Clicks its 确认 button, checks that the note field got the focus, types
//    --note (default 已电话联系窗口), submits, and waits until the server's
//    answer turns the row [data-state="acknowledged"]; prints `ACKED <id>`.
// 4. Takes the screenshot (--screenshot FILE, viewport --viewport WxH, default
//    1920x1080) if asked, and exits 0.
// Each wait has up to --timeout-ms (default 20000). On a timeout or any failure
// the page's state, text, console errors and failed requests go to stderr and
// the exit code is 1; bad arguments exit 2.
//
// Environment: CHROMIUM overrides the browser path (default /usr/bin/chromium).

import { parseArgs, out, launchChromium, newPage, describePage } from './lib.mjs';

const USAGE = `usage: node console.mjs --base URL --token TOKEN [--expect-rule RULE]
       [--note TEXT] [--path /supervisor.html] [--screenshot FILE]
       [--expect-card KIND --expect-case REF] [--expect-delivery STATE,STATE]
       [--timeout-ms MS] [--viewport 1920x1080]`;

let opts;
try {
  opts = parseArgs(process.argv.slice(2), {
    base: 'string', token: 'string', 'expect-rule': 'string', note: 'string', path: 'string',
    screenshot: 'string', 'timeout-ms': 'number', viewport: 'viewport',
    'expect-card': 'string', 'expect-case': 'string', 'expect-delivery': 'string',
  }, {
    expectDelivery: null,
    expectCard: null,
    expectCase: null,
    base: null,
    token: null,
    expectRule: 'wait_timeout',
    note: '已电话联系窗口',
    path: '/supervisor.html',
    screenshot: null,
    timeoutMs: 20000,
    viewport: { width: 1920, height: 1080 },
  }, USAGE);
  if (!opts.base) throw new Error('--base is required');
  if (!opts.token) throw new Error('--token is required');
  if (!/^https?:\/\//.test(opts.base)) throw new Error(`bad --base ${opts.base}`);
  if (!opts.path.startsWith('/')) throw new Error('--path must start with /');
} catch (e) {
  console.error(`console.mjs: ${e.message}\n${USAGE}`);
  process.exit(2);
}

const startUrl = opts.base.replace(/\/+$/, '') + opts.path;
const startPath = (() => { const u = new URL(startUrl); return u.pathname + u.search; })();
const log = [];   // console errors and warnings, page errors, failed requests
let browser;
let page;
let phase = 'launch';

async function dumpPage(reason) {
  const lines = [`console.mjs: ${reason} (phase: ${phase}, start url: ${startUrl})`];
  lines.push(...await describePage(page));
  lines.push(log.length ? '--- console errors and failed requests ---' : '(no console errors or failed requests)');
  lines.push(...log);
  process.stderr.write(lines.join('\n') + '\n');
}

/** Poll `fn` (an async check returning a value or null) until it answers or time runs out. */
async function poll(fn, what) {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    let v = null;
    try {
      v = await fn();
    } catch {
      // The page is navigating (execution context destroyed): try again.
    }
    if (v !== null && v !== undefined) return v;
    if (Date.now() > deadline) {
      const e = new Error(`timed out waiting for ${what}`);
      e.name = 'TimeoutError';
      throw e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

const onConsole = () => page.evaluate(() => {
  const b = document.body;
  return b && !b.dataset.page && b.dataset.state === 'live' && !b.dataset.error ? 'live' : null;
});

async function main() {
  browser = await launchChromium(opts.timeoutMs);
  ({ page } = await newPage(browser, opts.viewport, log));

  phase = 'load';
  await page.goto(startUrl, { waitUntil: 'domcontentloaded', timeout: opts.timeoutMs });

  phase = 'wait for the login form (or an already live console)';
  const where = await poll(async () => {
    if (await page.locator('#login-form').count()) return 'login';
    return await onConsole();
  }, 'the login page');

  if (where === 'login') {
    phase = 'log in';
    const url = new URL(page.url());
    const next = url.searchParams.get('next');
    if (next !== startPath) throw new Error(`login page has next=${JSON.stringify(next)}, expected ${JSON.stringify(startPath)}`);
    await page.locator('#token').fill(opts.token, { timeout: opts.timeoutMs });
    await page.locator('#login-submit').click({ timeout: opts.timeoutMs });

    phase = 'wait for the console after login';
    const result = await poll(async () => {
      const u = new URL(page.url());
      if (u.pathname.endsWith('/login.html')) {
        const err = (await page.locator('#login-error').textContent({ timeout: 1000 }))?.trim();
        return err ? `error:${err}` : null;
      }
      return await onConsole();
    }, 'body[data-state="live"] on the console');
    if (result.startsWith('error:')) throw new Error(`login refused: ${result.slice(6)}`);
  }
  const landed = new URL(page.url());
  if (landed.pathname + landed.search !== startPath) throw new Error(`after login the page is ${landed.pathname + landed.search}, expected ${startPath}`);
  phase = 'wait for the header badge and clock';
  const header = () => page.evaluate(() => ({
    conn: document.getElementById('conn').dataset.state,
    connText: document.getElementById('conn-text').textContent,
    time: document.getElementById('clock-time').textContent,
    date: document.getElementById('clock-date').textContent,
  }));
  const first = await poll(async () => {
    const h = await header();
    return h.conn === 'live' && h.connText === '实时' && /^\d{2}:\d{2}:\d{2}$/.test(h.time)
      && /^\d{4}年\d{1,2}月\d{1,2}日 星期[日一二三四五六]$/.test(h.date) ? h : null;
  }, 'the badge at 实时 and the clock');
  await poll(async () => ((await header()).time !== first.time ? true : null), 'the clock ticking');
  await out('READY');

  phase = `wait for an open ${opts.expectRule} alert`;
  const handle = await page.waitForFunction((rule) => {
    for (const row of document.querySelectorAll('#alert-list [data-alert-id][data-state="open"]')) {
      if (row.dataset.rule === rule) return row.dataset.alertId;
    }
    return null;
  }, opts.expectRule, { timeout: opts.timeoutMs, polling: 50 });
  const id = await handle.jsonValue();
  await out(`ALERT ${id}`);

  for (const want of opts.expectDelivery ? opts.expectDelivery.split(',') : []) {
    phase = `wait for ${id}'s notification to read ${want}`;
    const chip = await page.waitForFunction(([alert, state]) => {
      const r = [...document.querySelectorAll('#alert-list [data-alert-id]')].find((x) => x.dataset.alertId === alert);
      const c = r && r.querySelector(`.a-deliv[data-delivery="${state}"]`);
      return c && !c.closest('[hidden]') ? c.textContent : null;
    }, [id, want], { timeout: opts.timeoutMs, polling: 50 });
    await out(`DELIVERY ${want} ${await chip.jsonValue()}`);
  }

  phase = `acknowledge ${id}`;
  const row = page.locator(`#alert-list [data-alert-id=${JSON.stringify(id)}]`);
  await row.locator('[data-action="ack"]').click({ timeout: opts.timeoutMs });
  const note = row.locator('textarea[name="note"]');
  await note.waitFor({ state: 'visible', timeout: opts.timeoutMs });
  const focused = await note.evaluate((ta) => document.activeElement === ta);
  if (!focused) throw new Error('the note field did not get the focus when the form opened');
  await note.fill(opts.note, { timeout: opts.timeoutMs });
  await row.locator('[data-action="submit"]').click({ timeout: opts.timeoutMs });

  phase = `wait for ${id} to be acknowledged`;
  await page.waitForFunction((want) => {
    for (const r of document.querySelectorAll('#alert-list [data-alert-id]')) {
      if (r.dataset.alertId === want) return r.dataset.state === 'acknowledged';
    }
    return false;
  }, id, { timeout: opts.timeoutMs, polling: 50 });
  await out(`ACKED ${id}`);

  if (opts.expectCard) {
    phase = `wait for a ${opts.expectCard} card and case ${opts.expectCase} in 限时办结`;
    const seen = await page.waitForFunction(([kind, ref]) => {
      const card = document.querySelector(`#card-list [data-kind="${kind}"][data-open="true"]`);
      const c = [...document.querySelectorAll('#case-list [data-case-ref]')].find((x) => x.dataset.caseRef === ref);
      if (!card || !c) return null;
      return `${card.querySelector('.card-badge').textContent} ${c.querySelector('.case-left').textContent}`;
    }, [opts.expectCard, opts.expectCase], { timeout: opts.timeoutMs, polling: 100 });
    await out(`CASES ${await seen.jsonValue()}`);
  }

  if (opts.screenshot) {
    phase = 'screenshot';
    await page.waitForTimeout(300);
    await page.screenshot({ path: opts.screenshot, timeout: opts.timeoutMs });
  }
  if (log.length) {
    process.stderr.write(`console.mjs: note, the page logged:\n${log.join('\n')}\n`);
  }
}

let code = 0;
try {
  await main();
} catch (e) {
  code = 1;
  const reason = e && e.name === 'TimeoutError' ? `timed out${e.message ? `: ${e.message}` : ''}` : `failed: ${e && e.message ? e.message : e}`;
  await dumpPage(reason);
} finally {
  if (browser) await browser.close().catch(() => {});
}
process.exit(code);
