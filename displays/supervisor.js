// hallwatch — supervisor console (电子效能监察台).
//
// Data: WebSocket ws(s)://HOST/ws/alerts[?hall=ID], authorised by the HttpOnly
// cookie that login.html obtains. The first message after every connect is a
// `snapshot` (open and acknowledged alerts in scope plus those resolved today)
// that replaces everything; then `alert` messages (one alert, new or updated,
// replaced by id), `delivery` messages (how an alert's notification stands on
// a channel: DingTalk, WeCom, webhook, SMS) and `error` messages answering a
// failed ack/resolve. `ping` keeps the line alive; unknown types are ignored.
// After each snapshot the page reads GET api/deliveries for the deliveries so
// far. A link from a notification (?alert=ID or ?card=ID) brings that alert
// or card into view once it is on the page.
//
// A refused upgrade (401/403 before the handshake) looks like any failed
// connection to a browser, so the page asks GET api/me before connecting and
// again after repeated failures: 401 -> login.html?next=<this page>,
// 403 -> 「无权查看该大厅」.
//
// Hooks for tests: <body data-state="connecting|live|offline"> (plus
// data-error when the page cannot work); alert rows [data-alert-id][data-state]
// [data-severity][data-rule] in #alert-list, each with its deliveries as
// .a-deliv [data-channel][data-delivery="sent|retrying|failed|…"], today's resolved ones in
// #resolved-list; buttons [data-action="ack|resolve|submit|cancel"];
// the note field textarea[name="note"].

import {
  queryParam, parseTime, str, el, ServerClock, RULES, SEVERITIES, ALERT_STATES, NOTE_REQUIRED,
  livePage, headerClock, everySecond, bindLogout, apiUrl, durationText,
} from './common.js';

// ------------------------------------------------------------------ vocabulary

const SEVERITY_ORDER = Object.keys(SEVERITIES);

/** Rules whose resolve needs a written note (a person must follow up). */
const NOTE_REQUIRED_ON_RESOLVE = new Set(NOTE_REQUIRED);

const SOUND_KEY = 'hallwatch.console.sound';
const MAX_RESOLVED_SHOWN = 200;
const NOTE_MAX = 500;
const PENDING_TIMEOUT_MS = 12000;
const FLASH_MS = 6500;
const HEADER_NOTICE_MS = 30000;

const ruleName = (rule) => (Object.hasOwn(RULES, rule) ? RULES[rule] : rule || '未知规则');
const sevInfo = (sev) => (Object.hasOwn(SEVERITIES, sev) ? SEVERITIES[sev] : { text: sev || '未知', rank: 9 });

const $ = (id) => document.getElementById(id);
const body = document.body;
const hallId = queryParam('hall');

// ------------------------------------------------------------------ state

const model = {
  halls: [],          // [{id, name}] from the latest snapshot
  alerts: new Map(),  // id -> normalised alert, every state
  known: new Set(),   // every alert id seen on this page (tells new alerts)
  hadSnapshot: false,
  omitted: 0,         // alerts in scope the snapshot had no room for
  me: null,           // {name, role, halls} from api/me
  deliveries: new Map(), // alert or card id -> Map(channel -> delivery)
};

// A notification's link: the alert or card to bring into view, once.
const target = { alert: queryParam('alert'), card: queryParam('card') };

const filters = { hall: '', rule: '', severity: '' };

// The server's clock in the hall's time zone: ages and 今日已办结 follow the
// hall's day, not this machine's.
const clock = new ServerClock();
const tickHeaderClock = headerClock(clock);
let todayKey = null;       // the hall's day, 'YYYY-MM-DD'

// The one open note form: {id, op}. Drafts survive closing a form by accident.
let openForm = null;
const drafts = new Map();  // `${op}:${id}` -> text
// The op waiting for the server's answer: {id, op, timer}.
let pending = null;

// ------------------------------------------------------------------ helpers

function strOrNull(v) {
  const s = str(v).trim();
  return s ? s : null;
}

function normAlert(a) {
  if (!a || typeof a !== 'object') return null;
  const id = str(a.id).trim();
  if (!id) return null;
  const state = Object.hasOwn(ALERT_STATES, a.state) ? a.state : 'open';
  return {
    id,
    rule: str(a.rule).trim(),
    severity: str(a.severity).trim() || 'notice',
    state,
    hall: str(a.hall),
    hallName: strOrNull(a.hall_name),
    window: strOrNull(a.window),
    windowName: strOrNull(a.window_name),
    ticket: strOrNull(a.ticket),
    service: strOrNull(a.service),
    serviceName: strOrNull(a.service_name),
    departmentName: strOrNull(a.department_name),
    // A wait alert covers a whole queue: how many are over the limit, and
    // the tickets listed besides the longest waiter.
    count: Number.isInteger(a.count) && a.count > 0 ? a.count : null,
    tickets: Array.isArray(a.tickets) ? a.tickets.map(str).filter(Boolean) : [],
    message: str(a.message),
    openedAt: parseTime(a.opened_at),
    updatedAt: parseTime(a.updated_at),
    escalated: a.escalated === true,
    ackedBy: strOrNull(a.acked_by),
    ackedAt: parseTime(a.acked_at),
    ackNote: strOrNull(a.ack_note),
    resolvedBy: strOrNull(a.resolved_by),
    resolvedAt: parseTime(a.resolved_at),
    resolveNote: strOrNull(a.resolve_note),
  };
}

const isActive = (a) => a.state === 'open' || a.state === 'acknowledged';

function hallNameOf(a) {
  if (a.hallName) return a.hallName;
  const h = model.halls.find((x) => x.id === a.hall);
  return (h && h.name) || a.hall || '';
}

function windowNameOf(a) {
  if (a.windowName) return a.windowName;
  if (!a.window) return null;
  return /^\d+$/.test(a.window) ? `${Number(a.window)}号窗口` : a.window;
}

/** 「金林县政务服务中心 · 5号窗口 · B023 · 社会保障」 */
function subjectParts(a) {
  const parts = [];
  const hall = hallNameOf(a);
  if (hall) parts.push(hall);
  const win = windowNameOf(a);
  if (win) parts.push(win);
  if (a.ticket) parts.push(a.count > 1 ? `${a.ticket} 等 ${a.count} 个号` : `${a.ticket} 号`);
  if (a.serviceName || a.service) parts.push(a.serviceName || a.service);
  if (a.departmentName) parts.push(a.departmentName);
  return parts;
}

function compareActive(a, b) {
  const r = sevInfo(a.severity).rank - sevInfo(b.severity).rank;
  if (r) return r;
  const ta = a.openedAt ?? Infinity;
  const tb = b.openedAt ?? Infinity;
  if (ta !== tb) return ta - tb;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

const pad = (n) => String(n).padStart(2, '0');

function hhmm(ms) {
  if (ms === null || ms === undefined) return '';
  const p = clock.parts(ms);
  return `${pad(p.h)}:${pad(p.mi)}`;
}

function dayKey(ms) {
  const p = clock.parts(ms);
  return `${p.y}-${pad(p.mo)}-${pad(p.d)}`;
}

/** 「12 分钟」「1 小时 5 分钟」「2 天 3 小时」 */
function spanText(ms) {
  const min = Math.floor(Math.max(0, ms) / 60000);
  if (min < 1) return '不足 1 分钟';
  if (min < 60) return `${min} 分钟`;
  const h = Math.floor(min / 60);
  if (h < 24) return min % 60 ? `${h} 小时 ${min % 60} 分钟` : `${h} 小时`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d} 天 ${h % 24} 小时` : `${d} 天`;
}

function ageText(a) {
  if (a.openedAt === null) return '';
  return `已持续 ${spanText(clock.now() - a.openedAt)}`;
}

function severityBadge(sev, small) {
  const info = sevInfo(sev);
  const known = Object.hasOwn(SEVERITIES, sev);
  const b = el('span', `badge sev-${known ? sev : 'unknown'}${small ? ' badge-small' : ''}`);
  const icon = el('span', 'badge-icon');
  icon.setAttribute('aria-hidden', 'true');
  b.append(icon, el('span', 'badge-text', info.text));
  return b;
}

let uid = 0;
const nextId = (prefix) => `${prefix}-${++uid}`;

// ------------------------------------------------------------------ page state

const page = livePage({
  offlineText: (wasLive) => (wasLive ? '连接中断，正在重连…（数据可能不是最新）' : '无法连接服务器，正在重试…'),
  recheck: () => checkAuth(),
  onForbidden: () => forbiddenHall(),
  inert: $('console'),
});

const ALL_SCOPE = { href: 'supervisor.html', text: '查看全部监察范围' };

function showFatal(kind, title, text, link = null) {
  page.fatal(kind, title, text, { link, stop: true });
}

function forbiddenHall() {
  const who = model.me && str(model.me.name) ? `当前账号（${str(model.me.name)}）` : '当前账号';
  showFatal('forbidden', '无权查看该大厅',
    `${who}的监察范围不包括「${hallId || '所选大厅'}」。如需查看，请联系系统管理员。`,
    hallId ? ALL_SCOPE : null);
}

// ------------------------------------------------------------------ auth

function setMe(me) {
  model.me = me;
  $('user-name').textContent = str(me.name);
  renderScope();
}

/**
 * Ask api/me whether the session is still good. Returns 'ok', 'forbidden',
 * 'stopped' (or gone to the login page) or 'unknown' (server unreachable or a
 * strange answer). A 200 is checked against the role and hall scope it carries.
 */
async function checkAuth() {
  const answer = await page.me(hallId);
  if (!answer) return 'stopped';
  const { status, me } = answer;
  if (status !== 200 || !me) return 'unknown';
  setMe(me);
  const role = str(me.role);
  if (role && role !== 'supervisor' && role !== 'admin') {
    showFatal('forbidden-role', '无权使用电子效能监察台',
      `当前账号（${str(me.name) || role}）不是监察人员账号。请退出后使用监察人员的访问令牌登录。`);
    return 'forbidden';
  }
  // The scope is a list of hall ids or ["*"]. The server may answer a hall
  // outside it with an empty snapshot rather than a 403, so check it here.
  if (hallId && Array.isArray(me.halls) && !me.halls.includes('*') && !me.halls.includes(hallId)) {
    forbiddenHall();
    return 'forbidden';
  }
  return 'ok';
}

// ------------------------------------------------------------------ header

function renderScope() {
  const p = $('scope');
  let names = model.halls.map((h) => h.name || h.id);
  if (!model.hadSnapshot) {
    const halls = model.me && Array.isArray(model.me.halls) ? model.me.halls : null;
    if (hallId) names = [hallId];
    else if (halls && halls.includes('*')) { p.textContent = '监察范围：全部服务大厅'; return; }
    else if (halls && halls.length) names = halls.map(String);
  }
  if (names.length === 0) {
    p.textContent = !model.hadSnapshot ? '正在加载监察范围…'
      : hallId ? `监察范围：未找到服务大厅「${hallId}」` : '监察范围：暂无服务大厅';
    p.removeAttribute('title');
    return;
  }
  const all = names.join('、');
  p.textContent = names.length <= 3 ? `监察范围：${all}` : `监察范围：${names.slice(0, 2).join('、')} 等 ${names.length} 个大厅`;
  p.title = all;
}

let casesMinute = null;
function tickClock() {
  tickHeaderClock();
  // Time left on the open cases: once a minute.
  const minute = Math.floor(clock.now() / 60000);
  if (minute !== casesMinute && cases.open.length) {
    casesMinute = minute;
    renderCases();
  }

  // Ages in the list ("已持续 12 分钟"): only touch text that changed.
  for (const row of rows.values()) {
    const a = model.alerts.get(row.id);
    if (!a) continue;
    const t = ageText(a);
    if (row.age.textContent !== t) row.age.textContent = t;
  }

  // Midnight: yesterday's resolved alerts leave 今日已办结.
  const key = dayKey(clock.now());
  if (todayKey !== key) {
    const first = todayKey === null;
    todayKey = key;
    if (!first) pruneResolved();
  }
}

function pruneResolved() {
  let changed = false;
  for (const [id, a] of model.alerts) {
    if (a.state === 'resolved' && a.resolvedAt !== null && dayKey(a.resolvedAt) !== todayKey) {
      model.alerts.delete(id);
      changed = true;
    }
  }
  if (changed) renderAll();
}

// ------------------------------------------------------------------ sound

const AudioCtor = window.AudioContext || window.webkitAudioContext;
const sound = {
  supported: typeof AudioCtor === 'function',
  on: true,
  gestured: false,   // the user has clicked or typed: audio may start
  ctx: null,
  lastPlayed: 0,
};

function loadSoundPref() {
  try { return localStorage.getItem(SOUND_KEY) !== 'off'; } catch { return true; }
}

function saveSoundPref(on) {
  try { localStorage.setItem(SOUND_KEY, on ? 'on' : 'off'); } catch { /* private mode */ }
}

function audio() {
  if (!sound.supported) return null;
  if (!sound.ctx) {
    try {
      sound.ctx = new AudioCtor();
    } catch (e) {
      console.warn('AudioContext failed', e);
      sound.supported = false;
      renderSound();
      return null;
    }
  }
  if (sound.ctx.state === 'suspended') sound.ctx.resume().catch(() => {});
  return sound.ctx;
}

/** A short two-tone chime, twice: noticeable, not an alarm bell. */
function chime(force) {
  if (!sound.on || !sound.gestured) return;
  const nowMs = Date.now();
  if (!force && nowMs - sound.lastPlayed < 2500) return;
  sound.lastPlayed = nowMs;
  const ctx = audio();
  if (!ctx) return;
  try {
    const t0 = ctx.currentTime + 0.03;
    const master = ctx.createGain();
    master.gain.value = 0.2;
    master.connect(ctx.destination);
    const notes = [[880, 0], [659.25, 0.24], [880, 0.78], [659.25, 1.02]];
    for (const [freq, at] of notes) {
      for (const [type, level, mul] of [['sine', 1, 1], ['triangle', 0.18, 2]]) {
        const osc = ctx.createOscillator();
        osc.type = type;
        osc.frequency.value = freq * mul;
        const g = ctx.createGain();
        g.gain.setValueAtTime(0.0001, t0 + at);
        g.gain.exponentialRampToValueAtTime(level, t0 + at + 0.015);
        g.gain.exponentialRampToValueAtTime(0.0001, t0 + at + 0.45);
        osc.connect(g);
        g.connect(master);
        osc.start(t0 + at);
        osc.stop(t0 + at + 0.5);
      }
    }
  } catch (e) {
    console.warn('chime failed', e);
  }
}

function renderSound() {
  const btn = $('sound-toggle');
  const hint = $('sound-hint');
  btn.setAttribute('aria-pressed', sound.on && sound.supported ? 'true' : 'false');
  $('sound-state').textContent = sound.on && sound.supported ? '开' : '关';
  if (!sound.supported) {
    btn.disabled = true;
    hint.textContent = '此浏览器不支持提示音';
  } else if (sound.on && !sound.gestured) {
    hint.textContent = '点击页面任意处启用提示音';
  } else {
    hint.textContent = '';
  }
}

function initSound() {
  sound.on = loadSoundPref();
  $('sound-toggle').addEventListener('click', () => {
    sound.gestured = true;
    sound.on = !sound.on;
    saveSoundPref(sound.on);
    renderSound();
    if (sound.on) chime(true); // let the supervisor hear what it sounds like
  });
  // Browsers start audio only after a user gesture; any click or key counts.
  const gesture = () => {
    if (sound.gestured) return;
    sound.gestured = true;
    if (sound.on) audio();
    renderSound();
  };
  window.addEventListener('pointerdown', gesture, { capture: true, passive: true });
  window.addEventListener('keydown', gesture, { capture: true });
  renderSound();
}

// ------------------------------------------------------------------ new critical alerts

let headerTimer = null;

function announceCritical(a) {
  const row = rows.get(a.id);
  if (row) flashRow(row);
  const top = $('top');
  top.classList.remove('flash');
  void top.offsetWidth; // restart the animation
  top.classList.add('flash');
  const notice = $('new-critical');
  const where = [hallNameOf(a), windowNameOf(a)].filter(Boolean).join(' · ');
  notice.textContent = `新的严重告警：${ruleName(a.rule)}${where ? ` · ${where}` : ''}`;
  notice.hidden = false;
  clearTimeout(headerTimer);
  headerTimer = setTimeout(() => {
    notice.hidden = true;
    top.classList.remove('flash');
  }, HEADER_NOTICE_MS);
  chime(false);
}

function flashRow(row) {
  row.li.classList.remove('flash');
  void row.li.offsetWidth;
  row.li.classList.add('flash');
  clearTimeout(row.flashTimer);
  row.flashTimer = setTimeout(() => row.li.classList.remove('flash'), FLASH_MS);
}

// ------------------------------------------------------------------ filters

function matches(a, except) {
  if (except !== 'hall' && filters.hall && a.hall !== filters.hall) return false;
  if (except !== 'rule' && filters.rule && a.rule !== filters.rule) return false;
  if (except !== 'severity' && filters.severity && a.severity !== filters.severity) return false;
  return true;
}

function hallOptions(active) {
  const list = model.halls.map((h) => ({ id: h.id, name: h.name || h.id }));
  for (const a of active) {
    if (a.hall && !list.some((h) => h.id === a.hall)) list.push({ id: a.hall, name: hallNameOf(a) });
  }
  return list;
}

/** Replace a <select>'s options only when they changed (keeps an open menu stable). */
function setOptions(select, options, value) {
  const sig = JSON.stringify(options);
  if (select.dataset.sig !== sig) {
    select.replaceChildren(...options.map(([v, text]) => {
      const o = el('option', null, text);
      o.value = v;
      return o;
    }));
    select.dataset.sig = sig;
  }
  select.value = value;
}

function renderFilters(active) {
  // Hall: only when there is more than one hall to choose from.
  const halls = hallOptions(active);
  const hallBox = $('filter-hall-box');
  if (halls.length > 1) {
    hallBox.hidden = false;
    const inScope = active.filter((a) => matches(a, 'hall'));
    setOptions($('filter-hall'), [
      ['', `全部大厅（${inScope.length}）`],
      ...halls.map((h) => [h.id, `${h.name}（${inScope.filter((a) => a.hall === h.id).length}）`]),
    ], filters.hall);
  } else {
    hallBox.hidden = true;
    filters.hall = '';
  }

  // Rule: the rules present, in the order of the rule table, then unknown ones.
  const inRule = active.filter((a) => matches(a, 'rule'));
  const present = new Set(active.map((a) => a.rule));
  if (filters.rule) present.add(filters.rule);
  const rules = [...Object.keys(RULES).filter((r) => present.has(r)),
    ...[...present].filter((r) => !Object.hasOwn(RULES, r)).sort()];
  setOptions($('filter-rule'), [
    ['', `全部规则（${inRule.length}）`],
    ...rules.map((r) => [r, `${ruleName(r)}（${inRule.filter((a) => a.rule === r).length}）`]),
  ], filters.rule);

  // Severity: toggle buttons with counts.
  const inSev = active.filter((a) => matches(a, 'severity'));
  const box = $('filter-severity');
  if (!box.childElementCount) {
    for (const sev of ['', ...SEVERITY_ORDER]) {
      const b = el('button', `sev-btn${sev ? ` sev-${sev}` : ''}`);
      b.type = 'button';
      b.dataset.severity = sev;
      if (sev) {
        const icon = el('span', 'badge-icon');
        icon.setAttribute('aria-hidden', 'true');
        b.append(icon);
      }
      b.append(el('span', 'sev-btn-text', sev ? SEVERITIES[sev].text : '全部'), el('span', 'sev-btn-count num'));
      b.addEventListener('click', () => {
        filters.severity = filters.severity === sev ? '' : sev;
        renderAll();
      });
      box.append(b);
    }
  }
  for (const b of box.children) {
    const sev = b.dataset.severity;
    const n = sev ? inSev.filter((a) => a.severity === sev).length : inSev.length;
    b.querySelector('.sev-btn-count').textContent = String(n);
    b.setAttribute('aria-pressed', filters.severity === sev ? 'true' : 'false');
    b.classList.toggle('is-zero', n === 0);
  }

  $('clear-filters').hidden = !(filters.hall || filters.rule || filters.severity);
}

function initFilters() {
  $('filter-hall').addEventListener('change', (ev) => { filters.hall = ev.target.value; renderAll(); });
  $('filter-rule').addEventListener('change', (ev) => { filters.rule = ev.target.value; renderAll(); });
  $('clear-filters').addEventListener('click', () => {
    filters.hall = filters.rule = filters.severity = '';
    renderAll();
    $('filter-rule').focus();
  });
}

// ------------------------------------------------------------------ alert rows

const rows = new Map(); // id -> row parts, for the rows currently in #alert-list

function makeRow(a) {
  const li = el('li', 'alert-row');
  const titleId = nextId('alert-title');
  li.setAttribute('aria-labelledby', titleId);

  const sev = el('div', 'a-sev');
  const main = el('div', 'a-main');
  const title = el('p', 'a-title');
  title.id = titleId;
  const msg = el('p', 'a-msg');
  const ack = el('p', 'a-ack');
  const notice = el('p', 'a-notice');
  notice.setAttribute('role', 'alert');
  const deliv = el('p', 'a-deliv-line');
  deliv.hidden = true;
  main.append(title, msg, ack, deliv, notice);

  const side = el('div', 'a-side');
  const ageBox = el('p', 'a-age');
  const age = el('span', 'a-age-text num');
  age.setAttribute('aria-hidden', 'true'); // ticks every minute: not for the live region
  const since = el('span', 'visually-hidden');
  ageBox.append(age, since);
  const actions = el('div', 'a-actions');
  const ackBtn = el('button', 'btn btn-ack', '确认');
  ackBtn.type = 'button';
  ackBtn.dataset.action = 'ack';
  ackBtn.setAttribute('aria-describedby', titleId);
  const resolveBtn = el('button', 'btn btn-resolve', '办结');
  resolveBtn.type = 'button';
  resolveBtn.dataset.action = 'resolve';
  resolveBtn.setAttribute('aria-describedby', titleId);
  actions.append(ackBtn, resolveBtn);
  side.append(ageBox, actions);

  li.append(sev, main, side);
  const row = { id: a.id, li, sev, title, msg, ack, deliv, notice, age, since, ackBtn, resolveBtn, form: null, sig: '', flashTimer: null };
  ackBtn.addEventListener('click', () => openNoteForm(row.id, 'ack'));
  resolveBtn.addEventListener('click', () => openNoteForm(row.id, 'resolve'));
  return row;
}

function updateRow(row, a) {
  const li = row.li;
  li.dataset.alertId = a.id;
  li.dataset.state = a.state;
  li.dataset.severity = a.severity;
  li.dataset.rule = a.rule;
  li.classList.toggle('is-escalated', a.escalated);

  const sent = model.deliveries.get(a.id);
  const sig = JSON.stringify([a, model.halls.length, sent ? [...sent.values()] : null]);
  if (sig !== row.sig) {
    row.sig = sig;
    row.sev.replaceChildren(severityBadge(a.severity));

    const rule = el('span', 'a-rule', ruleName(a.rule));
    const subject = el('span', 'a-subject', subjectParts(a).join(' · '));
    const tags = el('span', 'a-tags');
    if (a.escalated) tags.append(el('span', 'tag tag-escalated', '已升级'));
    tags.append(el('span', `tag tag-state st-${a.state}`, ALERT_STATES[a.state]));
    row.title.replaceChildren(rule, subject, tags);

    row.msg.textContent = a.tickets.length
      ? `${a.message}（另有 ${a.tickets.join('、')}${a.count > a.tickets.length + 1 ? ' 等' : ''}）`
      : a.message;
    row.msg.hidden = !a.message;

    if (a.state === 'acknowledged') {
      const who = a.ackedBy || '监察人员';
      const when = a.ackedAt !== null ? ` ${hhmm(a.ackedAt)}` : '';
      row.ack.replaceChildren(el('span', 'a-ack-label', '确认'), `${who}${when}`);
      if (a.ackNote) row.ack.append(el('span', 'a-note', `「${a.ackNote}」`));
      row.ack.hidden = false;
    } else {
      row.ack.replaceChildren();
      row.ack.hidden = true;
    }

    renderDeliveries(row.deliv, sent, a.state);
    row.since.textContent = a.openedAt !== null ? `开始于 ${hhmm(a.openedAt)}` : '';
    row.ackBtn.hidden = a.state !== 'open';
  }
  const t = ageText(a);
  if (row.age.textContent !== t) row.age.textContent = t;
  row.notice.hidden = !row.notice.textContent;
}

const DELIVERY_WORDS = {
  queued: '待发送',
  retrying: '重试中',
  sent: '已送达',
  failed: '发送失败',
  merged: '已合并发送',
  withdrawn: '已撤回',
};

/** One channel's delivery in words: state, when, and what went wrong. */
function deliveryText(d) {
  const at = parseTime(d.at);
  const next = parseTime(d.next_at);
  switch (d.state) {
    case 'sent': return `已送达${at !== null ? ` ${hhmm(at)}` : ''}`;
    case 'queued': return next !== null && next > clock.now() ? `待发送（${hhmm(next)} 发出）` : '待发送';
    case 'retrying': return `重试中：第 ${d.attempts} 次未送达${d.last_error ? `（${d.last_error}）` : ''}${next !== null ? `，${hhmm(next)} 再试` : ''}`;
    case 'failed': return `发送失败：已试 ${d.attempts} 次${d.last_error ? `（${d.last_error}）` : ''}`;
    case 'merged': return `已合并为汇总${d.digest_state === 'sent' ? '并送达' : d.digest_state === 'failed' ? '，汇总发送失败' : '，汇总待发送'}`;
    case 'withdrawn': return '已撤回（已确认或办结，不再发送）';
    default: return DELIVERY_WORDS[d.state] || d.state;
  }
}

/**
 * A delivery as the page shows it: one still waiting for an alert that is
 * no longer open was withdrawn by the server when the alert was
 * acknowledged or resolved (it sends no message for that).
 */
function shownDelivery(d, alertState) {
  if (alertState && alertState !== 'open' && (d.state === 'queued' || d.state === 'retrying')) {
    return { ...d, state: 'withdrawn' };
  }
  return d;
}

/** The deliveries line of an alert row: one chip per channel. */
function renderDeliveries(line, sent, alertState) {
  if (!sent || sent.size === 0) {
    line.replaceChildren();
    line.hidden = true;
    return;
  }
  const chips = [el('span', 'a-deliv-label', '通知')];
  for (const raw of [...sent.values()].sort((x, y) => x.channel.localeCompare(y.channel))) {
    const d = shownDelivery(raw, alertState);
    const chip = el('span', 'a-deliv', `${d.channel} ${deliveryText(d)}`);
    chip.dataset.channel = d.channel;
    chip.dataset.delivery = d.state;
    if (d.state === 'merged' && d.digest_state) chip.dataset.digest = d.digest_state;
    chips.push(chip);
  }
  line.replaceChildren(...chips);
  line.hidden = false;
}

/** Keeps one delivery; true when it changed what is shown. */
function noteDelivery(d) {
  if (!d || typeof d !== 'object' || !str(d.subject) || !str(d.channel) || !str(d.state)) return false;
  let sent = model.deliveries.get(d.subject);
  if (!sent) {
    sent = new Map();
    model.deliveries.set(d.subject, sent);
  }
  sent.set(d.channel, d);
  return true;
}

let deliveriesAsked = 0;

/** Reads the deliveries so far of the halls in scope; only the latest read counts. */
async function fetchDeliveries() {
  const asked = ++deliveriesAsked;
  try {
    const q = hallId ? `?hall=${encodeURIComponent(hallId)}` : '';
    const r = await fetch(apiUrl(`api/deliveries${q}`), { credentials: 'same-origin' });
    if (!r.ok || asked !== deliveriesAsked) return;
    const list = await r.json();
    if (asked !== deliveriesAsked) return;
    const next = new Map();
    const keep = model.deliveries;
    model.deliveries = next;
    for (const d of Array.isArray(list) ? list : []) noteDelivery(d);
    // What arrived live while the list was read stays.
    for (const [subject, sent] of keep) {
      for (const d of sent.values()) {
        const have = next.get(subject)?.get(d.channel);
        if (!have || (parseTime(d.at) ?? 0) > (parseTime(have.at) ?? 0)) noteDelivery(d);
      }
    }
    renderAll();
  } catch {
    // The channel says when the server is away; the next snapshot reads again.
  }
}

function onDelivery(m) {
  if (noteDelivery(m)) renderAll();
}

/** Brings an element into view and gives it the focus. */
function bringIntoView(elt) {
  elt.scrollIntoView({ block: 'center' });
  elt.tabIndex = -1;
  elt.focus({ preventScroll: true });
}

/**
 * Brings the alert or card a notification linked to into view, once: from
 * the open list, else from today's resolved list; a link to one the page
 * does not hold (resolved on another day, out of scope) says so.
 */
function showTarget() {
  if (target.alert) {
    const id = target.alert;
    target.alert = null;
    const row = rows.get(id);
    const done = [...document.querySelectorAll('#resolved-list [data-alert-id]')].find((li) => li.dataset.alertId === id);
    if (row) {
      bringIntoView(row.li);
      flashRow(row);
    } else if (done) {
      bringIntoView(done);
    } else {
      showGlobalError('通知中的告警已不在当前列表中（可能已办结），可在告警记录中查询。');
    }
  }
  if (target.card) {
    const id = target.card;
    target.card = null;
    const li = [...document.querySelectorAll('#card-list [data-card-id]')].find((x) => x.dataset.cardId === id);
    if (li) bringIntoView(li);
    else showGlobalError('通知中的限时办结牌已不在当前列表中。');
  }
}

function removeRow(row) {
  clearTimeout(row.flashTimer);
  row.li.remove();
  rows.delete(row.id);
}

function renderList(active) {
  const shown = active.filter((a) => matches(a, null)).sort(compareActive);
  const list = $('alert-list');

  // Remember the focus: moving a row in the DOM drops it.
  const focused = document.activeElement;
  const focusRow = focused && focused !== body ? [...rows.values()].find((r) => r.li.contains(focused)) : null;
  let selection = null;
  if (focused && focused.tagName === 'TEXTAREA') selection = [focused.selectionStart, focused.selectionEnd];
  let focusFallback = null;

  const keep = new Set(shown.map((a) => a.id));
  for (const row of [...rows.values()]) {
    if (keep.has(row.id)) continue;
    if (row === focusRow) focusFallback = neighbourFocusTarget(row, shown);
    if (openForm && openForm.id === row.id) closeNoteForm(false);
    removeRow(row);
  }

  let i = 0;
  for (const a of shown) {
    let row = rows.get(a.id);
    if (!row) {
      row = makeRow(a);
      rows.set(a.id, row);
    }
    updateRow(row, a);
    const at = list.children[i];
    if (at !== row.li) list.insertBefore(row.li, at || null);
    i += 1;
  }

  if (focusRow && rows.has(focusRow.id) && focused.isConnected && document.activeElement !== focused) {
    focused.focus({ preventScroll: true });
    if (selection) {
      try { focused.setSelectionRange(selection[0], selection[1]); } catch { /* ignore */ }
    }
  } else if (focusFallback) {
    focusFallback.focus();
  }

  // Heading count and the empty state.
  const total = active.length;
  $('alerts-count').textContent = !model.hadSnapshot ? ''
    : shown.length === total ? `${total} 条` : `显示 ${shown.length} / 共 ${total} 条`;
  const empty = $('alerts-empty');
  if (shown.length === 0) {
    empty.hidden = false;
    empty.classList.toggle('is-clear', model.hadSnapshot && total === 0);
    if (!model.hadSnapshot) {
      $('alerts-empty-text').textContent = page.state === 'offline' ? '正在连接服务器…' : '正在加载告警…';
      $('alerts-empty-sub').textContent = '';
    } else if (total === 0) {
      $('alerts-empty-text').textContent = '当前没有待处理的告警';
      $('alerts-empty-sub').textContent = '新的告警会自动显示在这里。';
    } else {
      $('alerts-empty-text').textContent = '没有符合筛选条件的告警';
      $('alerts-empty-sub').textContent = `共有 ${total} 条待处理告警，可清除筛选后查看。`;
    }
  } else {
    empty.hidden = true;
  }
}

/** Where focus goes when the row holding it leaves the list. */
function neighbourFocusTarget(row, shown) {
  const ids = new Set(shown.map((a) => a.id));
  let sib = row.li.nextElementSibling;
  while (sib && !ids.has(sib.dataset.alertId)) sib = sib.nextElementSibling;
  if (!sib) {
    sib = row.li.previousElementSibling;
    while (sib && !ids.has(sib.dataset.alertId)) sib = sib.previousElementSibling;
  }
  if (sib) {
    const r = rows.get(sib.dataset.alertId);
    if (r) return r.ackBtn.hidden ? r.resolveBtn : r.ackBtn;
  }
  return $('alerts-title');
}

// ------------------------------------------------------------------ resolved today

function renderResolved(resolved) {
  const shown = resolved.filter((a) => matches(a, null))
    .sort((a, b) => (b.resolvedAt ?? 0) - (a.resolvedAt ?? 0) || (a.id < b.id ? 1 : -1));
  const items = shown.slice(0, MAX_RESOLVED_SHOWN).map((a) => {
    const li = el('li', 'resolved-item');
    li.dataset.alertId = a.id;
    li.dataset.state = a.state;
    li.dataset.severity = a.severity;
    li.dataset.rule = a.rule;

    const head = el('p', 'r-head');
    const time = el('span', 'r-time num', hhmm(a.resolvedAt) || '—');
    head.append(time, severityBadge(a.severity, true), el('span', 'r-rule', ruleName(a.rule)));
    if (a.escalated) head.append(el('span', 'tag tag-escalated', '已升级'));
    li.append(head);

    li.append(el('p', 'r-subject', subjectParts(a).join(' · ')));
    if (a.message) li.append(el('p', 'r-msg', a.message));

    const who = el('p', 'r-who');
    who.append(el('span', 'r-who-label', a.resolvedBy ? '办结' : '自动办结'));
    who.append(a.resolvedBy || '系统');
    if (a.openedAt !== null && a.resolvedAt !== null) {
      who.append(el('span', 'r-span', `历时 ${spanText(a.resolvedAt - a.openedAt)}`));
    }
    li.append(who);
    if (a.resolveNote) li.append(el('p', 'r-note', a.resolveNote));
    return li;
  });
  $('resolved-list').replaceChildren(...items);
  const filtered = filters.hall || filters.rule || filters.severity;
  $('resolved-count').textContent = !model.hadSnapshot ? ''
    : filtered ? `${shown.length} / ${resolved.length} 条` : `${resolved.length} 条`;
  const empty = $('resolved-empty');
  empty.hidden = items.length > 0;
  empty.textContent = resolved.length && filtered ? '没有符合筛选条件的办结记录' : '今日暂无办结记录';
  if (shown.length > MAX_RESOLVED_SHOWN) {
    $('resolved-list').append(el('li', 'resolved-more', `仅显示最近 ${MAX_RESOLVED_SHOWN} 条`));
  }
  const omitted = $('omitted-note');
  omitted.hidden = !model.omitted;
  omitted.textContent = model.omitted ? `另有 ${model.omitted} 条较早的告警记录未列出，可通过告警查询接口按时间查看` : '';
}

// ------------------------------------------------------------------ 限时办结

const CARD_STATES = {
  issued: '待情况说明', explained: '已说明，待审核', upheld: '维持', withdrawn: '申诉撤销', lapsed: '已消除',
};
const CARD_LABELS = { warning: '预警', yellow: '黄牌', red: '红牌' };
const cases = { cards: new Map(), open: [], fetchedAt: 0, timer: null };

function cardOpen(c) {
  return c.state === 'issued' || c.state === 'explained';
}

/** A card from the server, or null when it cannot be read. */
function normCard(c) {
  if (!c || typeof c !== 'object' || !str(c.id)) return null;
  return c;
}

function renderCards() {
  const all = [...cases.cards.values()]
    .filter((c) => !filters.hall || c.hall === filters.hall)
    .sort((a, b) => Number(cardOpen(b)) - Number(cardOpen(a))
      || (parseTime(b.issued_at) ?? 0) - (parseTime(a.issued_at) ?? 0));
  const items = all.map((c) => {
    const li = el('li', 'card-item');
    li.dataset.cardId = c.id;
    li.dataset.kind = c.kind;
    li.dataset.state = c.state;
    li.dataset.open = String(cardOpen(c));
    const head = el('p', 'card-head');
    const badge = el('span', 'card-badge', str(c.label) || CARD_LABELS[c.kind] || c.kind);
    badge.dataset.kind = c.kind;
    head.append(badge, el('span', 'card-state', CARD_STATES[c.state] || c.state));
    if (c.case) head.append(el('span', 'card-ref num', c.case));
    li.append(head);
    if (c.message) li.append(el('p', 'card-msg', c.message));
    const who = [c.hall_name && model.halls.length > 1 ? c.hall_name : '', c.department_name || c.department || '',
      c.staff_name || c.staff || ''].filter(Boolean).join(' · ');
    if (who) li.append(el('p', 'case-sub', who));
    if (c.explanation && c.explanation.text) li.append(el('p', 'case-sub', `情况说明：${c.explanation.text}`));
    if (c.closure && c.closure.text) li.append(el('p', 'case-sub', `审核意见：${c.closure.text}`));
    return li;
  });
  // A card that had the focus (a notification's link brought it into view)
  // keeps it across the redraw.
  const focused = document.activeElement && document.activeElement.closest
    ? document.activeElement.closest('#card-list [data-card-id]') : null;
  $('card-list').replaceChildren(...items);
  if (focused) {
    const again = items.find((li) => li.dataset.cardId === focused.dataset.cardId);
    if (again) {
      again.tabIndex = -1;
      again.focus({ preventScroll: true });
    }
  }
  const open = all.filter(cardOpen).length;
  $('cards-count').textContent = model.hadSnapshot ? `${open} 张未结` : '';
  $('cards-empty').hidden = items.length > 0;
}

/** 「3 天 4 小时」 for a day or more, else as durationText without seconds. */
function spanWords(s) {
  if (s < 86400) return durationText(s, { seconds: false });
  return `${Math.floor(s / 86400)} 天 ${Math.floor((s % 86400) / 3600)} 小时`;
}

function leftText(s) {
  if (s === null || s === undefined) return '暂停计时';
  return s >= 0 ? `剩余 ${spanWords(s)}` : `已超期 ${spanWords(-s)}`;
}

function renderCases() {
  const now = clock.now();
  const shown = cases.open.filter((c) => !filters.hall || c.hall === filters.hall);
  const items = shown.map((c) => {
    const li = el('li', 'case-item');
    li.dataset.caseRef = c.ref;
    // Time left counts on from when it was read.
    const left = Number.isFinite(c.due_in_s) ? c.due_in_s - Math.round((now - cases.fetchedAt) / 1000) : null;
    li.dataset.late = String(left !== null && left < 0);
    const head = el('p', 'case-head');
    head.append(el('span', 'case-ref num', c.ref), el('span', 'case-svc', c.service_name || c.service || ''));
    head.append(el('span', 'case-left num', c.state === 'suspended' ? '补正中，暂停计时' : leftText(left)));
    li.append(head);
    const sub = [c.department_name || '', c.staff_name || c.staff || '', `承诺 ${c.promised_days} 个工作日`]
      .filter(Boolean).join(' · ');
    li.append(el('p', 'case-sub', sub));
    return li;
  });
  $('case-list').replaceChildren(...items);
  $('cases-empty').hidden = items.length > 0;
}

/** Reads the open cases of the halls in scope (the 限时办结 view). */
async function fetchCases() {
  clearTimeout(cases.timer);
  cases.timer = setTimeout(fetchCases, 60000);
  const open = [];
  for (const h of model.halls) {
    try {
      const r = await fetch(apiUrl(`api/halls/${encodeURIComponent(h.id)}/cases`), { credentials: 'same-origin' });
      if (!r.ok) continue;
      const board = await r.json();
      for (const c of Array.isArray(board.open) ? board.open : []) open.push({ ...c, hall: h.id });
    } catch {
      // The channel says when the server is away; the next round reads again.
    }
  }
  open.sort((a, b) => (a.due_in_s ?? Infinity) - (b.due_in_s ?? Infinity));
  cases.open = open;
  cases.fetchedAt = clock.now();
  renderCases();
}

function onCard(m) {
  const c = normCard(m);
  if (!c) return;
  cases.cards.set(c.id, c);
  renderCards();
  clearTimeout(cases.timer);
  cases.timer = setTimeout(fetchCases, 500);
}

function renderAll() {
  const all = [...model.alerts.values()];
  const active = all.filter(isActive);
  const resolved = all.filter((a) => a.state === 'resolved');
  renderFilters(active);
  renderList(active);
  renderResolved(resolved);
  renderCards();
  renderCases();
  renderScope();
  // Window title: the number of critical alerts, for a console in a background tab.
  const red = active.filter((a) => a.severity === 'critical' && a.state === 'open').length;
  document.title = `${red ? `(${red} 严重) ` : ''}电子效能监察台 · hallwatch`;
}

// ------------------------------------------------------------------ note form (ack / resolve)

function noteRequired(a, op) {
  return op === 'resolve' && NOTE_REQUIRED_ON_RESOLVE.has(a.rule);
}

function openNoteForm(id, op) {
  const a = model.alerts.get(id);
  const row = rows.get(id);
  if (!a || !row) return;
  if (openForm && openForm.id === id && openForm.op === op) {
    row.form.querySelector('textarea').focus();
    return;
  }
  if (openForm) closeNoteForm(false);

  const required = noteRequired(a, op);
  const form = el('form', `note-form op-${op}`);
  form.noValidate = true;
  form.dataset.op = op;
  const fieldId = nextId('note');
  const hintId = nextId('note-hint');
  const errId = nextId('note-err');
  const label = el('label', 'note-label');
  label.htmlFor = fieldId;
  if (op === 'ack') {
    label.append('确认说明', el('span', 'note-opt', '（选填）'));
  } else if (required) {
    label.append('回访/整改情况', el('span', 'note-req', '（必填）'));
  } else {
    label.append('办结说明', el('span', 'note-opt', '（选填）'));
  }
  const ta = el('textarea', 'note-input');
  ta.id = fieldId;
  ta.name = 'note';
  ta.rows = 2;
  ta.maxLength = NOTE_MAX;
  ta.placeholder = required ? '请填写回访/整改情况' : op === 'ack' ? '例如：已电话联系窗口负责人' : '例如：已现场处理，窗口恢复正常';
  if (required) {
    ta.required = true;
    ta.setAttribute('aria-required', 'true');
  }
  ta.setAttribute('aria-describedby', `${errId} ${hintId}`);
  ta.value = drafts.get(`${op}:${id}`) || '';
  const hint = el('p', 'note-hint', 'Ctrl+Enter 提交 · Esc 取消');
  hint.id = hintId;
  const err = el('p', 'note-error');
  err.id = errId;
  err.setAttribute('role', 'alert');
  const submit = el('button', 'btn btn-primary', op === 'ack' ? '提交确认' : '提交办结');
  submit.type = 'submit';
  submit.dataset.action = 'submit';
  const cancel = el('button', 'btn btn-quiet', '取消');
  cancel.type = 'button';
  cancel.dataset.action = 'cancel';
  const buttons = el('div', 'note-actions');
  buttons.append(submit, cancel, hint);
  form.append(label, ta, err, buttons);

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    submitNote();
  });
  cancel.addEventListener('click', () => closeNoteForm(true));
  form.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape') {
      ev.preventDefault();
      closeNoteForm(true);
    } else if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) {
      ev.preventDefault();
      submitNote();
    }
  });
  ta.addEventListener('input', () => {
    drafts.set(`${op}:${id}`, ta.value);
    if (err.textContent && ta.value.trim()) setFormError('');
  });

  row.form = form;
  row.li.classList.add('has-form');
  row.li.append(form);
  row.notice.textContent = '';
  row.notice.hidden = true;
  (op === 'ack' ? row.ackBtn : row.resolveBtn).setAttribute('aria-expanded', 'true');
  openForm = { id, op };
  ta.focus();
}

/** Close the open form; `returnFocus` puts focus back on the button that opened it. */
function closeNoteForm(returnFocus) {
  if (!openForm) return;
  const { id, op } = openForm;
  openForm = null;
  if (pending && pending.id === id) clearPending();
  const row = rows.get(id);
  if (!row || !row.form) return;
  row.form.remove();
  row.form = null;
  row.li.classList.remove('has-form');
  row.ackBtn.removeAttribute('aria-expanded');
  row.resolveBtn.removeAttribute('aria-expanded');
  if (returnFocus) {
    const btn = op === 'ack' && !row.ackBtn.hidden ? row.ackBtn : row.resolveBtn;
    btn.focus();
  }
}

function formParts() {
  if (!openForm) return null;
  const row = rows.get(openForm.id);
  if (!row || !row.form) return null;
  return {
    row,
    ta: row.form.querySelector('textarea'),
    err: row.form.querySelector('.note-error'),
    submit: row.form.querySelector('[data-action="submit"]'),
  };
}

function setFormError(text) {
  const f = formParts();
  if (!f) return;
  f.err.textContent = text;
  if (text) f.ta.setAttribute('aria-invalid', 'true');
  else f.ta.removeAttribute('aria-invalid');
}

function setFormBusy(busy) {
  const f = formParts();
  if (!f) return;
  // aria-disabled, not disabled: a disabled button would drop the focus.
  if (busy) f.submit.setAttribute('aria-disabled', 'true');
  else f.submit.removeAttribute('aria-disabled');
  f.submit.textContent = busy ? '正在提交…' : openForm.op === 'ack' ? '提交确认' : '提交办结';
  f.row.form.setAttribute('aria-busy', busy ? 'true' : 'false');
}

function submitNote() {
  const f = formParts();
  if (!f || pending) return;
  const { id, op } = openForm;
  const a = model.alerts.get(id);
  if (!a) return;
  const note = f.ta.value.trim();
  if (noteRequired(a, op) && !note) {
    setFormError('请填写回访/整改情况');
    f.ta.focus();
    return;
  }
  if (!page.live || !page.send({ op, alert: id, note })) {
    setFormError('与服务器的连接已中断，请在恢复连接后重试。');
    return;
  }
  setFormError('');
  setFormBusy(true);
  pending = {
    id,
    op,
    timer: setTimeout(() => {
      if (!pending || pending.id !== id) return;
      clearPending();
      setFormBusy(false);
      setFormError('服务器未响应，请稍后重试。');
    }, PENDING_TIMEOUT_MS),
  };
}

function clearPending() {
  if (!pending) return;
  clearTimeout(pending.timer);
  pending = null;
}

/**
 * Alert `a` is about to replace its old version: close the open form when its
 * op no longer applies (done by us, or by someone else). Returns the element
 * that should get the focus once the list has been redrawn, or null.
 */
function settleForm(a) {
  if (!openForm || openForm.id !== a.id) return null;
  const op = openForm.op;
  const gone = !isActive(a) || !matches(a, null);
  const done = op === 'ack' ? a.state !== 'open' : a.state === 'resolved';
  if (!done && !gone) return null;
  const row = rows.get(a.id);
  const mine = done && pending && pending.id === a.id && pending.op === op;
  // When the row leaves the list, focus moves to its neighbour (or the heading).
  const after = gone && row ? neighbourFocusTarget(row, [...model.alerts.values()].filter((x) => x.id !== a.id && isActive(x) && matches(x, null))) : null;
  if (done) drafts.delete(`${op}:${a.id}`);
  clearPending();
  closeNoteForm(false);
  if (!done) return after; // hidden by a filter or gone: the draft is kept
  if (mine) return after || (row ? row.resolveBtn : null);
  const who = op === 'ack' ? a.ackedBy : (a.state === 'resolved' ? a.resolvedBy : a.ackedBy);
  const verb = a.state === 'resolved' ? '办结' : '确认';
  const text = `该告警已由${who || '其他人员'}${verb}，无需重复操作。`;
  if (gone || !row) {
    showGlobalError(text);
    return after;
  }
  row.notice.textContent = text;
  row.notice.hidden = false;
  return row.resolveBtn;
}

/** Focus `target` after a redraw, if it is still on the page. */
function refocus(target) {
  if (target && target.isConnected && !target.hidden) target.focus();
  else if (target) $('alerts-title').focus();
}

// ------------------------------------------------------------------ messages

function onSnapshot(m) {
  clock.note(m.at, m.clock_rate);
  todayKey = dayKey(clock.now());
  const first = !model.hadSnapshot;
  model.halls = (Array.isArray(m.halls) ? m.halls : [])
    .filter((h) => h && typeof h === 'object' && str(h.id))
    .map((h) => ({ id: str(h.id), name: str(h.name) || str(h.id) }));
  const next = new Map();
  for (const raw of Array.isArray(m.alerts) ? m.alerts : []) {
    const a = normAlert(raw);
    if (a) next.set(a.id, a);
  }
  // Criticals that appeared while this page was disconnected are new to the
  // supervisor too; on the very first snapshot nothing is "new".
  const fresh = first ? [] : [...next.values()].filter((a) =>
    a.severity === 'critical' && a.state === 'open' && (!model.known.has(a.id)
      || (model.alerts.get(a.id) && model.alerts.get(a.id).severity !== 'critical')));
  let focusAfter = null;
  if (openForm) {
    const a = next.get(openForm.id);
    if (a) {
      focusAfter = settleForm(a);
    } else {
      const row = rows.get(openForm.id);
      focusAfter = row ? neighbourFocusTarget(row, [...next.values()].filter((x) => isActive(x) && matches(x, null))) : null;
      closeNoteForm(false);
    }
  }
  model.alerts = next;
  // A snapshot holds as many alerts as its size allows: every open one
  // first, then the newest resolved.
  model.omitted = Number.isInteger(m.alerts_omitted) && m.alerts_omitted > 0 ? m.alerts_omitted : 0;
  for (const id of next.keys()) model.known.add(id);
  model.hadSnapshot = true;
  cases.cards = new Map();
  for (const raw of Array.isArray(m.cards) ? m.cards : []) {
    const c = normCard(raw);
    if (c) cases.cards.set(c.id, c);
  }
  fetchCases();

  const region = $('alert-region');
  region.setAttribute('aria-busy', 'true');
  renderAll();
  region.setAttribute('aria-busy', 'false');
  page.setState('live');
  tickClock();

  refocus(focusAfter);
  for (const a of fresh) announceCritical(a);
  fetchDeliveries();
  showTarget();
}

function onAlert(m) {
  const a = normAlert(m);
  if (!a) return;
  const prev = model.alerts.get(a.id);
  const isNew = !model.known.has(a.id);
  model.known.add(a.id);
  const focusAfter = settleForm(a);
  if (a.state === 'resolved' && a.resolvedAt !== null && todayKey && dayKey(a.resolvedAt) !== todayKey) {
    model.alerts.delete(a.id); // resolved on another day: not for 今日已办结
  } else {
    model.alerts.set(a.id, a);
  }
  renderAll();
  refocus(focusAfter);

  const escalatedToCritical = prev && prev.severity !== 'critical' && a.severity === 'critical' && isActive(a);
  if ((isNew && a.severity === 'critical' && a.state === 'open') || escalatedToCritical) {
    announceCritical(a);
  } else if (prev && !prev.escalated && a.escalated && isActive(a)) {
    const row = rows.get(a.id);
    if (row) flashRow(row);
  }
}

function onError(m) {
  const id = str(m.alert);
  const text = str(m.message) || `操作失败（${str(m.error) || '未知错误'}）`;
  if (pending && (!id || pending.id === id)) {
    clearPending();
    setFormBusy(false);
    setFormError(text);
    const f = formParts();
    if (f) f.ta.focus();
    return;
  }
  const row = id ? rows.get(id) : null;
  if (row) {
    row.notice.textContent = text;
    row.notice.hidden = false;
  } else {
    showGlobalError(text);
  }
}

let globalErrorTimer = null;
function showGlobalError(text) {
  const p = $('global-error');
  p.textContent = text;
  clearTimeout(globalErrorTimer);
  globalErrorTimer = setTimeout(() => { p.textContent = ''; }, 15000);
}

function onMessage(m) {
  switch (m.type) {
    case 'snapshot': onSnapshot(m); break;
    // Deltas before a connection's snapshot cannot be placed; the snapshot has them.
    case 'alert': if (page.live) onAlert(m); break;
    case 'card': if (page.live) onCard(m); break;
    case 'delivery': if (page.live) onDelivery(m); break;
    case 'error': onError(m); break;
    default: break; // 'ping' is dropped by connect(); unknown types: the channel will grow
  }
}

// ------------------------------------------------------------------ start

/** After a lost connection: an op in flight may or may not have been done. */
function onClosed() {
  if (pending) {
    clearPending();
    setFormBusy(false);
    setFormError('连接中断，操作结果未知；恢复连接后请核对该告警的状态。');
  }
  if (!model.hadSnapshot) renderList([]);
}

async function start() {
  everySecond(tickClock);
  initSound();
  initFilters();
  bindLogout(() => showGlobalError('退出登录失败：无法连接服务器，请稍后重试。'));
  renderAll();
  page.setState('connecting');

  if (hallId !== null && !/^[A-Za-z0-9_-]{1,32}$/.test(hallId)) {
    showFatal('bad-hall', '服务大厅编号无效', `「${hallId}」不是有效的服务大厅编号。`, ALL_SCOPE);
    return;
  }
  const result = await checkAuth();
  if (result === 'stopped' || result === 'forbidden') return;
  // 'unknown' (server unreachable): connect anyway; failures will ask again.
  page.open(hallId ? `ws/alerts?hall=${encodeURIComponent(hallId)}` : 'ws/alerts', onMessage, onClosed);
}

start();
