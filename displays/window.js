// hallwatch — window screen (窗口屏) above one window:
//   window.html?hall=<hall>&window=<window>
//
// Data: the public display channel for that window only,
// ws(s)://HOST/ws/display/{hall}?window={window}. The `snapshot` (after every
// connect) gives the hall's windows, of which only this one is used, and the
// queues (for the names of the services it serves); then `window` (its new
// status, ticket and staff) and `call` (a call or recall at this window:
// the ticket flashes). `queue` messages are ignored. No citizen data: ticket
// numbers, the window and the staff member's display name and number only.
//
// What it shows: the window's name; the staff member and 工号 while someone
// is logged in; 「请 B023 号办理」 while calling or serving (with 正在办理 once
// service started); 暂停服务 when paused, and 暂停服务 / 窗口未开放 when no one is
// at the window; 空闲 when idle. Large type fitted to the screen, from an
// 800×480 panel to a 1280×360 LED-like strip. Reconnects by itself.
//
// Hooks for tests: <body data-state="connecting|live|offline"
// data-status="offline|idle|calling|serving|paused"> (plus data-error when the
// page cannot work); #w-ticket, #w-state, #w-staff-name, #w-staff-no.

import { apiUrl, queryParam, str, livePage } from './common.js';

const hall = queryParam('hall');
const windowId = queryParam('window');
const $ = (id) => document.getElementById(id);
const body = document.body;

/** The big line and the small one under it, when no ticket is shown. */
const STATE_TEXT = {
  offline: ['暂停服务', '本窗口未开放，请到其他窗口办理'],
  paused: ['暂停服务', '工作人员暂时离开，请稍候'],
  idle: ['空闲', '请留意叫号'],
};

let win = null;     // {name, status, ticket, staff, staff_name, services}
let services = {};  // service code -> name, from the snapshot's queues

// ------------------------------------------------------------------ rendering

function render(fresh = false) {
  if (!win) return;
  const name = str(win.name) || `${windowId}号窗口`;
  $('w-name').textContent = name;
  document.title = `${name} · 窗口屏`;

  const names = (Array.isArray(win.services) ? win.services : []).map((c) => services[c] || '').filter(Boolean);
  $('w-services').textContent = names.length ? `办理业务：${names.join('、')}` : '';
  $('w-services').hidden = names.length === 0;

  const status = ['offline', 'idle', 'calling', 'serving', 'paused'].includes(win.status) ? win.status : 'offline';
  body.dataset.status = status;

  const staffed = status !== 'offline' && !!(str(win.staff) || str(win.staff_name));
  $('w-staff').hidden = !staffed;
  $('w-staff-name').textContent = staffed ? str(win.staff_name) || '工作人员' : '';
  $('w-staff-no').textContent = staffed ? str(win.staff) : '';
  $('w-staff-no-box').hidden = !staffed || !str(win.staff);

  const ticket = str(win.ticket);
  const showTicket = (status === 'calling' || status === 'serving') && !!ticket;
  $('w-call').hidden = !showTicket;
  const t = $('w-ticket');
  t.textContent = showTicket ? ticket : '';
  if (showTicket && fresh) {
    t.classList.remove('fresh');
    void t.offsetWidth; // restart the flash
    t.classList.add('fresh');
  }

  const state = $('w-state');
  const note = $('w-note');
  if (showTicket) {
    state.textContent = status === 'serving' ? '正在办理' : '';
    state.hidden = status !== 'serving';
    note.hidden = true;
  } else {
    const [big, small] = STATE_TEXT[status] || STATE_TEXT.offline;
    state.hidden = false;
    state.textContent = big;
    note.textContent = small;
    note.hidden = false;
  }
  fit();
}

/**
 * Make the big lines as large as the screen allows without overflowing: a
 * long window name or a ticket like B1000 shrinks instead of being cut off.
 * Font sizes scale linearly, so one measurement at full size gives the answer.
 */
function fit() {
  const box = $('w-body');
  const lines = [...box.children].filter((c) => !c.hidden);
  for (const l of [...lines, $('w-name')]) l.style.removeProperty('--fit');
  const availH = box.clientHeight;
  const needH = lines.reduce((h, l) => h + l.getBoundingClientRect().height, 0);
  const hScale = availH > 0 && needH > availH ? availH / needH : 1;
  for (const l of [...lines, $('w-name')]) {
    const avail = l.clientWidth;
    const need = l.scrollWidth;
    const wScale = avail > 0 && need > avail ? avail / need : 1;
    const scale = Math.min(wScale, l === $('w-name') ? 1 : hScale);
    if (scale < 1) l.style.setProperty('--fit', String(Math.max(0.3, scale * 0.96)));
  }
}

// ------------------------------------------------------------------ page state

// A server restart that takes a second should not flash at the citizens.
const page = livePage({ banner: $('w-conn'), bannerDelayMs: 2000 });

const showFatal = (kind, text) => page.fatal(kind, null, text);

let lastCheck = 0;

/** The socket could not be opened: does the hall, and this window, exist? */
async function checkWindow() {
  if (Date.now() - lastCheck < 15000) return;
  lastCheck = Date.now();
  let res;
  try {
    res = await fetch(apiUrl(`api/halls/${encodeURIComponent(hall)}/snapshot`), {
      cache: 'no-store', headers: { Accept: 'application/json' },
    });
  } catch {
    return; // server or network down: keep trying
  }
  if (res.status === 404) {
    showFatal('unknown-hall', `服务大厅「${hall}」不存在或尚未配置。`);
    return;
  }
  if (!res.ok) return;
  let snap;
  try { snap = await res.json(); } catch { return; }
  const windows = snap && Array.isArray(snap.windows) ? snap.windows : null;
  if (windows && !windows.some((w) => w && w.id === windowId)) {
    showFatal('unknown-window', `服务大厅「${hall}」没有编号为「${windowId}」的窗口。`);
  }
}

// ------------------------------------------------------------------ messages

function onMessage(m) {
  switch (m.type) {
    case 'snapshot': {
      const w = (Array.isArray(m.windows) ? m.windows : []).find((x) => x && x.id === windowId);
      if (!w) {
        showFatal('unknown-window', `服务大厅「${hall}」没有编号为「${windowId}」的窗口。`);
        return;
      }
      services = {};
      for (const q of Array.isArray(m.queues) ? m.queues : []) {
        if (q && str(q.service)) services[q.service] = str(q.name) || q.service;
      }
      win = {
        name: w.name, status: w.status, ticket: w.ticket, staff: w.staff, staff_name: w.staff_name,
        services: w.services,
      };
      page.clearFatal();
      render();
      page.setState('live');
      break;
    }
    case 'window':
      if (win && page.live && m.window === windowId) {
        const before = win.ticket;
        Object.assign(win, {
          status: m.status, ticket: m.ticket, staff: m.staff, staff_name: m.staff_name,
        });
        render(!!m.ticket && m.ticket !== before);
      }
      break;
    case 'call':
      if (win && page.live && m.window === windowId) {
        win.ticket = m.ticket;
        if (win.status !== 'serving') win.status = 'calling';
        render(true); // a recall flashes the same ticket again
      }
      break;
    default:
      break; // 'queue', and types the channel may grow
  }
}

// ------------------------------------------------------------------ start

function start() {
  let resizeTimer = null;
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(fit, 120);
  });
  if (document.fonts && document.fonts.ready) document.fonts.ready.then(fit).catch(() => {});

  const ok = (v) => v !== null && /^[A-Za-z0-9_-]{1,32}$/.test(v);
  if (!ok(hall) || !ok(windowId)) {
    $('w-state').textContent = '未指定窗口';
    showFatal('missing-window', '请在地址中指定服务大厅和窗口，例如 window.html?hall=jl-center&window=05。');
    page.setState('offline');
    return;
  }
  page.open(`ws/display/${encodeURIComponent(hall)}?window=${encodeURIComponent(windowId)}`, onMessage, (info) => {
    if (!info.wasOpen) checkWindow();
  });
}

start();
