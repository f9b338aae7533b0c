// hallwatch — region page (区域总览): one row per hall of the token's scope, for
// a manager or supervisor over several halls (a county centre and its town
// centres).
//
// Data: WebSocket ws(s)://HOST/ws/region, authorised by the login cookie (any
// role; `?token=…` on the page logs in with it once, as on the dashboard). The
// first message after every connect is a `snapshot` {halls: [summary]} that
// replaces everything; then `summary` messages, one hall each, replaced by
// `hall`. `ping` keeps the line alive; unknown types are ignored.
//
// Hooks for tests: <body data-state="connecting|live|offline">; rows
// tr[data-hall] in #halls-body, each with a link to the hall's dashboard.

import {
  connect, str, num, el, fetchMeWith, loginUrl, logout, takeTokenParam,
  ServerClock, percentText, delayedBanner,
} from './common.js';

const WEEKDAYS = ['星期日', '星期一', '星期二', '星期三', '星期四', '星期五', '星期六'];
const AUTH_RECHECK_MS = 10000;
const BANNER_DELAY_MS = 1500;
const SEVERITIES = [['critical', '红牌'], ['warning', '黄牌'], ['notice', '预警']];

const $ = (id) => document.getElementById(id);
const body = document.body;
const pad = (n) => String(n).padStart(2, '0');
const pageToken = takeTokenParam();

const model = {
  halls: [],          // SummaryView, in configuration order
  hadSnapshot: false,
  me: null,
};

const clock = new ServerClock();
let conn = null;
let live = false;
let stopped = false;
let connFailures = 0;
let lastAuthCheck = 0;

const count = (v) => { const n = num(v, null); return n === null ? '—' : String(Math.round(n)); };
const minutes = (sec) => {
  const n = num(sec, null);
  if (n === null) return '—';
  return n < 60 ? '<1 分钟' : `${Math.floor(n / 60)} 分钟`;
};
const waitingOf = (h) => Object.values(h.waiting && typeof h.waiting === 'object' ? h.waiting : {})
  .reduce((s, v) => s + Math.max(0, num(v, 0)), 0);

function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

// ------------------------------------------------------------------ page state

const offlineBanner = delayedBanner($('conn-banner'), BANNER_DELAY_MS, () => {
  if (body.dataset.state !== 'offline' || stopped) return null;
  return model.hadSnapshot
    ? '与服务器的连接中断，正在自动重连。表中数据停留在断开时，恢复后自动更新。'
    : '暂时无法连接服务器，正在自动重试…';
});

function setState(s) {
  body.dataset.state = s;
  $('conn').dataset.state = s;
  setText($('conn-text'), stopped ? '已停止'
    : s === 'live' ? '实时'
      : s === 'offline' ? (model.hadSnapshot ? '连接中断，正在重连…' : '正在连接服务器…')
        : '正在连接…');
  offlineBanner(s === 'offline' && !stopped);
}

/** 'ok', 'redirect' or 'unknown' (server unreachable). */
async function checkAuth() {
  const { status, me } = await fetchMeWith(null, pageToken);
  if (stopped) return 'redirect';
  if (status === 401) {
    stopped = true;
    if (conn) conn.close();
    location.replace(loginUrl());
    return 'redirect';
  }
  if (status !== 200 || !me) return 'unknown';
  model.me = me;
  setText($('user-name'), str(me.name));
  renderScope();
  return 'ok';
}

function maybeRecheckAuth(force) {
  if (stopped) return;
  if (!force && Date.now() - lastAuthCheck < AUTH_RECHECK_MS) return;
  lastAuthCheck = Date.now();
  checkAuth().catch((e) => console.warn('auth check failed', e));
}

// ------------------------------------------------------------------ rendering

function renderScope() {
  const p = $('scope');
  const halls = model.me && Array.isArray(model.me.halls) ? model.me.halls.map(String) : null;
  if (model.hadSnapshot && model.halls.length) {
    const names = model.halls.map((h) => str(h.name) || str(h.hall));
    setText(p, names.length <= 3 ? `范围：${names.join('、')}` : `范围：${names.slice(0, 2).join('、')} 等 ${names.length} 个服务大厅`);
    p.title = names.join('、');
  } else if (halls && halls.includes('*')) {
    setText(p, '范围：全部服务大厅');
  } else if (halls) {
    setText(p, `范围：${halls.join('、') || '无'}`);
  }
}

/** Where a hall's name leads: its dashboard, or the console for supervisors. */
function hallHref(id) {
  const role = model.me ? str(model.me.role) : '';
  const page = role === 'supervisor' ? 'supervisor.html' : 'dashboard.html';
  return `${page}?hall=${encodeURIComponent(id)}`;
}

function alertCell(h) {
  const td = el('td');
  const box = el('div', 'alerts-cell');
  td.append(box);
  const by = h.alerts_by_severity && typeof h.alerts_by_severity === 'object' ? h.alerts_by_severity : {};
  let any = false;
  for (const [sev, text] of SEVERITIES) {
    const n = Math.max(0, num(by[sev], 0));
    if (n === 0) continue;
    any = true;
    const b = el('span', `badge sev-${sev}`);
    const icon = el('span', 'badge-icon');
    icon.setAttribute('aria-hidden', 'true');
    b.append(icon, el('span', null, `${text} ${n}`));
    box.append(b);
  }
  if (!any) box.append(el('span', 'none', num(h.alerts_open, 0) > 0 ? `${count(h.alerts_open)} 条` : '无'));
  return td;
}

function renderHalls() {
  const tbody = $('halls-body');
  const rows = model.halls.map((h) => {
    const id = str(h.hall);
    const tr = el('tr');
    tr.dataset.hall = id;
    const th = el('th', 'hall');
    th.scope = 'row';
    const a = el('a', 'hall-link', str(h.name) || id);
    a.href = hallHref(id);
    th.append(a);
    const waiting = waitingOf(h);
    const longest = el('td', 'n num longest');
    longest.dataset.hall = id;
    const windows = el('td', 'n num', `${count(h.windows_open)}/${count(h.windows_total)}`);
    const advice = el('td', 'advice');
    const lines = Array.isArray(h.advice) ? h.advice.map(str).filter(Boolean) : [];
    if (lines.length) {
      const ul = el('ul', 'advice-list');
      for (const line of lines) ul.append(el('li', null, line));
      advice.append(ul);
    } else {
      advice.append(el('span', 'none', '无需调整'));
    }
    tr.append(th,
      el('td', `n num waiting${waiting ? '' : ' is-zero'}`, String(waiting)),
      longest,
      el('td', 'n num', minutes(h.avg_wait_s)),
      el('td', 'n num', count(h.issued_today)),
      el('td', 'n num', count(h.served_today)),
      windows,
      el('td', 'n num', percentText(h.load)),
      el('td', 'n num', percentText(h.satisfaction_rate)),
      alertCell(h),
      advice);
    return tr;
  });
  tbody.replaceChildren(...rows);

  const foot = $('halls-foot');
  if (model.halls.length > 1) {
    const sum = (f) => model.halls.reduce((s, h) => s + Math.max(0, num(f(h), 0)), 0);
    const tr = el('tr');
    const th = el('th', null, '合计');
    th.scope = 'row';
    const alerts = el('td', null, `${sum((h) => h.alerts_open)} 条`);
    tr.append(th,
      el('td', 'n num', String(sum(waitingOf))),
      el('td', 'n num', ''),
      el('td', 'n num', ''),
      el('td', 'n num', String(sum((h) => h.issued_today))),
      el('td', 'n num', String(sum((h) => h.served_today))),
      el('td', 'n num', `${sum((h) => h.windows_open)}/${sum((h) => h.windows_total)}`),
      el('td', 'n num', ''),
      el('td', 'n num', ''),
      alerts,
      el('td', null, ''));
    foot.replaceChildren(tr);
  } else {
    foot.replaceChildren();
  }

  setText($('halls-count'), model.hadSnapshot ? `共 ${model.halls.length} 个` : '');
  const empty = $('halls-empty');
  empty.hidden = model.halls.length > 0;
  setText(empty, model.hadSnapshot ? '当前账号没有可查看的服务大厅。' : '正在加载…');
  renderScope();
  tickLongest();
}

/** The longest wait counts on from the summary's time while someone waits. */
function tickLongest() {
  for (const td of $('halls-body').querySelectorAll('td.longest')) {
    const h = model.halls.find((x) => str(x.hall) === td.dataset.hall);
    if (!h) continue;
    const base = num(h.longest_wait_s, 0);
    const since = clock.since(h.at);
    const s = waitingOf(h) > 0 ? base + (since ?? 0) : null;
    setText(td, s === null ? '—' : minutes(s));
  }
}

function tickClock() {
  const p = clock.parts();
  setText($('clock-date'), `${p.y}年${p.mo}月${p.d}日 ${WEEKDAYS[p.wd]}`);
  const t = `${pad(p.h)}:${pad(p.mi)}:${pad(p.s)}`;
  setText($('clock-time'), t);
  $('clock-time').dateTime = `${p.y}-${pad(p.mo)}-${pad(p.d)}T${t}`;
}

// ------------------------------------------------------------------ messages

function onSnapshot(m) {
  model.halls = (Array.isArray(m.halls) ? m.halls : []).filter((h) => h && typeof h === 'object' && str(h.hall));
  const latest = model.halls.map((h) => str(h.at)).sort().pop();
  if (latest) clock.note(latest, m.clock_rate);
  model.hadSnapshot = true;
  live = true;
  renderHalls();
  setState('live');
  tickClock();
}

function onSummary(m) {
  const id = str(m.hall);
  if (!id) return;
  clock.note(m.at, m.clock_rate);
  const i = model.halls.findIndex((h) => str(h.hall) === id);
  if (i >= 0) model.halls[i] = m;
  else model.halls.push(m);
  renderHalls();
}

function onMessage(m) {
  switch (m.type) {
    case 'snapshot': onSnapshot(m); break;
    case 'summary': if (live) onSummary(m); break;
    default: break;
  }
}

// ------------------------------------------------------------------ start

function openSocket() {
  conn = connect('ws/region', onMessage, (status, info) => {
    if (stopped) return;
    if (status === 'open') {
      connFailures = 0;
    } else if (status === 'closed') {
      live = false;
      setState('offline');
      if (info.wasOpen) {
        if (info.code === 1008 || info.code === 4401 || info.code === 4403) maybeRecheckAuth(true);
      } else {
        connFailures += 1;
        if (connFailures >= 2) maybeRecheckAuth(false);
      }
    }
  });
}

async function start() {
  for (const b of document.querySelectorAll('[data-logout]')) {
    b.addEventListener('click', async () => {
      b.disabled = true;
      if (!await logout()) b.disabled = false;
    });
  }
  tickClock();
  const loop = () => {
    tickClock();
    if (model.hadSnapshot) tickLongest();
    setTimeout(loop, 1000 - (Date.now() % 1000) + 5);
  };
  setTimeout(loop, 1000 - (Date.now() % 1000) + 5);
  renderHalls();
  setState('connecting');
  const result = await checkAuth();
  if (result === 'redirect') return;
  openSocket();
}

start();
