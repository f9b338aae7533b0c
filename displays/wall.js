// hallwatch — wall screen (综合屏).
//
// Data: WebSocket ws(s)://HOST/ws/display/{hall}[?window=..|zone=..]. The first
// message after every connect is a `snapshot` that replaces everything; then
// `call`, `window` and `queue` deltas. Unknown message types are ignored.
//
// State for tests and monitoring: <body data-state="connecting|live|offline">,
// plus data-error="missing-hall|unknown-hall" when the page cannot work.
// The big current call is #latest-ticket / #latest-window.

import {
  queryParam, str, num, el, ServerClock, livePage, headerClock, everySecond, hallExists,
} from './common.js';

const MAX_CALLS = 10;
const VOICE_KEY = 'hallwatch.wall.voice';
const STATUS_TEXT = {
  offline: '未开放',
  idle: '空闲',
  calling: '呼叫中',
  serving: '办理中',
  paused: '暂停服务',
};

const $ = (id) => document.getElementById(id);
const body = document.body;

// ------------------------------------------------------------------ state

const model = {
  hall: null,          // {id, name, level}
  windows: [],         // [{id, name, status, ...}] in server order
  queues: [],          // [{service, name, prefix, waiting, wait}]
  hours: [],           // today's office hours, ['09:00-12:00', …]
  stopAt: null,        // 停止取号 time today, 'HH:MM', or null
  calls: [],           // newest first, at most MAX_CALLS, one entry per ticket
  hadSnapshot: false,
};

// Hall-local clock: the time-zone offset written in the server's timestamps;
// the TV's own clock unless it is clearly wrong (more than two minutes off)
// or the demo runs the server's clock faster.
const clock = new ServerClock({ trustLocalMs: 120000 });
const tickClock = headerClock(clock);

// ------------------------------------------------------------------ helpers

function normWindow(w) {
  if (!w || typeof w !== 'object') return null;
  const id = str(w.id ?? w.window);
  if (!id) return null;
  return {
    id,
    name: str(w.name) || str(w.window_name) || `${id}号窗口`,
    zone: str(w.zone),
    status: str(w.status, 'offline'),
    ticket: str(w.ticket) || null,
  };
}

function normQueue(q) {
  if (!q || typeof q !== 'object') return null;
  const service = str(q.service);
  if (!service) return null;
  return {
    service,
    name: str(q.name) || str(q.service_name) || service,
    prefix: str(q.prefix),
    waiting: Math.max(0, num(q.waiting, 0)),
    wait: num(q.estimated_wait_s, null),
  };
}

/** A queue's wait for a ticket taken now, as a citizen reads it. */
export function waitWords(q) {
  if (q.wait === null) return '';
  if (q.wait < 60) return q.waiting === 0 ? '随到随办' : '即将叫号';
  const min = Math.ceil(q.wait / 60);
  if (min < 60) return `约 ${min} 分钟`;
  const h = Math.floor(min / 60);
  return min % 60 ? `约 ${h} 小时 ${min % 60} 分` : `约 ${h} 小时`;
}

/**
 * What the hall's issuing is now, from today's hours and its cut-off at
 * the hall-local time `hm` ('HH:MM'): [text, stopped] or null when
 * tickets are issued with nothing to say.
 */
export function issuingWords(hours, stopAt, hm) {
  if (!hours.length) return ['今日不办公', true];
  const spans = hours.map((h) => h.split('-'));
  const open = spans[0][0];
  const close = spans[spans.length - 1][1];
  if (hm < open) return [`${open} 开始办公`, false];
  if (hm >= close) return ['今日办公已结束', true];
  if (stopAt && hm >= stopAt) return ['今日已停止取号，已取号的请耐心等候', true];
  for (let i = 1; i < spans.length; i++) {
    if (hm >= spans[i - 1][1] && hm < spans[i][0]) {
      return [`午休时间，${spans[i][0]} 恢复叫号`, false];
    }
  }
  return stopAt ? [`${stopAt} 停止取号`, false] : null;
}

function renderIssuing() {
  const node = $('issuing');
  const p = clock.parts();
  const hm = `${String(p.h).padStart(2, '0')}:${String(p.mi).padStart(2, '0')}`;
  const words = model.hadSnapshot ? issuingWords(model.hours, model.stopAt, hm) : null;
  node.hidden = !words;
  if (!words) return;
  if (node.textContent !== words[0]) node.textContent = words[0];
  node.classList.toggle('is-stopped', words[1]);
}

function normCall(c) {
  if (!c || typeof c !== 'object') return null;
  const ticket = str(c.ticket).trim();
  if (!ticket) return null;
  const windowId = str(c.window);
  const known = model.windows.find((w) => w.id === windowId);
  return {
    ticket,
    window: windowId,
    windowName: str(c.window_name) || (known && known.name) || (windowId ? `${windowId}号窗口` : ''),
    service: str(c.service),
    at: str(c.at),
    recall: c.recall === true,
    appointment: c.appointment === true,
  };
}

/** Newest first, one entry per ticket (a recall or a second call moves it up). */
function dedupeCalls(list) {
  const seen = new Set();
  const out = [];
  for (const c of list) {
    if (!c || seen.has(c.ticket)) continue;
    seen.add(c.ticket);
    out.push(c);
    if (out.length >= MAX_CALLS) break;
  }
  return out;
}

/** "09:03" from "2026-11-22T09:03:00+08:00" — the hall's local time as written. */
function hhmm(at) {
  const m = /T(\d{2}):(\d{2})/.exec(str(at));
  return m ? `${m[1]}:${m[2]}` : '';
}

// ------------------------------------------------------------------ state of the page

const page = livePage({
  banner: $('conn-banner'),
  bannerDelayMs: 1500,
  onState: (s) => {
    if (!model.hadSnapshot) $('latest-empty-text').textContent = s === 'offline' ? '正在连接服务器…' : '正在连接…';
  },
});

// ------------------------------------------------------------------ rendering

function renderHall() {
  const name = (model.hall && (str(model.hall.name) || str(model.hall.id))) || hallId || '综合屏';
  $('hall-name').textContent = name;
  document.title = `${name} · 综合屏`;
}

let flashTimer = null;

function renderLatest(flash) {
  const latest = model.calls[0];
  const box = $('latest');
  const empty = $('latest-empty');
  if (!latest) {
    box.hidden = true;
    empty.hidden = false;
    $('latest-empty-text').textContent = model.hadSnapshot ? '暂无叫号，请留意屏幕与语音提示' : '正在连接…';
    delete box.dataset.ticket;
    $('latest-ticket').textContent = '';
    $('latest-window').textContent = '';
    return;
  }
  empty.hidden = true;
  box.hidden = false;
  $('latest-ticket').textContent = latest.ticket;
  $('latest-window').textContent = latest.windowName || '—';
  $('latest-note').hidden = !latest.recall;
  box.dataset.ticket = latest.ticket;
  box.dataset.window = latest.window;
  fitLines();
  if (flash) {
    const hero = $('hero');
    hero.classList.remove('flash');
    void hero.offsetWidth; // restart the animation
    hero.classList.add('flash');
    clearTimeout(flashTimer);
    flashTimer = setTimeout(() => hero.classList.remove('flash'), 4000);
  }
}

/** Shrink the big lines when a long window name or a small panel would not hold them. */
function fitLines() {
  const box = $('latest');
  if (box.hidden) return;
  const lines = [...box.querySelectorAll('.line')];
  for (const line of lines) line.style.setProperty('--fit', '1');
  // Font sizes scale linearly, so ratios measured at --fit: 1 give the answer at once.
  const availH = box.clientHeight;
  const needH = lines.reduce((h, l) => h + l.offsetHeight, 0) * 1.08;
  const hScale = availH > 0 && needH > availH ? availH / needH : 1;
  for (const line of lines) {
    const avail = line.clientWidth;
    const kids = [...line.children].filter((k) => !k.hidden);
    const gap = parseFloat(getComputedStyle(line).columnGap) || 0;
    const need = kids.reduce((w, k) => w + k.getBoundingClientRect().width, 0) + gap * Math.max(0, kids.length - 1);
    const wScale = avail > 0 && need > avail ? avail / need : 1;
    const scale = Math.min(wScale, hScale);
    if (scale < 1) line.style.setProperty('--fit', String(Math.max(0.3, scale * 0.97)));
  }
}

function renderRecent(flashFirst) {
  const tbody = $('recent-body');
  const rows = model.calls.map((c, i) => {
    const tr = el('tr');
    const t = el('td', 'r-ticket num', c.ticket);
    if (c.appointment) t.append(el('span', 'r-tag r-booked', '预约'));
    if (c.recall) t.append(el('span', 'r-tag', '重呼'));
    const arrow = el('td', 'r-arrow', '→');
    arrow.setAttribute('aria-hidden', 'true');
    const w = el('td', 'r-window', c.windowName || '—');
    const time = el('td', 'r-time num', hhmm(c.at));
    tr.append(t, arrow, w, time);
    if (i === 0 && flashFirst) tr.classList.add('is-new');
    return tr;
  });
  tbody.replaceChildren(...rows);
  $('recent-empty').hidden = rows.length > 0;
}

function renderQueues() {
  const list = $('queue-list');
  const items = model.queues.map((q) => {
    const li = el('li', 'queue');
    if (q.waiting === 0) li.classList.add('is-zero');
    li.dataset.service = q.service;
    if (q.prefix) {
      const p = el('span', 'q-prefix num', q.prefix);
      p.title = '号码字头';
      li.append(p);
    }
    // The name, and under it the wait a ticket taken now would have.
    const text = el('span', 'q-text');
    text.append(el('span', 'q-name', q.name));
    const wait = waitWords(q);
    if (wait) {
      const w = el('span', 'q-wait', wait);
      w.title = '现在取号的预计等候时间';
      text.append(w);
    }
    li.append(text);
    const count = el('span', 'q-count num', String(q.waiting));
    count.append(el('span', 'q-unit', '人'));
    li.append(count);
    return li;
  });
  if (items.length === 0 && model.hadSnapshot) {
    items.push(el('li', 'queues-empty', '暂无业务排队信息'));
  }
  list.replaceChildren(...items);
  list.classList.toggle('dense', model.queues.length > 9);
  const total = model.queues.reduce((s, q) => s + q.waiting, 0);
  $('queues-total').textContent = model.queues.length ? `共 ${total} 人` : '';
}

function renderWindows() {
  const section = $('windows');
  const list = $('window-list');
  section.hidden = model.windows.length === 0;
  list.classList.toggle('dense', model.windows.length > 24);
  list.replaceChildren(...model.windows.map((w) => {
    const status = Object.hasOwn(STATUS_TEXT, w.status) ? w.status : 'offline';
    const li = el('li', `win st-${status}`);
    li.dataset.window = w.id;
    li.append(el('span', 'w-name', w.name), el('span', 'w-status', STATUS_TEXT[status]));
    return li;
  }));
}

function renderAll() {
  renderHall();
  renderLatest(false);
  renderRecent(false);
  renderQueues();
  renderWindows();
  renderIssuing();
}

// ------------------------------------------------------------------ messages

function onSnapshot(m) {
  if (m.hall && typeof m.hall === 'object') model.hall = m.hall;
  model.windows = (Array.isArray(m.windows) ? m.windows : []).map(normWindow).filter(Boolean);
  model.queues = (Array.isArray(m.queues) ? m.queues : []).map(normQueue).filter(Boolean);
  model.calls = dedupeCalls((Array.isArray(m.calls) ? m.calls : []).map(normCall));
  model.hours = (Array.isArray(m.hours) ? m.hours : []).filter((h) => typeof h === 'string' && h.includes('-'));
  model.stopAt = typeof m.stop_issuing_at === 'string' ? m.stop_issuing_at : null;
  model.hadSnapshot = true;
  clock.note(m.at, m.clock_rate);
  page.clearFatal();
  renderAll();
  page.setState('live');
  tickClock();
}

function onCall(m) {
  const c = normCall(m);
  if (!c) return;
  model.calls = dedupeCalls([c, ...model.calls]);
  renderLatest(true);
  renderRecent(true);
  try { announce(c); } catch (e) { console.warn('announce failed', e); }
}

function onWindow(m) {
  const id = str(m.window ?? m.id);
  if (!id) return;
  let w = model.windows.find((x) => x.id === id);
  if (!w) {
    w = normWindow({ id, name: m.window_name ?? m.name });
    model.windows.push(w);
  }
  if (typeof m.status === 'string' && m.status) w.status = m.status;
  if ('ticket' in m) w.ticket = str(m.ticket) || null;
  if (typeof m.name === 'string' && m.name) w.name = m.name;
  renderWindows();
}

function onQueue(m) {
  const service = str(m.service);
  if (!service) return;
  let q = model.queues.find((x) => x.service === service);
  if (!q) {
    q = normQueue({ service, name: m.name ?? m.service_name, prefix: m.prefix, waiting: 0 });
    model.queues.push(q);
  }
  const waiting = num(m.waiting, null);
  if (waiting !== null) q.waiting = Math.max(0, waiting);
  const wait = num(m.estimated_wait_s, null);
  if (wait !== null) q.wait = wait;
  if (typeof m.name === 'string' && m.name) q.name = m.name;
  if (typeof m.prefix === 'string' && m.prefix) q.prefix = m.prefix;
  renderQueues();
}

function onMessage(m) {
  switch (m.type) {
    case 'snapshot': onSnapshot(m); break;
    // Deltas before the first snapshot of a connection cannot be placed; the
    // snapshot that follows carries them anyway.
    case 'call': if (page.live) onCall(m); break;
    case 'window': if (page.live) onWindow(m); break;
    case 'queue': if (page.live) onQueue(m); break;
    default: break; // unknown types: the channel will grow
  }
}

// ------------------------------------------------------------------ voice

const speech = {
  supported: typeof window.speechSynthesis !== 'undefined' && typeof window.SpeechSynthesisUtterance === 'function',
  on: false,
  heard: false,     // an utterance has started or the user has interacted: sound is allowed
  queue: [],        // [{text, gapAfterMs}]
  current: null,
  guard: null,
  voice: null,
  voicesSettled: false, // voices had time to load (an empty list is then final)
};

function loadVoicePref() {
  try { return localStorage.getItem(VOICE_KEY) === 'on'; } catch { return false; }
}

function saveVoicePref(on) {
  try { localStorage.setItem(VOICE_KEY, on ? 'on' : 'off'); } catch { /* private mode */ }
}

function pickVoice() {
  if (!speech.supported) return null;
  let voices = [];
  try { voices = speechSynthesis.getVoices() || []; } catch { return null; }
  const norm = (l) => str(l).toLowerCase().replace('_', '-');
  return voices.find((v) => norm(v.lang) === 'zh-cn')
    || voices.find((v) => norm(v.lang).startsWith('cmn'))
    || voices.find((v) => norm(v.lang).startsWith('zh-hans'))
    || voices.find((v) => norm(v.lang).startsWith('zh'))
    || null;
}

/** False only when the engine has listed its voices and none speaks Chinese. */
function hasChineseVoice() {
  let voices = [];
  try { voices = speechSynthesis.getVoices() || []; } catch { return true; }
  if (voices.length === 0) return !speech.voicesSettled;
  return voices.some((v) => /^(zh|cmn)/i.test(str(v.lang)));
}

/** 「请 B 023 号到 5 号窗口办理」: letters apart from digits, spaces between Latin/digits and Chinese. */
export function callSentence(ticket, windowName) {
  const t = str(ticket).trim();
  const m = /^([A-Za-z]+)(\d+)$/.exec(t);
  const spokenTicket = m ? `${m[1].toUpperCase().split('').join(' ')} ${m[2]}` : t;
  const spokenWindow = str(windowName)
    .replace(/([0-9A-Za-z])([^\s0-9A-Za-z])/g, '$1 $2')
    .replace(/([^\s0-9A-Za-z])([0-9A-Za-z])/g, '$1 $2');
  return `请 ${spokenTicket} 号到 ${spokenWindow}办理`;
}

function renderVoice() {
  const btn = $('voice-toggle');
  const hint = $('voice-hint');
  btn.setAttribute('aria-pressed', speech.on ? 'true' : 'false');
  $('voice-state').textContent = speech.on ? '开' : '关';
  if (!speech.supported) {
    btn.disabled = true;
    hint.textContent = '此浏览器不支持语音播报';
  } else if (!speech.on) {
    hint.textContent = '点击开启语音播报';
  } else if (!speech.heard) {
    hint.textContent = '如无声音，请点击一下屏幕';
  } else if (!hasChineseVoice()) {
    hint.textContent = '未检测到中文语音，播报可能无声';
  } else {
    hint.textContent = '';
  }
}

function speakNext() {
  if (!speech.supported || !speech.on || speech.current || speech.queue.length === 0) return;
  const item = speech.queue.shift();
  let u;
  try {
    u = new SpeechSynthesisUtterance(item.text);
    u.lang = 'zh-CN';
    u.rate = 0.9;
    u.volume = 1;
  } catch (e) {
    console.warn('SpeechSynthesisUtterance failed', e);
    return;
  }
  speech.voice = speech.voice || pickVoice();
  try {
    if (speech.voice) u.voice = speech.voice;
  } catch {
    speech.voice = null; // not a usable voice object: let the engine pick by lang
  }
  speech.current = u;
  const done = () => {
    if (speech.current !== u) return;
    clearTimeout(speech.guard);
    speech.current = null;
    setTimeout(speakNext, item.gapAfterMs);
  };
  u.onstart = () => {
    if (!speech.heard) { speech.heard = true; renderVoice(); }
  };
  u.onend = done;
  u.onerror = (ev) => {
    if (ev && ev.error === 'not-allowed') { speech.heard = false; renderVoice(); }
    done();
  };
  // Some engines never fire `end`: do not let one stuck utterance stop the queue.
  speech.guard = setTimeout(() => {
    if (speech.current !== u) return;
    try { speechSynthesis.cancel(); } catch { /* ignore */ }
    done();
  }, 20000);
  try {
    speechSynthesis.speak(u);
  } catch (e) {
    console.warn('speechSynthesis.speak failed', e);
    done();
  }
}

/** Queue a live call: said twice, as halls do. Never cut off what is being said. */
function announce(call) {
  if (!speech.supported || !speech.on) return;
  const text = callSentence(call.ticket, call.windowName);
  // A long backlog is stale; keep the last few calls only.
  while (speech.queue.length >= 8) speech.queue.shift();
  speech.queue.push({ text, gapAfterMs: 700 }, { text, gapAfterMs: 1200 });
  speakNext();
}

function setVoice(on) {
  speech.on = on;
  saveVoicePref(on);
  renderVoice();
  if (!on) {
    speech.queue = [];
    speech.current = null;
    clearTimeout(speech.guard);
    try { speechSynthesis.cancel(); } catch { /* ignore */ }
  } else {
    // The click is the user gesture browsers want; speaking inside it unlocks audio.
    speech.heard = true;
    renderVoice();
    // Voices load lazily; judge "no Chinese voice" only after the engine had time.
    setTimeout(() => { speech.voicesSettled = true; renderVoice(); }, 3000);
    speech.queue.unshift({ text: '语音播报已开启', gapAfterMs: 400 });
    speakNext();
  }
}

function initVoice() {
  speech.on = speech.supported && loadVoicePref();
  $('voice-toggle').addEventListener('click', () => setVoice(!speech.on));
  if (speech.supported) {
    try {
      speechSynthesis.addEventListener('voiceschanged', () => {
        speech.voice = pickVoice();
        renderVoice();
      });
    } catch { /* old engines */ }
    // Any interaction counts as the gesture browsers want before speaking.
    const gesture = () => {
      if (speech.on && !speech.heard) {
        speech.heard = true;
        renderVoice();
        speakNext();
      }
    };
    window.addEventListener('pointerdown', gesture, { passive: true });
    window.addEventListener('keydown', gesture);
    setTimeout(() => { speech.voicesSettled = true; renderVoice(); }, 5000);
  }
  renderVoice();
}

// ------------------------------------------------------------------ unknown hall

let lastHallCheck = 0;

/** The socket could not be opened: ask the server whether the hall exists at all. */
async function checkHall() {
  const now = Date.now();
  if (now - lastHallCheck < 15000) return;
  lastHallCheck = now;
  // Cannot tell (the server or the network is down): keep trying to connect.
  const known = await hallExists(hallId);
  if (known === false) {
    page.fatal('unknown-hall', '未找到服务大厅', `服务大厅「${hallId}」不存在或尚未配置，请从列表中重新选择。`);
  } else if (known && body.dataset.error === 'unknown-hall') {
    page.clearFatal();
  }
}

// ------------------------------------------------------------------ start

const hallId = queryParam('hall');

function start() {
  // A TV's clock may be minutes off: tick with the clock shown.
  everySecond(() => {
    tickClock();
    renderIssuing();
  }, () => clock.now());
  initVoice();
  renderHall();
  let resizeTimer = null;
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(fitLines, 150);
  });
  if (document.fonts && document.fonts.ready) document.fonts.ready.then(fitLines).catch(() => {});
  if (typeof ResizeObserver === 'function') new ResizeObserver(() => fitLines()).observe($('hero'));

  if (!hallId || !/^[A-Za-z0-9_-]{1,32}$/.test(hallId)) {
    page.fatal('missing-hall', hallId ? '服务大厅编号无效' : '未指定服务大厅',
      '请从服务大厅列表中选择要显示的大厅。');
    page.setState('offline');
    return;
  }

  const params = new URLSearchParams();
  for (const key of ['window', 'zone']) {
    const v = queryParam(key);
    if (v !== null) params.set(key, v);
  }
  const qs = params.toString();
  const path = `ws/display/${encodeURIComponent(hallId)}${qs ? `?${qs}` : ''}`;

  page.open(path, onMessage, (info) => {
    if (!info.wasOpen || info.code === 4404 || info.code === 1008) checkHall();
  });
}

start();
