#!/usr/bin/env node
// Drive the window screen (窗口屏) in the system Chromium, step by step with
// the test that moves the window over MQTT.
//
//   node tests/browser/window.mjs --url http://127.0.0.1:PORT/window.html?hall=h1&window=02 \
//        --staff-name 李敏 --staff-no S001 --ticket B001 --screenshot /tmp/w --timeout-ms 20000
//
// Each step waits for the screen to show something, then prints a line; the
// driving test acts only after reading it, so no change can slip by unseen:
// 1. `READY`: the first snapshot is drawn and the window has no one at it:
//    body[data-status="offline"], #w-state 暂停服务, no staff shown.
// 2. `STAFF <name> <no>`: a login shows #w-staff-name and #w-staff-no, and
//    #w-state 空闲.
// 3. `CALLED <ticket>`: a call shows 「请 <ticket> 号办理」 (#w-call, #w-ticket).
//    Then `FITS WxH` for each of --sizes (default 800x480,1280x360): at that
//    viewport the name, the call line and the staff line lie inside the
//    screen and no line is cut off.
// 4. `PAUSED`: after the ticket is finished and the window paused, #w-state
//    reads 暂停服务 with the staff member still shown, and no ticket.
// With --screenshot PREFIX, pictures PREFIX-called-WxH.png and
// PREFIX-paused.png are taken. Each wait has up to --timeout-ms. On a
// timeout or any failure the page's state, text and console errors go to
// stderr and the exit code is 1; bad arguments exit 2.
//
// Environment: CHROMIUM overrides the browser path (default /usr/bin/chromium).

import { parseArgs, out, launchChromium, newPage, describePage } from './lib.mjs';

const USAGE = `usage: node window.mjs --url URL --staff-name NAME --staff-no NO --ticket T
       [--sizes 800x480,1280x360] [--screenshot PREFIX] [--timeout-ms MS]`;

let opts;
try {
  opts = parseArgs(process.argv.slice(2), {
    url: 'string', 'staff-name': 'string', 'staff-no': 'string', ticket: 'string',
    sizes: 'string', screenshot: 'string', 'timeout-ms': 'number',
  }, {
    url: null,
    staffName: null,
    staffNo: null,
    ticket: null,
    sizes: '800x480,1280x360',
    screenshot: null,
    timeoutMs: 20000,
  }, USAGE);
  for (const k of ['url', 'staffName', 'staffNo', 'ticket']) {
    if (!opts[k]) throw new Error(`--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} is required`);
  }
  opts.sizes = opts.sizes.split(',').map((s) => {
    const m = /^(\d+)x(\d+)$/.exec(s.trim());
    if (!m) throw new Error(`bad size ${s} in --sizes (want WxH,WxH)`);
    return { width: Number(m[1]), height: Number(m[2]) };
  });
} catch (e) {
  console.error(`window.mjs: ${e.message}\n${USAGE}`);
  process.exit(2);
}

const log = [];
let browser;
let page;
let phase = 'launch';

async function dumpPage(reason) {
  const lines = [`window.mjs: ${reason} (phase: ${phase}, url: ${opts.url})`];
  lines.push(...await describePage(page));
  lines.push(log.length ? '--- console errors ---' : '(no console errors)');
  lines.push(...log);
  process.stderr.write(lines.join('\n') + '\n');
}

/** What the screen shows now, read in the page. */
const readScreen = () => page.evaluate(() => {
  const text = (id) => {
    const e = document.getElementById(id);
    return e && !e.closest('[hidden]') ? e.textContent.replace(/\s+/g, '') : null;
  };
  return {
    state: document.body.dataset.state,
    status: document.body.dataset.status,
    error: document.body.dataset.error || null,
    call: text('w-call'),
    ticket: text('w-ticket'),
    big: text('w-state'),
    staffName: text('w-staff-name'),
    staffNo: text('w-staff-no'),
  };
});

/** Wait until `test(screen)` holds. */
async function until(what, test) {
  phase = what;
  const deadline = Date.now() + opts.timeoutMs;
  let last = null;
  for (;;) {
    last = await readScreen();
    if (last.error) throw new Error(`the page cannot work: ${last.error}`);
    if (test(last)) return last;
    if (Date.now() > deadline) {
      const e = new Error(`timed out waiting for ${what}; last seen ${JSON.stringify(last)}`);
      e.name = 'TimeoutError';
      throw e;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** At the current viewport: are the important lines inside the screen, uncut? */
const checkFits = () => page.evaluate(() => {
  const problems = [];
  const W = window.innerWidth;
  const H = window.innerHeight;
  for (const id of ['w-name', 'w-call', 'w-staff']) {
    const e = document.getElementById(id);
    if (!e || e.hidden) { problems.push(`#${id} is not shown`); continue; }
    const r = e.getBoundingClientRect();
    if (r.left < -1 || r.top < -1 || r.right > W + 1 || r.bottom > H + 1) {
      problems.push(`#${id} lies outside the ${W}x${H} screen: ${JSON.stringify(r)}`);
    }
    if (e.scrollWidth > e.clientWidth + 1) problems.push(`#${id} is cut off (${e.scrollWidth} > ${e.clientWidth})`);
  }
  const t = document.getElementById('w-ticket').getBoundingClientRect();
  if (t.height < H * 0.2) problems.push(`the ticket is only ${Math.round(t.height)} px high on a ${H} px screen`);
  return problems;
});

async function main() {
  browser = await launchChromium(opts.timeoutMs);
  ({ page } = await newPage(browser, opts.sizes[0], log));

  phase = 'load';
  await page.goto(opts.url, { waitUntil: 'domcontentloaded', timeout: opts.timeoutMs });
  await until('the first snapshot of an unstaffed window', (s) =>
    s.state === 'live' && s.status === 'offline' && s.big === '暂停服务' && s.staffName === null);
  await out('READY');

  await until(`${opts.staffName} (${opts.staffNo}) at the window`, (s) =>
    s.status === 'idle' && s.big === '空闲' && s.staffName === opts.staffName && s.staffNo === opts.staffNo);
  await out(`STAFF ${opts.staffName} ${opts.staffNo}`);

  await until(`「请 ${opts.ticket} 号办理」`, (s) =>
    s.status === 'calling' && s.ticket === opts.ticket && s.call === `请${opts.ticket}号办理`);
  await out(`CALLED ${opts.ticket}`);

  for (const size of opts.sizes) {
    phase = `layout at ${size.width}x${size.height}`;
    await page.setViewportSize(size);
    await page.waitForTimeout(300); // the resize handler refits after 120 ms
    const problems = await checkFits();
    if (problems.length) throw new Error(`at ${size.width}x${size.height}: ${problems.join('; ')}`);
    if (opts.screenshot) {
      await page.screenshot({ path: `${opts.screenshot}-called-${size.width}x${size.height}.png`, timeout: opts.timeoutMs });
    }
    await out(`FITS ${size.width}x${size.height}`);
  }

  await until('暂停服务 with the staff member still shown', (s) =>
    s.status === 'paused' && s.big === '暂停服务' && s.ticket === null && s.staffName === opts.staffName);
  if (opts.screenshot) {
    phase = 'screenshot';
    await page.screenshot({ path: `${opts.screenshot}-paused.png`, timeout: opts.timeoutMs });
  }
  await out('PAUSED');
  if (log.length) process.stderr.write(`window.mjs: note, the page logged:\n${log.join('\n')}\n`);
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
