#!/usr/bin/env node
// Drive the hall manager's dashboard (大厅管理看板) in the system Chromium, step
// by step with the test that moves the hall over MQTT.
//
//   node tests/browser/dashboard.mjs --base http://127.0.0.1:PORT --token TOKEN --hall h1 \
//        --window 02 --staff-name 李敏 --staff-no S001 --ticket B001 --benchmark 25 \
//        --screenshot /tmp/d.png --timeout-ms 20000
//
// Each step waits for the page to show something, then prints a line; the
// driving test acts only after reading it, so no change can slip by unseen:
//  1. Opens BASE/dashboard.html?hall=HALL, which sends a browser without the
//     session cookie to login.html?next=…; logs in with --token and waits for
//     the dashboard to be live again: the window's tile, the KPIs and a
//     staffing row per service drawn, the header badge #conn reading 实时,
//     and the header clock ticking (at --clock-date, when given, the day of
//     the server's clock in the hall's time zone). `READY`.
//  2. `STAFFED`: the window's tile is 空闲 with the staff name and 工号.
//  3. `CALLING <ticket>`: the tile is 叫号中 with the ticket.
//  4. `SERVING <ticket>`: the tile is 办理中 with the ticket.
//  5. `SERVED 1/<benchmark>`: the tile is 空闲 again, its bar reads 1/25 (and
//     says so to screen readers); the KPIs count 取号 1, 办结 1, 即办率 100%;
//     the advice box and the forecast table are filled.
//  6. `ALERT <rule>`: an alert of --alert-rule (default wait_timeout) is in
//     the open alerts list, and the queue of --alert-service (default GA)
//     shows one waiting with a longest wait of at least --alert-minutes (30).
//  7. `OFFLINE`: the server went away: body[data-state="offline"], the badge
//     offline (连接中断，正在重连…) and the connection banner shown.
//  8. `RECOVERED`: the page is live again by itself: the badge back at 实时,
//     the banner gone, the tile still 1/25.
//  9. `PAUSED`: a pause reaches the tile (暂停). Screenshot (--screenshot).
// Each wait has up to --timeout-ms. On a timeout or any failure the page's
// state, text, console errors and failed requests go to stderr and the exit
// code is 1; bad arguments exit 2.
//
// Environment: CHROMIUM overrides the browser path (default /usr/bin/chromium).

import { parseArgs, out, launchChromium, newPage, describePage } from './lib.mjs';

const USAGE = `usage: node dashboard.mjs --base URL --token TOKEN --hall HALL --window W
       --staff-name NAME --staff-no NO --ticket T [--benchmark 25]
       [--alert-rule wait_timeout] [--alert-service GA] [--alert-minutes 30]
       [--clock-date "2026年11月23日 星期一"]
       [--screenshot FILE] [--timeout-ms MS] [--viewport 1920x1080]`;

let opts;
try {
  opts = parseArgs(process.argv.slice(2), {
    base: 'string', token: 'string', hall: 'string', window: 'string', 'staff-name': 'string',
    'staff-no': 'string', ticket: 'string', benchmark: 'number', 'alert-rule': 'string',
    'alert-service': 'string', 'alert-minutes': 'number', 'clock-date': 'string', screenshot: 'string',
    'timeout-ms': 'number', viewport: 'viewport',
  }, {
    base: null,
    token: null,
    hall: null,
    window: null,
    staffName: null,
    staffNo: null,
    ticket: null,
    benchmark: 25,
    alertRule: 'wait_timeout',
    alertService: 'GA',
    alertMinutes: 30,
    clockDate: null,
    screenshot: null,
    timeoutMs: 20000,
    viewport: { width: 1920, height: 1080 },
  }, USAGE);
  for (const k of ['base', 'token', 'hall', 'window', 'staffName', 'staffNo', 'ticket']) {
    if (!opts[k]) throw new Error(`--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} is required`);
  }
  if (!/^https?:\/\//.test(opts.base)) throw new Error(`bad --base ${opts.base}`);
} catch (e) {
  console.error(`dashboard.mjs: ${e.message}\n${USAGE}`);
  process.exit(2);
}

const startPath = `/dashboard.html?hall=${encodeURIComponent(opts.hall)}`;
const startUrl = opts.base.replace(/\/+$/, '') + startPath;
const log = [];
let browser;
let page;
let phase = 'launch';

async function dumpPage(reason) {
  const lines = [`dashboard.mjs: ${reason} (phase: ${phase}, start url: ${startUrl})`];
  lines.push(...await describePage(page));
  lines.push(log.length ? '--- console errors and failed requests ---' : '(no console errors or failed requests)');
  lines.push(...log);
  process.stderr.write(lines.join('\n') + '\n');
}

/** Everything the steps look at, read in the page in one go. */
const readBoard = (win) => page.evaluate((id) => {
  const b = document.body;
  const txt = (e) => (e ? e.textContent.replace(/\s+/g, ' ').trim() : null);
  const tile = document.querySelector(`#tiles li[data-window="${CSS.escape(id)}"]`);
  const bar = tile ? tile.querySelector('.t-bar') : null;
  const kpi = {};
  for (const k of document.querySelectorAll('#kpi-list [data-kpi]')) {
    kpi[k.dataset.kpi] = txt(k.querySelector('.kpi-value'));
  }
  const rows = (sel) => [...document.querySelectorAll(sel)].map((tr) => ({
    service: tr.dataset.service, cells: [...tr.children].map(txt),
  }));
  return {
    url: location.pathname + location.search,
    state: b.dataset.state,
    error: b.dataset.error || null,
    banner: document.getElementById('conn-banner').hidden ? null : txt(document.getElementById('conn-banner')),
    conn: { state: document.getElementById('conn').dataset.state, text: txt(document.getElementById('conn-text')) },
    clock: {
      date: txt(document.getElementById('clock-date')),
      time: txt(document.getElementById('clock-time')),
      dateTime: document.getElementById('clock-time').dateTime,
    },
    tile: tile ? {
      status: tile.dataset.status,
      statusText: txt(tile.querySelector('.t-status')),
      ticket: txt(tile.querySelector('.t-ticket-no')),
      staff: txt(tile.querySelector('.t-staff')),
      barText: txt(tile.querySelector('.t-bar-text')),
      served: bar && bar.dataset.served,
      benchmark: bar && bar.dataset.benchmark,
      band: bar && bar.dataset.band,
      role: bar && bar.getAttribute('role'),
      valueText: bar && bar.getAttribute('aria-valuetext'),
      width: bar ? bar.querySelector('.t-fill').style.width : null,
    } : null,
    kpi,
    advice: txt(document.getElementById('advice')),
    adviceLive: document.getElementById('advice').getAttribute('aria-live'),
    staffing: rows('#staffing-body tr[data-service]'),
    queues: rows('#queue-body tr[data-service]'),
    alerts: [...document.querySelectorAll('#alert-list li[data-alert-id]')].map((li) => ({
      rule: li.dataset.rule, severity: li.dataset.severity, text: txt(li),
    })),
    chartBars: document.querySelectorAll('#chart-box svg .bar-arrivals').length,
    chartRows: document.querySelectorAll('#chart-body tr').length,
  };
}, win);

/** Poll until `test(board)` holds (the page may be navigating in between). */
async function until(what, test) {
  phase = what;
  const deadline = Date.now() + opts.timeoutMs;
  let last = null;
  for (;;) {
    try {
      last = await readBoard(opts.window);
    } catch {
      last = null; // navigating: the execution context went away
    }
    if (last && last.error) throw new Error(`the page cannot work: ${last.error}`);
    if (last && test(last)) return last;
    if (Date.now() > deadline) {
      const e = new Error(`timed out waiting for ${what}; last seen ${JSON.stringify(last)}`);
      e.name = 'TimeoutError';
      throw e;
    }
    await new Promise((r) => setTimeout(r, 80));
  }
}

async function logIn() {
  phase = 'wait for the login form';
  await page.locator('#login-form').waitFor({ state: 'visible', timeout: opts.timeoutMs });
  const next = new URL(page.url()).searchParams.get('next');
  if (next !== startPath) throw new Error(`login page has next=${JSON.stringify(next)}, expected ${JSON.stringify(startPath)}`);
  phase = 'log in';
  await page.locator('#token').fill(opts.token, { timeout: opts.timeoutMs });
  await page.locator('#login-submit').click({ timeout: opts.timeoutMs });
}

async function main() {
  browser = await launchChromium(opts.timeoutMs);
  ({ page } = await newPage(browser, opts.viewport, log));

  phase = 'load';
  await page.goto(startUrl, { waitUntil: 'domcontentloaded', timeout: opts.timeoutMs });
  await logIn();

  const t = opts.ticket;
  await until('the live dashboard after login', (d) => d.url === startPath && d.state === 'live'
    // On duty (Monday 10:00, on the rota) with nobody there: 空岗.
    && d.tile && d.tile.status === 'offline' && d.tile.statusText === '空岗' && d.kpi.issued === '0张'
    && d.staffing.length > 0 && d.queues.length === d.staffing.length
    && d.tile.role === 'meter' && d.adviceLive === 'polite' && d.chartRows > 0
    && d.conn.state === 'live' && d.conn.text === '实时');
  const first = await until('the header clock', (d) => /^\d{2}:\d{2}:\d{2}$/.test(d.clock.time)
    && /^\d{4}年\d{1,2}月\d{1,2}日 星期[日一二三四五六]$/.test(d.clock.date)
    && d.clock.dateTime.endsWith(`T${d.clock.time}`)
    && (opts.clockDate === null || d.clock.date === opts.clockDate));
  await until('the header clock ticking', (d) => d.clock.time !== first.clock.time);
  await out('READY');

  await until(`${opts.staffName} on the tile`, (d) => d.tile.status === 'idle' && d.tile.statusText === '空闲'
    && d.tile.staff.includes(opts.staffName) && d.tile.staff.includes(`工号 ${opts.staffNo}`));
  await out('STAFFED');

  await until(`${t} called on the tile`, (d) => d.tile.status === 'calling' && d.tile.statusText === '叫号中'
    && d.tile.ticket === t);
  await out(`CALLING ${t}`);

  await until(`${t} served on the tile`, (d) => d.tile.status === 'serving' && d.tile.statusText === '办理中'
    && d.tile.ticket === t);
  await out(`SERVING ${t}`);

  const want = `1/${opts.benchmark}`;
  const done = await until(`the bar at ${want}, the KPIs and the staffing advice`, (d) => d.tile.status === 'idle'
    && d.tile.ticket === null && d.tile.barText === want && d.tile.served === '1'
    && d.tile.benchmark === String(opts.benchmark) && d.tile.band === 'low'
    && (d.tile.valueText || '').startsWith(`今日办结 1 件，基准 ${opts.benchmark} 件`)
    && Math.abs(parseFloat(d.tile.width) - 100 / opts.benchmark) < 0.06
    && d.kpi.issued === '1张' && d.kpi.served === '1件' && d.kpi.on_the_spot_rate === '100%'
    && !!d.advice && d.staffing.every((r) => r.cells.length === 6 && r.cells[1] !== '—')
    && d.chartBars > 0);
  process.stderr.write(`dashboard.mjs: advice 「${done.advice}」, staffing ${JSON.stringify(done.staffing)}\n`);
  await out(`SERVED ${want}`);

  const minWait = opts.alertMinutes;
  await until(`an open ${opts.alertRule} alert and the ${opts.alertService} queue waiting`, (d) => {
    const q = d.queues.find((r) => r.service === opts.alertService);
    const m = q ? /(\d+) 分钟|(\d+) 小时/.exec(q.cells[2] || '') : null;
    const longest = m ? (m[1] ? Number(m[1]) : Number(m[2]) * 60) : 0;
    return d.alerts.some((a) => a.rule === opts.alertRule) && q && q.cells[1] === '1' && longest >= minWait;
  });
  await out(`ALERT ${opts.alertRule}`);

  await until('the offline state, its badge and its banner', (d) => d.state === 'offline'
    && d.conn.state === 'offline' && d.conn.text === '连接中断，正在重连…'
    && d.banner === '与服务器的连接中断，正在自动重连。屏幕上的数据停留在断开时，恢复后自动更新。');
  await out('OFFLINE');

  await until('the dashboard live again by itself', (d) => d.state === 'live' && !d.banner
    && d.conn.state === 'live' && d.conn.text === '实时' && d.tile && d.tile.barText === want);
  await out('RECOVERED');

  await until('the pause on the tile', (d) => d.tile.status === 'paused' && d.tile.statusText === '暂停');
  if (opts.screenshot) {
    phase = 'screenshot';
    await page.waitForTimeout(300);
    await page.screenshot({ path: opts.screenshot, timeout: opts.timeoutMs });
  }
  await out('PAUSED');
  if (log.length) process.stderr.write(`dashboard.mjs: note, the page logged:\n${log.join('\n')}\n`);
}

let code = 0;
try {
  await main();
} catch (e) {
  code = 1;
  const reason = e && e.name === 'TimeoutError' ? e.message : `failed: ${e && e.message ? e.message : e}`;
  await dumpPage(reason);
} finally {
  if (browser) await browser.close().catch(() => {});
}
process.exit(code);
