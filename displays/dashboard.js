// hallwatch — hall manager's dashboard (大厅管理看板), for a large monitor.
//
// Data: WebSocket ws(s)://HOST/ws/dashboard/{hall}, authorised by the HttpOnly
// cookie that login.html obtains (role manager or admin, hall in scope). A
// screen that cannot type may be opened once with `?token=…`: the page logs in
// with it, drops it from the address bar, and logs in again with it when the
// cookie has expired.
//
// The first message after every connect is a `snapshot` that replaces
// everything; then deltas: `load` (one window tile, by id), `queue` (one
// service, by code), `staffing`, `kpi`, `alert` (by id; resolved ones leave
// the list) and `call`. `ping` keeps the line alive; unknown types are ignored.
// Durations count on by themselves between messages at the server clock's
// rate (`clock_rate` of the snapshot), from the snapshot's `at`; server times
// in later deltas (an alert's `updated_at`, a queue's longest wait) keep that
// estimate from falling behind.
//
// Without `?hall=` the page asks api/me: a token for one hall goes to that
// hall's dashboard, one for several to region.html.
//
// Hooks for tests: <body data-state="connecting|live|offline"> (plus
// data-error when the page cannot work); tiles li[data-window][data-status]
// in #tiles with .t-ticket, .t-staff and the bar .t-bar[data-served]
// [data-benchmark][data-band] whose text .t-bar-text reads 「12/25」; KPIs
// [data-kpi=NAME] .kpi-value in #kpi-list; the advice lines in #advice; rows
// tr[data-service] in #staffing-body and #queue-body; alerts
// li[data-alert-id][data-rule][data-severity] in #alert-list.

import {
  queryParam, parseTime, str, num, el, setText, takeTokenParam, ServerClock,
  durationText, percentText, minutesText, countText, RULES, SEVERITIES, livePage, headerClock,
  everySecond, bindLogout, hallExists,
} from './common.js';

// ------------------------------------------------------------------ vocabulary

const STATUS_TEXT = { offline: '离线', idle: '空闲', calling: '叫号中', serving: '办理中', paused: '暂停' };

/** Hours the chart shows when the day has no figures yet. */
const DEFAULT_HOURS = [8, 18];

const $ = (id) => document.getElementById(id);
const hallId = queryParam('hall');
const pageToken = takeTokenParam();

// ------------------------------------------------------------------ state

const model = {
  hall: null,           // {id, name, level}
  date: null,           // 'YYYY-MM-DD', the hall's day
  windows: [],          // DashWindow, server order
  queues: [],           // DashQueue, server order
  staffing: null,       // StaffingAdvice
  kpi: null,            // KpiView
  alerts: new Map(),    // id -> AlertView (open or acknowledged)
  alertsOmitted: 0,     // open alerts the snapshot had no room for
  hadSnapshot: false,
  me: null,
};

const clock = new ServerClock();
const tickClock = headerClock(clock);

// ------------------------------------------------------------------ small helpers

const ruleName = (rule) => (Object.hasOwn(RULES, rule) ? RULES[rule] : rule || '告警');
const sevInfo = (sev) => (Object.hasOwn(SEVERITIES, sev) ? SEVERITIES[sev] : { text: sev || '提示', rank: 9 });

/** 1.5 windows as 「1.5」, 2 as 「2」. */
function decimal(v) {
  const n = num(v, null);
  if (n === null) return '—';
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}

/** The load band of served / benchmark: how the bar is coloured. */
function band(load) {
  if (load >= 1.2) return 'over';
  if (load >= 1) return 'full';
  if (load >= 0.8) return 'mid';
  return 'low';
}

const BAND_TEXT = { low: '低于 80%', mid: '80%–100%', full: '达到基准', over: '超出基准 20% 以上' };

function windowStatus(w) {
  return Object.hasOwn(STATUS_TEXT, w.status) ? w.status : 'offline';
}

// ------------------------------------------------------------------ page state

const page = livePage({
  banner: $('conn-banner'),
  bannerDelayMs: 1500,
  bannerText: (wasLive) => (wasLive
    ? '与服务器的连接中断，正在自动重连。屏幕上的数据停留在断开时，恢复后自动更新。'
    : '暂时无法连接服务器，正在自动重试…'),
  // The socket keeps failing while the session is good: is the hall known at all?
  recheck: async () => { if (await checkAuth() === 'ok') await checkHallExists(); },
  onForbidden: () => forbiddenHall(),
  inert: $('board'),
});

function showFatal(kind, title, text, link = null) {
  page.fatal(kind, title, text, { link, stop: true });
}

const OTHER_HALLS = { href: 'dashboard.html', text: '查看我可访问的大厅' };

// ------------------------------------------------------------------ auth

/** 'ok', 'forbidden', 'stopped' (or gone to the login page) or 'unknown' (server unreachable). */
async function checkAuth() {
  const answer = await page.me(hallId, pageToken);
  if (!answer) return 'stopped';
  const { status, me } = answer;
  if (status !== 200 || !me) return 'unknown';
  model.me = me;
  setText($('user-name'), str(me.name));
  const halls = Array.isArray(me.halls) ? me.halls.map(String) : [];
  $('region-link').hidden = !(halls.includes('*') || halls.length > 1);
  const role = str(me.role);
  if (role && role !== 'manager' && role !== 'admin') {
    showFatal('forbidden-role', '无权查看大厅管理看板',
      `当前账号（${str(me.name) || role}）不是大厅管理人员账号。请退出后使用管理人员的访问令牌登录。`,
      role === 'supervisor' ? { href: 'supervisor.html', text: '打开电子效能监察台' } : null);
    return 'forbidden';
  }
  if (!halls.includes('*') && !halls.includes(hallId)) {
    forbiddenHall();
    return 'forbidden';
  }
  return 'ok';
}

function forbiddenHall() {
  const who = model.me && str(model.me.name) ? `当前账号（${str(model.me.name)}）` : '当前账号';
  showFatal('forbidden', '无权查看该大厅',
    `${who}的管理范围不包括「${hallId}」。如需查看，请联系系统管理员。`, OTHER_HALLS);
}

async function checkHallExists() {
  if (await hallExists(hallId) === false) {
    showFatal('unknown-hall', '未找到服务大厅', `服务大厅「${hallId}」不存在或尚未配置。`, OTHER_HALLS);
  }
}

/** No ?hall=: one hall in scope opens it, several open the region page. */
async function chooseHall() {
  const answer = await page.me(null, pageToken);
  if (!answer) return;
  const { status, me } = answer;
  if (status !== 200 || !me) {
    showFatal('unreachable', '暂时无法连接服务器', '请检查网络后刷新页面。');
    return;
  }
  const halls = Array.isArray(me.halls) ? me.halls.map(String) : [];
  if (halls.includes('*') || halls.length > 1) {
    location.replace(new URL('region.html', document.baseURI).href);
  } else if (halls.length === 1) {
    location.replace(new URL(`dashboard.html?hall=${encodeURIComponent(halls[0])}`, document.baseURI).href);
  } else {
    showFatal('no-halls', '没有可查看的服务大厅', '当前账号未分配任何服务大厅，请联系系统管理员。');
  }
}

// ------------------------------------------------------------------ header

function renderHall() {
  const name = (model.hall && (str(model.hall.name) || str(model.hall.id))) || hallId || '大厅管理看板';
  setText($('hall-name'), name);
  document.title = `${name} · 大厅管理看板`;
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(str(model.date));
  setText($('hall-date'), m ? ` · ${Number(m[1])}年${Number(m[2])}月${Number(m[3])}日` : '');
}

// ------------------------------------------------------------------ KPIs

const KPIS = [
  ['issued', '取号', (k) => countText(k.issued), '张'],
  ['served', '办结', (k) => countText(k.served), '件'],
  ['waiting', '等候', (k) => countText(k.waiting), '人'],
  ['windows_open', '在岗窗口', (k) => `${countText(k.windows_open)}/${countText(k.windows_total)}`, ''],
  ['on_the_spot_rate', '即办率', (k) => percentText(k.on_the_spot_rate), ''],
  ['satisfaction_rate', '满意率', (k) => percentText(k.satisfaction_rate), ''],
  ['rating_rate', '评价率', (k) => percentText(k.rating_rate), ''],
  ['missed_rate', '过号率', (k) => percentText(k.missed_rate), ''],
  ['avg_wait_s', '平均等候', (k) => minutesText(k.avg_wait_s), ''],
  ['avg_service_s', '平均办理', (k) => minutesText(k.avg_service_s), ''],
  // Appointments: checked in of those booked (cancelled ones aside), and 爽约率.
  ['appointments', '预约签到', (k) => {
    const a = k.appointments;
    if (!a || typeof a !== 'object') return '—';
    return `${countText(a.checked_in)}/${countText(a.booked - a.cancelled)}`;
  }, ''],
  ['no_show_rate', '爽约率', (k) => percentText(k.appointments ? k.appointments.no_show_rate : null), ''],
];

function renderKpis() {
  const list = $('kpi-list');
  if (!list.childElementCount) {
    for (const [key, label] of KPIS) {
      const box = el('div', 'kpi');
      box.dataset.kpi = key;
      const value = el('dd', 'kpi-value num', '—');
      box.append(el('dt', 'kpi-label', label), value);
      list.append(box);
    }
  }
  const k = model.kpi || {};
  for (const [key, , fmt, unit] of KPIS) {
    const box = list.querySelector(`[data-kpi="${key}"]`);
    const value = box.querySelector('.kpi-value');
    const text = model.kpi ? fmt(k) : '—';
    const sig = `${text}|${unit}`;
    if (value.dataset.sig === sig) continue;
    value.dataset.sig = sig;
    value.replaceChildren(text);
    if (unit && text !== '—') value.append(el('span', 'kpi-unit', unit));
  }
}

// ------------------------------------------------------------------ window tiles

const tiles = new Map(); // id -> tile parts

function makeTile() {
  const li = el('li', 'tile');
  const head = el('div', 't-head');
  const name = el('h3', 't-name');
  const statusText = el('span', 't-status');
  head.append(name, statusText);
  const row = el('div', 't-row');
  const ticket = el('p', 't-ticket num');
  const since = el('p', 't-since num');
  row.append(ticket, since);
  const staff = el('p', 't-staff');
  const duty = el('p', 't-duty');
  const bar = el('div', 't-bar');
  bar.setAttribute('role', 'meter');
  bar.setAttribute('aria-valuemin', '0');
  const track = el('div', 't-track');
  track.setAttribute('aria-hidden', 'true');
  const fill = el('div', 't-fill');
  track.append(fill);
  const barText = el('span', 't-bar-text num');
  barText.setAttribute('aria-hidden', 'true');
  bar.append(el('span', 't-bar-label', '今日办结'), track, barText);
  const meta = el('p', 't-meta');
  li.append(head, row, staff, duty, bar, meta);
  return { li, name, statusText, since, ticket, staff, duty, bar, fill, barText, meta, sig: '' };
}

function updateTile(t, w) {
  const status = windowStatus(w);
  t.li.dataset.window = w.id;
  t.li.dataset.status = status;
  t.li.className = `tile st-${status}`;
  // What the benchmark counts: cases (件), or people (人次) at the guide
  // and consultation desks.
  const people = w.benchmark_counts === 'people';
  const unit = people ? '人次' : '件';
  const tickets = Math.max(0, num(w.served_today, 0));
  const served = people ? tickets : Math.max(0, num(w.cases_today, tickets));
  const benchmark = Math.max(0, num(w.benchmark, 0));
  const load = num(w.load, benchmark > 0 ? served / benchmark : 0);
  const sig = JSON.stringify([w.name, status, w.ticket, w.staff, w.staff_name, served, tickets, benchmark, load,
    w.avg_service_s, w.satisfaction_rate, w.missed_today, w.on_duty, w.shift, w.attendance, w.department_name]);
  if (sig !== t.sig) {
    t.sig = sig;
    // A window off duty that nobody staffs is closed, not 空岗.
    const offDuty = w.on_duty === false && status === 'offline';
    t.li.classList.toggle('off-duty', offDuty);
    setText(t.name, str(w.name) || `${w.id}号窗口`);
    setText(t.statusText, offDuty ? '非值班' : status === 'offline' && w.on_duty ? '空岗' : STATUS_TEXT[status]);

    const ticket = str(w.ticket);
    t.ticket.replaceChildren();
    if (ticket && (status === 'calling' || status === 'serving')) {
      t.ticket.append(el('span', 't-ticket-no', ticket));
    } else {
      t.ticket.append(el('span', 't-ticket-none', offDuty ? '不在值班时段' : status === 'offline' ? '无人在岗' : status === 'paused' ? '暂停服务' : '等待叫号'));
    }
    t.ticket.dataset.ticket = ticket;

    t.staff.replaceChildren();
    if (str(w.staff)) {
      t.staff.append(el('span', 't-staff-name', str(w.staff_name) || '工作人员'),
        el('span', 't-staff-no num', `工号 ${str(w.staff)}`));
    } else {
      t.staff.append(el('span', 't-staff-none', '未登录'));
    }

    renderDuty(t.duty, w);

    const b = band(load);
    t.bar.dataset.served = String(served);
    t.bar.dataset.benchmark = String(benchmark);
    t.bar.dataset.band = b;
    t.bar.className = `t-bar load-${b}`;
    t.bar.setAttribute('aria-label', `${str(w.name) || w.id}今日办结`);
    t.bar.setAttribute('aria-valuemax', String(Math.max(benchmark, served, 1)));
    t.bar.setAttribute('aria-valuenow', String(served));
    t.bar.setAttribute('aria-valuetext',
      `今日办结 ${served} ${unit}，基准 ${benchmark} ${unit}，负荷 ${Math.round(load * 100)}%（${BAND_TEXT[b]}）`);
    t.fill.style.width = `${Math.min(100, Math.max(0, load * 100)).toFixed(1)}%`;
    setText(t.barText, `${served}/${benchmark}`);

    const meta = [];
    if (str(w.department_name)) meta.push(str(w.department_name));
    if (!people && tickets !== served) meta.push(`办结 ${countText(tickets)} 个号`);
    if (num(w.avg_service_s, null) !== null) meta.push(`平均办理 ${minutesText(w.avg_service_s)}`);
    if (num(w.satisfaction_rate, null) !== null) meta.push(`满意率 ${percentText(w.satisfaction_rate)}`);
    if (num(w.missed_today, 0) > 0) meta.push(`过号 ${countText(w.missed_today)}`);
    setText(t.meta, meta.join(' · '));
    t.meta.hidden = meta.length === 0;
  }
  tickTile(t, w);
}

// The window's rostered shift (A角 keeps it, B角 covers) and how the A角
// kept today's shifts so far.
function renderDuty(p, w) {
  p.replaceChildren();
  const shift = w.shift && typeof w.shift === 'object' ? w.shift : null;
  if (!shift) {
    p.hidden = true;
    return;
  }
  p.hidden = false;
  const hm = (t) => str(t).slice(11, 16);
  const who = (role, x) => (x && str(x.name) ? `${role} ${str(x.name)}` : '');
  const parts = [`值班 ${hm(shift.start)}–${hm(shift.end)}`, who('A角', shift.a), who('B角', shift.b)].filter(Boolean);
  p.append(el('span', 't-duty-shift', parts.join(' · ')));
  const a = w.attendance && typeof w.attendance === 'object' ? w.attendance : null;
  const marks = [];
  if (a) {
    if (num(a.not_arrived, 0) > 0) marks.push('未到岗');
    if (num(a.late, 0) > 0) marks.push(`迟到${num(a.late, 0) > 1 ? ` ${countText(a.late)} 次` : ''}`);
    if (num(a.early_leave, 0) > 0) marks.push('早退');
    if (num(a.absences, 0) > 0) marks.push(`离岗 ${countText(a.absences)} 次`);
  }
  for (const m of marks) p.append(el('span', 't-att-mark', m));
}

function tickTile(t, w) {
  const s = clock.since(w.since);
  setText(t.since, s === null ? '' : `已 ${durationText(s)}`);
}

function renderTiles() {
  const list = $('tiles');
  const keep = new Set(model.windows.map((w) => w.id));
  for (const [id, t] of tiles) {
    if (!keep.has(id)) { t.li.remove(); tiles.delete(id); }
  }
  model.windows.forEach((w, i) => {
    let t = tiles.get(w.id);
    if (!t) { t = makeTile(); tiles.set(w.id, t); }
    updateTile(t, w);
    if (list.children[i] !== t.li) list.insertBefore(t.li, list.children[i] || null);
  });
  const open = model.windows.filter((w) => ['idle', 'calling', 'serving'].includes(windowStatus(w))).length;
  setText($('windows-count'), model.windows.length ? `开放 ${open} / 共 ${model.windows.length} 个` : '');
  const empty = $('tiles-empty');
  empty.hidden = model.windows.length > 0;
  setText(empty, model.hadSnapshot ? '本大厅尚未配置窗口' : '正在加载…');
}

function flashTile(id) {
  const t = tiles.get(id);
  if (!t) return;
  t.li.classList.remove('flash');
  void t.li.offsetWidth; // restart the animation
  t.li.classList.add('flash');
  setTimeout(() => t.li.classList.remove('flash'), 2500);
}

// ------------------------------------------------------------------ queues

/** The row of a service table that has no services (yet). */
function noServicesRow() {
  const tr = el('tr');
  const td = el('td', 'empty-row', model.hadSnapshot ? '暂无业务' : '正在加载…');
  td.colSpan = 6;
  tr.append(td);
  return tr;
}

function renderQueues() {
  const tbody = $('queue-body');
  const rows = model.queues.map((q) => {
    const tr = el('tr');
    tr.dataset.service = str(q.service);
    const waiting = Math.max(0, num(q.waiting, 0));
    if (waiting === 0) tr.classList.add('is-zero');
    const th = el('th', 'q-name');
    th.scope = 'row';
    if (str(q.prefix)) th.append(el('span', 'prefix num', str(q.prefix)));
    th.append(str(q.name) || str(q.service));
    if (str(q.department_name)) th.append(el('span', 'q-dept', str(q.department_name)));
    const longest = el('td', 'n num q-longest');
    longest.dataset.since = str(q.longest_since);
    tr.append(th,
      el('td', 'n num q-waiting', String(waiting)),
      longest,
      el('td', 'n num', minutesText(q.avg_wait_s)),
      el('td', 'n num', countText(q.issued_today)),
      el('td', 'n num', countText(q.served_today)));
    return tr;
  });
  if (rows.length === 0) rows.push(noServicesRow());
  tbody.replaceChildren(...rows);
  const total = model.queues.reduce((s, q) => s + Math.max(0, num(q.waiting, 0)), 0);
  setText($('queues-total'), model.queues.length ? `共 ${total} 人等候` : '');
  tickQueues();
}

function tickQueues() {
  for (const td of $('queue-body').querySelectorAll('.q-longest')) {
    const s = td.dataset.since ? clock.since(td.dataset.since) : null;
    setText(td, s === null ? '—' : minutesText(s));
  }
}

// ------------------------------------------------------------------ staffing advice

let adviceSig = '';

function renderStaffing() {
  const s = model.staffing;
  // The live region: touched only when the advice itself changes.
  const lines = s && Array.isArray(s.advice) ? s.advice.map(str).filter(Boolean) : [];
  const sig = JSON.stringify([!!s, lines]);
  if (sig !== adviceSig) {
    adviceSig = sig;
    const box = $('advice');
    if (!s) {
      box.replaceChildren(el('p', 'advice-none', model.hadSnapshot ? '暂无调度数据' : '正在加载…'));
    } else if (lines.length === 0) {
      box.replaceChildren(el('p', 'advice-none', '各业务在岗窗口与预计业务量相符，暂无调整建议。'));
    } else {
      const ul = el('ul', 'advice-list');
      for (const line of lines) {
        const kind = /开放|空岗|缺口/.test(line) ? 'open' : /关闭/.test(line) ? 'close' : 'other';
        const li = el('li', `advice-line advice-${kind}`);
        const icon = el('span', 'advice-icon', kind === 'open' ? '▲' : kind === 'close' ? '▼' : '●');
        icon.setAttribute('aria-hidden', 'true');
        li.append(icon, el('span', 'advice-text', line));
        ul.append(li);
      }
      box.replaceChildren(ul);
    }
  }

  const basis = $('staffing-basis');
  if (s) {
    const share = num(s.share_passed, null);
    const how = s.profile === 'learnt'
      ? `按近 ${countText(s.profile_days)} 天的到达规律预测`
      : '暂无足够历史数据，按办公时间平均预测';
    const parts = [how];
    if (share !== null) parts.push(`全天到达已过约 ${percentText(share)}`);
    parts.push(`余下需求 ${decimal(Math.round(num(s.demand, 0)))} 件，在岗窗口尚可办 ${decimal(Math.round(num(s.capacity, 0)))} 件`);
    parts.push(`规划基准 ${countText(s.benchmark)} 件/窗口/天，${decimal(s.staff_per_window)} 人/窗口`);
    setText(basis, `${parts.join('；')}。`);
  } else {
    setText(basis, '');
  }

  const services = s && Array.isArray(s.services) ? s.services : [];
  const rows = services.map((x) => {
    const tr = el('tr');
    tr.dataset.service = str(x.service);
    const short = Math.round(num(x.shortfall, 0));
    if (short > 0) tr.classList.add('needs-more');
    const th = el('th', null, str(x.name) || str(x.service));
    th.scope = 'row';
    const unit = x.unit === 'people' ? '人次' : '件';
    const advice = el('td', 'change', short > 0 ? `缺口 ${short} ${unit}` : '够用');
    advice.title = str(x.advice);
    const forecast = el('td', 'n num s-forecast', decimal(Math.round(num(x.forecast, 0))));
    forecast.title = `已取号 ${countText(x.issued)} 张`;
    tr.append(th,
      forecast,
      el('td', 'n num', countText(x.windows_needed)),
      el('td', 'n num', countText(x.staff_needed)),
      el('td', 'n num', countText(x.windows_open)),
      advice);
    return tr;
  });
  if (rows.length === 0) rows.push(noServicesRow());
  $('staffing-body').replaceChildren(...rows);

  const foot = $('staffing-foot');
  if (s) {
    const tr = el('tr');
    const th = el('th', null, '全厅');
    th.scope = 'row';
    const staff = el('td', 'staff-duty', `在岗 ${countText(s.staff_on_duty)} 人`);
    tr.append(th,
      el('td', 'n num', decimal(Math.round(num(s.forecast, 0)))),
      el('td', 'n num', countText(s.windows_needed)),
      el('td', 'n num', countText(s.staff_needed)),
      el('td', 'n num', countText(s.windows_open)),
      staff);
    foot.replaceChildren(tr);
  } else {
    foot.replaceChildren();
  }
}

// ------------------------------------------------------------------ hourly chart

const SVG = 'http://www.w3.org/2000/svg';

function svg(tag, attrs = {}, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

/** The hours worth showing: from the first to the last with anything in it. */
function chartHours(hourly) {
  const used = hourly.filter((h) => num(h.arrivals, 0) > 0 || num(h.served, 0) > 0 || num(h.expected, 0) > 0)
    .map((h) => num(h.hour, 0));
  let [from, to] = used.length ? [Math.min(...used), Math.max(...used)] : DEFAULT_HOURS;
  if (to - from < 3) { // a very short day still gets a readable width
    from = Math.max(0, Math.min(from, to - 3));
    to = Math.min(23, Math.max(to, from + 3));
  }
  return hourly.filter((h) => num(h.hour, -1) >= from && num(h.hour, -1) <= to);
}

let chartSig = '';

function renderChart(force) {
  const hourly = model.kpi && Array.isArray(model.kpi.hourly) ? model.kpi.hourly : [];
  const box = $('chart-box');
  const width = Math.max(200, Math.floor(box.clientWidth));
  const height = Math.max(120, Math.floor(box.clientHeight));
  const nowHour = clock.parts().h;
  const sig = JSON.stringify([hourly, width, height, nowHour]);
  if (!force && sig === chartSig) return;
  chartSig = sig;

  const hours = chartHours(hourly);
  // The table for screen readers (and anyone who wants the numbers).
  $('chart-body').replaceChildren(...hours.map((h) => {
    const tr = el('tr');
    const th = el('th', null, `${num(h.hour, 0)}:00–${num(h.hour, 0) + 1}:00`);
    th.scope = 'row';
    tr.append(th, el('td', null, countText(h.arrivals)), el('td', null, countText(h.served)),
      el('td', null, decimal(num(h.expected, 0))));
    return tr;
  }));

  const rem = parseFloat(getComputedStyle(document.documentElement).fontSize) || 16;
  const font = Math.round(rem * 0.85);
  const m = { top: Math.round(font * 0.8), right: Math.round(font * 0.6), bottom: Math.round(font * 1.9), left: Math.round(font * 2.6) };
  const plotW = width - m.left - m.right;
  const plotH = height - m.top - m.bottom;
  const root = svg('svg', { width, height, viewBox: `0 0 ${width} ${height}`, class: 'chart-svg', 'aria-hidden': 'true', focusable: 'false' });
  if (hours.length === 0 || plotW <= 0 || plotH <= 0) {
    box.replaceChildren(root);
    return;
  }
  const maxV = Math.max(1, ...hours.map((h) => Math.max(num(h.arrivals, 0), num(h.served, 0), num(h.expected, 0))));
  const step = niceStep(maxV / 4);
  const top = Math.ceil(maxV / step) * step;
  const y = (v) => m.top + plotH - (v / top) * plotH;
  const slot = plotW / hours.length;
  const barW = Math.max(2, Math.min(slot * 0.34, font * 2.2));

  for (let v = 0; v <= top + 1e-9; v += step) {
    root.append(svg('line', { x1: m.left, x2: m.left + plotW, y1: y(v), y2: y(v), class: v === 0 ? 'axis' : 'grid' }));
    root.append(svg('text', { x: m.left - font * 0.4, y: y(v) + font * 0.35, 'text-anchor': 'end', class: 'tick', 'font-size': font }, String(Math.round(v))));
  }
  const labelEvery = Math.ceil((font * 2.6) / slot);
  hours.forEach((h, i) => {
    const hour = num(h.hour, 0);
    const cx = m.left + slot * (i + 0.5);
    if (hour === nowHour) {
      root.append(svg('rect', { x: m.left + slot * i, y: m.top, width: slot, height: plotH, class: 'now' }));
    }
    const a = num(h.arrivals, 0);
    const s = num(h.served, 0);
    root.append(svg('rect', { x: cx - barW - 1, y: y(a), width: barW, height: Math.max(0, y(0) - y(a)), class: 'bar-arrivals', rx: 2 }));
    root.append(svg('rect', { x: cx + 1, y: y(s), width: barW, height: Math.max(0, y(0) - y(s)), class: 'bar-served', rx: 2 }));
    if (i % labelEvery === 0) {
      root.append(svg('text', { x: cx, y: m.top + plotH + font * 1.3, 'text-anchor': 'middle', class: hour === nowHour ? 'tick tick-now' : 'tick', 'font-size': font }, `${hour}时`));
    }
  });
  const pts = hours.map((h, i) => `${(m.left + slot * (i + 0.5)).toFixed(1)},${y(num(h.expected, 0)).toFixed(1)}`);
  root.append(svg('polyline', { points: pts.join(' '), class: 'line-expected', fill: 'none' }));
  for (const p of pts) {
    const [px, py] = p.split(',');
    root.append(svg('circle', { cx: px, cy: py, r: Math.max(2, font * 0.22), class: 'dot-expected' }));
  }
  box.replaceChildren(root);
}

/** 1, 2, 5, 10, 20, 50 … the gridline step just above `raw`. */
function niceStep(raw) {
  const p = 10 ** Math.floor(Math.log10(Math.max(raw, 1e-9)));
  for (const k of [1, 2, 5, 10]) if (raw <= k * p) return Math.max(1, k * p);
  return Math.max(1, 10 * p);
}

// ------------------------------------------------------------------ alerts

function compareAlerts(a, b) {
  const r = sevInfo(a.severity).rank - sevInfo(b.severity).rank;
  if (r) return r;
  return str(a.opened_at) < str(b.opened_at) ? -1 : str(a.opened_at) > str(b.opened_at) ? 1 : 0;
}

const alertRows = new Map(); // id -> {li, age, sig}

function renderAlerts() {
  const list = $('alert-list');
  const shown = [...model.alerts.values()].sort(compareAlerts);
  const keep = new Set(shown.map((a) => a.id));
  for (const [id, r] of alertRows) {
    if (!keep.has(id)) { r.li.remove(); alertRows.delete(id); }
  }
  shown.forEach((a, i) => {
    let r = alertRows.get(a.id);
    const sig = JSON.stringify(a);
    if (!r || r.sig !== sig) {
      const fresh = makeAlertRow(a);
      if (r) r.li.replaceWith(fresh.li);
      r = fresh;
      r.sig = sig;
      alertRows.set(a.id, r);
    }
    if (list.children[i] !== r.li) list.insertBefore(r.li, list.children[i] || null);
  });
  const n = shown.length;
  const red = shown.filter((a) => a.severity === 'critical').length;
  setText($('alerts-count'), model.hadSnapshot ? `${n} 条${red ? `，其中严重 ${red} 条` : ''}` : '');
  const more = $('alerts-more');
  more.hidden = !model.alertsOmitted;
  setText(more, model.alertsOmitted ? `另有 ${model.alertsOmitted} 条较轻的告警未列出，请在监察台查看` : '');
  const empty = $('alerts-empty');
  empty.hidden = n > 0;
  setText(empty, model.hadSnapshot ? '当前没有待处理的告警' : '正在加载…');
  tickAlerts();
}

function makeAlertRow(a) {
  const known = Object.hasOwn(SEVERITIES, a.severity);
  const li = el('li', `alert sev-${known ? a.severity : 'unknown'}`);
  li.dataset.alertId = a.id;
  li.dataset.rule = str(a.rule);
  li.dataset.severity = str(a.severity);
  li.dataset.state = str(a.state);
  const badge = el('span', `badge sev-${known ? a.severity : 'unknown'}`);
  const icon = el('span', 'badge-icon');
  icon.setAttribute('aria-hidden', 'true');
  badge.append(icon, el('span', 'badge-text', sevInfo(a.severity).text));
  const main = el('div', 'a-main');
  const title = el('p', 'a-title');
  title.append(el('span', 'a-rule', ruleName(a.rule)));
  const subject = [str(a.window_name) || str(a.window), str(a.ticket) ? `${str(a.ticket)} 号` : '', str(a.service_name)]
    .filter(Boolean).join(' · ');
  if (subject) title.append(el('span', 'a-subject', subject));
  if (a.state === 'acknowledged') title.append(el('span', 'a-tag', '已确认'));
  if (a.escalated) title.append(el('span', 'a-tag a-tag-escalated', '已升级'));
  main.append(title);
  if (str(a.message)) main.append(el('p', 'a-msg', str(a.message)));
  const age = el('span', 'a-age num');
  age.setAttribute('aria-hidden', 'true'); // ticks: not for the live region
  li.append(badge, main, age);
  return { li, age, opened: a.opened_at, sig: '' };
}

function tickAlerts() {
  for (const r of alertRows.values()) {
    const s = clock.since(r.opened);
    setText(r.age, s === null ? '' : `已持续 ${durationText(s, { seconds: false })}`);
  }
}

// ------------------------------------------------------------------ messages

function byId(list, key) {
  return (Array.isArray(list) ? list : []).filter((x) => x && typeof x === 'object' && str(x[key]));
}

function onSnapshot(m) {
  clock.note(m.at, m.clock_rate);
  if (m.hall && typeof m.hall === 'object') model.hall = m.hall;
  model.date = str(m.date) || null;
  model.windows = byId(m.windows, 'id');
  model.queues = byId(m.queues, 'service');
  model.staffing = m.staffing && typeof m.staffing === 'object' ? m.staffing : null;
  model.kpi = m.kpi && typeof m.kpi === 'object' ? m.kpi : null;
  model.alerts = new Map();
  for (const a of byId(m.alerts, 'id')) {
    if (a.state !== 'resolved') model.alerts.set(a.id, a);
  }
  // A snapshot holds as many alerts as its size allows, the most urgent.
  model.alertsOmitted = Number.isInteger(m.alerts_omitted) && m.alerts_omitted > 0 ? m.alerts_omitted : 0;
  model.hadSnapshot = true;
  renderAll();
  page.setState('live');
}

function onLoad(m) {
  const id = str(m.id);
  if (!id) return;
  const i = model.windows.findIndex((w) => w.id === id);
  if (i >= 0) model.windows[i] = m;
  else model.windows.push(m);
  renderTiles();
}

function onQueue(m) {
  const code = str(m.service);
  if (!code) return;
  // The longest wait as of this frame says how late the server's clock was.
  const since = parseTime(m.longest_since);
  const waited = num(m.longest_wait_s, null);
  if (since !== null && waited !== null) clock.catchUp(since + waited * 1000);
  const i = model.queues.findIndex((q) => q.service === code);
  // The display channel's short form ({service, waiting}) only updates the count.
  const merged = i >= 0 ? { ...model.queues[i], ...m } : m;
  if (i >= 0) model.queues[i] = merged;
  else model.queues.push(merged);
  renderQueues();
}

function onAlert(m) {
  const id = str(m.id);
  if (!id) return;
  clock.catchUp(m.updated_at);
  if (m.state === 'resolved') model.alerts.delete(id);
  else model.alerts.set(id, m);
  renderAlerts();
}

function onMessage(m) {
  switch (m.type) {
    case 'snapshot': onSnapshot(m); break;
    // Deltas before a connection's snapshot cannot be placed; the snapshot has them.
    case 'load': if (page.live) onLoad(m); break;
    case 'queue': if (page.live) onQueue(m); break;
    case 'staffing': if (page.live) { model.staffing = m; renderStaffing(); } break;
    case 'kpi': if (page.live) { model.kpi = m; renderKpis(); renderChart(false); } break;
    case 'alert': if (page.live) onAlert(m); break;
    case 'call': if (page.live) flashTile(str(m.window)); break;
    default: break; // 'ping' is dropped by connect(); unknown types: the channel will grow
  }
}

function renderAll() {
  renderHall();
  renderKpis();
  renderTiles();
  renderQueues();
  renderStaffing();
  renderAlerts();
  renderChart(true);
  tickClock();
}

// ------------------------------------------------------------------ every second

function tick() {
  tickClock();
  if (!model.hadSnapshot) return;
  for (const w of model.windows) {
    const t = tiles.get(w.id);
    if (t) tickTile(t, w);
  }
  tickQueues();
  tickAlerts();
  renderChart(false); // moves the "now" column when the hour turns
}

// ------------------------------------------------------------------ start

async function start() {
  bindLogout();
  everySecond(tick);
  renderAll();
  page.setState('connecting');
  if (typeof ResizeObserver === 'function') {
    new ResizeObserver(() => renderChart(false)).observe($('chart-box'));
  }

  if (hallId === null) {
    await chooseHall();
    return;
  }
  if (!/^[A-Za-z0-9_-]{1,32}$/.test(hallId)) {
    showFatal('bad-hall', '服务大厅编号无效', `「${hallId}」不是有效的服务大厅编号。`, OTHER_HALLS);
    return;
  }
  const csv = $('csv-link');
  // The server names the file (hall and date); the cookie authorises it.
  csv.href = `api/halls/${encodeURIComponent(hallId)}/stats?format=csv`;

  const result = await checkAuth();
  if (result === 'stopped' || result === 'forbidden') return;
  // 'unknown' (server unreachable): connect anyway; failures will ask again.
  page.open(`ws/dashboard/${encodeURIComponent(hallId)}`, onMessage);
}

start();
