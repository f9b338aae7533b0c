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
// The roll-up above it (按行政区划汇总): GET api/regions, every region on the
// halls' paths (province, city, county, township) with its totals, asked
// every 5 s while the page is live. With several instances it covers every
// hall of the scope, whichever instance runs it; hidden when no hall in scope
// has a region path.
//
// Hooks for tests: <body data-state="connecting|live|offline">; rows
// tr[data-hall] in #halls-body, each with a link to the hall's dashboard;
// rows tr[data-region] (the code) in #rollup-body.

import {
  str, num, el, setText, takeTokenParam, ServerClock, percentText, minutesText,
  countText, livePage, headerClock, everySecond, bindLogout, SEVERITIES, apiUrl,
} from './common.js';

/** How often the roll-up is asked for while the page is live. */
const ROLLUP_MS = 5000;

const $ = (id) => document.getElementById(id);
const pageToken = takeTokenParam();

const model = {
  halls: [],          // SummaryView, in configuration order
  hadSnapshot: false,
  me: null,
};

const clock = new ServerClock();
const tickClock = headerClock(clock);

const waitingOf = (h) => Object.values(h.waiting && typeof h.waiting === 'object' ? h.waiting : {})
  .reduce((s, v) => s + Math.max(0, num(v, 0)), 0);

// ------------------------------------------------------------------ page state

const page = livePage({
  banner: $('conn-banner'),
  bannerDelayMs: 1500,
  bannerText: (wasLive) => (wasLive
    ? '与服务器的连接中断，正在自动重连。表中数据停留在断开时，恢复后自动更新。'
    : '暂时无法连接服务器，正在自动重试…'),
  recheck: () => checkAuth(),
});

/** 'ok', 'stopped' (or gone to the login page) or 'unknown' (server unreachable). */
async function checkAuth() {
  const answer = await page.me(null, pageToken);
  if (!answer) return 'stopped';
  const { status, me } = answer;
  if (status !== 200 || !me) return 'unknown';
  model.me = me;
  setText($('user-name'), str(me.name));
  renderScope();
  return 'ok';
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
  for (const [sev, { text }] of Object.entries(SEVERITIES)) {
    const n = Math.max(0, num(by[sev], 0));
    if (n === 0) continue;
    any = true;
    const b = el('span', `badge sev-${sev}`);
    const icon = el('span', 'badge-icon');
    icon.setAttribute('aria-hidden', 'true');
    b.append(icon, el('span', null, `${text} ${n}`));
    box.append(b);
  }
  if (!any) box.append(el('span', 'none', num(h.alerts_open, 0) > 0 ? `${countText(h.alerts_open)} 条` : '无'));
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
    // Open windows against those on duty now; 空岗 named when any.
    const windows = el('td', 'n num windows');
    windows.append(`${countText(h.windows_open)}/${countText(num(h.windows_on_duty, h.windows_total))}`);
    if (num(h.windows_unattended, 0) > 0) windows.append(el('span', 'unattended', `空岗 ${countText(h.windows_unattended)}`));
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
      el('td', 'n num', minutesText(h.avg_wait_s)),
      el('td', 'n num', countText(h.issued_today)),
      el('td', 'n num', countText(h.served_today)),
      el('td', 'n num', countText(h.cases_today)),
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
      el('td', 'n num', String(sum((h) => h.cases_today))),
      el('td', 'n num', `${sum((h) => h.windows_open)}/${sum((h) => num(h.windows_on_duty, h.windows_total))}`),
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
    setText(td, s === null ? '—' : minutesText(s));
  }
}

// ------------------------------------------------------------------ roll-up

let rollupAsked = 0;

async function refreshRollup() {
  rollupAsked = Date.now();
  let body;
  try {
    const res = await fetch(apiUrl('api/regions'), { cache: 'no-store', headers: { Accept: 'application/json' } });
    if (!res.ok) return;
    body = await res.json();
  } catch {
    return; // the page's own state says the server is away; keep the last table
  }
  renderRollup(Array.isArray(body && body.regions) ? body.regions : []);
}

function renderRollup(regions) {
  const section = $('rollup');
  const rows = regions.filter((r) => r && typeof r === 'object' && str(r.code)).map((r) => {
    const tr = el('tr');
    tr.dataset.region = str(r.code);
    const depth = Math.min(5, Math.max(1, num(r.depth, 1)));
    const th = el('th', `region depth-${depth}`, str(r.name) || str(r.code));
    th.scope = 'row';
    const cards = r.cards_month && typeof r.cards_month === 'object' ? r.cards_month : {};
    const sev = r.alerts_by_severity && typeof r.alerts_by_severity === 'object' ? r.alerts_by_severity : {};
    const critical = Math.max(0, num(sev.critical, 0));
    const alerts = el('td', `n num${critical ? ' has-critical' : ''}`, countText(r.alerts_open));
    if (critical) alerts.title = `其中严重 ${critical} 条`;
    const advice = el('td', 'advice');
    const short = Array.isArray(r.advice) ? r.advice : [];
    if (short.length) {
      const ul = el('ul', 'advice-list');
      for (const h of short) {
        const li = el('li', null, str(h.name) || str(h.hall));
        li.title = (Array.isArray(h.advice) ? h.advice.map(str) : []).join('；');
        ul.append(li);
      }
      advice.append(ul);
    } else {
      advice.append(el('span', 'none', '无'));
    }
    const unattended = Math.max(0, num(r.windows_unattended, 0));
    const yellow = Math.max(0, num(cards.yellow, 0));
    const red = Math.max(0, num(cards.red, 0));
    tr.append(th,
      el('td', 'n num', `${countText(r.reporting)}/${countText(r.halls)}`),
      el('td', 'n num', countText(r.waiting)),
      el('td', 'n num', num(r.waiting, 0) > 0 ? minutesText(r.longest_wait_s) : '—'),
      el('td', 'n num', countText(r.issued_today)),
      el('td', 'n num', countText(r.cases_today)),
      el('td', 'n num', `${countText(r.windows_open)}/${countText(r.windows_on_duty)}`),
      el('td', `n num${unattended ? ' unattended' : ''}`, countText(unattended)),
      alerts,
      el('td', 'n num', percentText(r.satisfaction_rate)),
      el('td', `n num${yellow ? ' card-yellow' : ''}`, countText(yellow)),
      el('td', `n num${red ? ' card-red' : ''}`, countText(red)),
      advice);
    return tr;
  });
  $('rollup-body').replaceChildren(...rows);
  setText($('rollup-count'), rows.length ? `${rows.length} 个地区` : '');
  section.hidden = rows.length === 0;
}

// ------------------------------------------------------------------ messages

function onSnapshot(m) {
  model.halls = (Array.isArray(m.halls) ? m.halls : []).filter((h) => h && typeof h === 'object' && str(h.hall));
  const latest = model.halls.map((h) => str(h.at)).sort().pop();
  if (latest) clock.note(latest, m.clock_rate);
  model.hadSnapshot = true;
  renderHalls();
  page.setState('live');
  tickClock();
  refreshRollup();
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
    case 'summary': if (page.live) onSummary(m); break;
    default: break;
  }
}

// ------------------------------------------------------------------ start

async function start() {
  bindLogout();
  everySecond(() => {
    tickClock();
    if (model.hadSnapshot) tickLongest();
    if (page.live && Date.now() - rollupAsked >= ROLLUP_MS) refreshRollup();
  });
  renderHalls();
  page.setState('connecting');
  if (await checkAuth() === 'stopped') return;
  page.open('ws/region', onMessage);
}

start();
