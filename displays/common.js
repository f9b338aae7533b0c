// hallwatch — shared helpers for the browser display pages (wall screen,
// window screen, dashboard, region page, supervisor console). Plain ES module,
// no dependencies.
//
//   import { connect, wsUrl, apiUrl, queryParam } from './common.js';
//
//   const conn = connect('ws/display/jl-center', (msg) => { ... }, (status, info) => { ... });
//   conn.close();                 // stop for good
//   conn.send({ op: 'ack', ... }); // JSON-encodes; false if the socket is not open
//
// Paths without a scheme are resolved against the page's own URL, so the pages
// keep working when the server is mounted under a sub-path behind a reverse proxy
// (page /hallwatch/wall.html -> socket /hallwatch/ws/display/...).

/** Resolve a path against the page URL and turn it into a ws:// or wss:// URL. */
export function wsUrl(path) {
  const u = new URL(path, document.baseURI);
  if (u.protocol === 'http:') u.protocol = 'ws:';
  else if (u.protocol === 'https:') u.protocol = 'wss:';
  return u.href;
}

/** Resolve an HTTP path (e.g. 'api/halls') against the page URL. */
export function apiUrl(path) {
  return new URL(path, document.baseURI).href;
}

/** A query parameter of the page URL, or null when absent or empty. */
export function queryParam(name) {
  try {
    const v = new URLSearchParams(location.search).get(name);
    return v === null || v.trim() === '' ? null : v.trim();
  } catch {
    return null;
  }
}

/** Message types used only for liveness; connect() never passes them on. */
const HEARTBEAT_TYPES = new Set(['ping', 'heartbeat']);

/**
 * Open a JSON WebSocket that reconnects forever.
 *
 * onMessage(msg)        every parsed JSON object (non-objects and bad JSON are dropped).
 * onStatus(status, info)
 *   'connecting'  a connection attempt starts          info: {attempt}
 *   'open'        the socket is open                   info: {attempt}
 *   'closed'      the socket closed or failed;         info: {attempt, code, reason,
 *                 a new attempt follows after `delay`          wasOpen, delay}
 *   'stopped'     close() was called
 *
 * Backoff: 0.5 s doubling to 10 s, each delay with random jitter (50–100 % of the
 * nominal value) so that a hall full of screens does not reconnect in lockstep
 * after a server restart. The backoff resets once a connection has delivered a
 * message. A browser 'online' event retries at once.
 *
 * options.staleMs (default 45000): if the server sends heartbeat messages
 * ({"type":"ping"} or {"type":"heartbeat"}), a connection that then stays silent
 * this long is treated as dead (half-open TCP after a network loss) and replaced.
 * The watchdog arms only after the first heartbeat, so a server without
 * heartbeats is never disconnected for being quiet.
 */
export function connect(path, onMessage, onStatus = () => {}, options = {}) {
  const minDelay = options.minDelayMs ?? 500;
  const maxDelay = options.maxDelayMs ?? 10000;
  const staleMs = options.staleMs ?? 45000;

  let ws = null;
  let attempt = 0;        // consecutive failed attempts (drives the backoff)
  let timer = null;       // pending reconnect
  let watchdog = null;    // stale-connection check
  let lastHeard = 0;
  let heartbeats = false; // has this connection sent a heartbeat?
  let stopped = false;

  const status = (s, info) => {
    try { onStatus(s, info); } catch (e) { console.error('onStatus failed', e); }
  };

  function clearTimers() {
    if (timer) { clearTimeout(timer); timer = null; }
    if (watchdog) { clearInterval(watchdog); watchdog = null; }
  }

  function open() {
    clearTimers();
    if (stopped) return;
    let url;
    try {
      url = wsUrl(path);
    } catch (e) {
      console.error('bad WebSocket path', path, e);
      return;
    }
    status('connecting', { attempt });
    let sock;
    try {
      sock = new WebSocket(url);
    } catch (e) {
      console.error('WebSocket constructor failed', e);
      schedule({ code: 0, reason: String(e), wasOpen: false });
      return;
    }
    ws = sock;
    let wasOpen = false;
    let gotMessage = false;
    heartbeats = false;

    sock.onopen = () => {
      if (ws !== sock) return;
      wasOpen = true;
      lastHeard = Date.now();
      status('open', { attempt });
      if (staleMs > 0) {
        watchdog = setInterval(() => {
          if (ws === sock && heartbeats && Date.now() - lastHeard > staleMs) {
            console.warn('WebSocket silent for', staleMs, 'ms; reconnecting');
            try { sock.close(4000, 'stale'); } catch { /* ignore */ }
            finish(sock, { code: 4000, reason: 'stale', wasOpen: true });
          }
        }, Math.min(5000, staleMs));
      }
    };

    sock.onmessage = (ev) => {
      if (ws !== sock) return;
      lastHeard = Date.now();
      if (!gotMessage) { gotMessage = true; attempt = 0; }
      let msg;
      try { msg = JSON.parse(ev.data); } catch { return; }
      if (!msg || typeof msg !== 'object' || Array.isArray(msg)) return;
      if (HEARTBEAT_TYPES.has(msg.type)) { heartbeats = true; return; }
      try { onMessage(msg); } catch (e) { console.error('onMessage failed', e); }
    };

    // onerror is always followed by onclose; all handling happens there.
    sock.onerror = () => {};
    sock.onclose = (ev) => finish(sock, { code: ev.code, reason: ev.reason, wasOpen });
  }

  function finish(sock, info) {
    if (ws !== sock) return; // an old socket closing late
    ws = null;
    sock.onopen = sock.onmessage = sock.onerror = sock.onclose = null;
    if (stopped) return;
    schedule(info);
  }

  function schedule(info) {
    clearTimers();
    const nominal = Math.min(maxDelay, minDelay * 2 ** Math.min(attempt, 16));
    const delay = Math.round(nominal * (0.5 + Math.random() * 0.5));
    attempt += 1;
    status('closed', { ...info, attempt, delay });
    timer = setTimeout(open, delay);
  }

  function onOnline() {
    // Network came back: do not sit out the rest of a 10 s backoff.
    if (!stopped && !ws) { attempt = 0; open(); }
  }
  window.addEventListener('online', onOnline);

  open();

  return {
    send(obj) {
      if (!ws || ws.readyState !== WebSocket.OPEN) return false;
      ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj));
      return true;
    },
    /** Drop the current connection and reconnect at once (e.g. after a config change). */
    reconnect() {
      if (stopped) return;
      const old = ws;
      ws = null;
      if (old) {
        old.onopen = old.onmessage = old.onerror = old.onclose = null;
        try { old.close(1000, 'reconnect'); } catch { /* ignore */ }
      }
      attempt = 0;
      open();
    },
    close() {
      stopped = true;
      clearTimers();
      window.removeEventListener('online', onOnline);
      const old = ws;
      ws = null;
      if (old) {
        old.onopen = old.onmessage = old.onerror = old.onclose = null;
        try { old.close(1000, 'bye'); } catch { /* ignore */ }
      }
      status('stopped', {});
    },
    get connected() { return !!ws && ws.readyState === WebSocket.OPEN; },
  };
}

/** Parse an RFC 3339 time; null when missing or invalid. */
export function parseTime(s) {
  if (typeof s !== 'string' || !s) return null;
  const t = Date.parse(s);
  return Number.isFinite(t) ? t : null;
}

/** The UTC offset, in minutes, written in an RFC 3339 string ("+08:00" -> 480); null if none. */
export function parseOffsetMinutes(s) {
  if (typeof s !== 'string') return null;
  const m = /(?:[Zz]|([+-])(\d{2}):?(\d{2}))$/.exec(s.trim());
  if (!m) return null;
  if (!m[1]) return 0;
  const v = Number(m[2]) * 60 + Number(m[3]);
  return m[1] === '-' ? -v : v;
}

/** A string field or a fallback; never throws on odd input. */
export function str(v, fallback = '') {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return fallback;
}

/** A finite number field or a fallback. */
export function num(v, fallback = null) {
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  return typeof n === 'number' && Number.isFinite(n) ? n : fallback;
}

/** Replace a node's text only when it changed (keeps screen readers and layout calm). */
export function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

/** Create an element with a class and text content (text only: never HTML). */
export function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined && text !== null) e.textContent = text;
  return e;
}

// ------------------------------------------------------------------ sign-in
//
// Protected pages (supervisor console, dashboards) are authorised by the
// HttpOnly session cookie that login.html obtains from POST api/login. Page
// scripts never see it, and it is not the token: logout ends it on the server.

/**
 * GET api/me (with `?hall=` when given, so that the server can answer 403 for a
 * hall outside the token's scope).
 * Resolves to {status, me}: status is the HTTP status, or 0 when the server
 * could not be reached; me is the parsed body of a 200 answer
 * ({name, role, halls}) or null.
 */
export async function fetchMe(hall = null) {
  const path = hall ? `api/me?hall=${encodeURIComponent(hall)}` : 'api/me';
  let res;
  try {
    res = await fetch(apiUrl(path), {
      cache: 'no-store',
      credentials: 'same-origin',
      headers: { Accept: 'application/json' },
    });
  } catch {
    return { status: 0, me: null };
  }
  let me = null;
  if (res.ok) {
    try {
      const body = await res.json();
      if (body && typeof body === 'object' && !Array.isArray(body)) me = body;
    } catch { /* not JSON: treat as unknown */ }
  }
  return { status: res.status, me };
}

/** The login page's URL, asking it to come back to `next` (default: this page). */
export function loginUrl(next = location.pathname + location.search) {
  const u = new URL('login.html', document.baseURI);
  if (next) u.searchParams.set('next', next);
  return u.href;
}

/**
 * POST api/logout, then open the login page. Resolves to false (and stays on
 * the page) only when the server could not be reached, since the cookie is
 * HttpOnly and cannot be dropped by the page itself.
 */
export async function logout() {
  try {
    await fetch(apiUrl('api/logout'), {
      method: 'POST',
      credentials: 'same-origin',
      headers: { Accept: 'application/json' },
    });
  } catch {
    return false;
  }
  location.assign(new URL('login.html', document.baseURI).href);
  return true;
}

/**
 * POST api/login with `token`, as the login page does, so that this browser
 * gets the session cookie. For unattended screens opened with `?token=`.
 * Resolves to the HTTP status (200 on success), or 0 when the server could
 * not be reached.
 */
export async function loginWith(token) {
  try {
    const res = await fetch(apiUrl('api/login'), {
      method: 'POST',
      credentials: 'same-origin',
      cache: 'no-store',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ token }),
    });
    return res.status;
  } catch {
    return 0;
  }
}

/**
 * The page URL's `token` parameter, taken out of the address bar (so it stays
 * out of the history, bookmarks and photos of the screen); null when absent.
 */
export function takeTokenParam() {
  let u;
  try { u = new URL(location.href); } catch { return null; }
  const token = u.searchParams.get('token');
  if (token === null) return null;
  u.searchParams.delete('token');
  try { history.replaceState(history.state, '', u.pathname + u.search + u.hash); } catch { /* ignore */ }
  return token.trim() || null;
}

// ------------------------------------------------------------------ server time
//
// Durations on the screens ("waiting for 12 minutes") count on between
// messages on the server's clock: from the last server time seen (`at` of a
// snapshot), advanced by real time × `clock_rate` (1 in production, faster in
// the demo). Times are shown in the hall's own time zone, read from the
// offset the server writes in its timestamps.

/** The server's clock as the page estimates it. */
export class ServerClock {
  /**
   * options.trustLocalMs (default 0): while the clock runs at the real rate, a
   * machine clock within this many ms of the server's is read as it is, since
   * network delay is not skew and a screen synchronised by NTP keeps better
   * time than an estimate from one message.
   */
  constructor({ trustLocalMs = 0 } = {}) {
    this.base = null;     // {server, local} in ms
    this.rate = 1;
    this.offsetMin = null;
    this.trustLocalMs = trustLocalMs;
  }

  /** Note a server time (RFC 3339) and, when given, the clock rate. */
  note(at, rate) {
    const off = parseOffsetMinutes(at);
    if (off !== null) this.offsetMin = off;
    if (typeof rate === 'number' && Number.isFinite(rate) && rate > 0) this.rate = rate;
    const t = parseTime(at);
    if (t !== null) this.base = { server: t, local: Date.now() };
  }

  /**
   * A server time seen in a delta (an alert's `updated_at`, say): the server
   * was at least that far on, so an estimate that has fallen behind (a clock
   * stepped forward, a page asleep in a background tab) catches up. Never
   * moves the estimate back.
   */
  catchUp(at) {
    const t = typeof at === 'number' ? at : parseTime(at);
    if (t !== null && Number.isFinite(t) && t > this.now()) this.base = { server: t, local: Date.now() };
  }

  /** The server's time now, in ms since the epoch. */
  now() {
    if (!this.base) return Date.now();
    if (this.rate === 1 && Math.abs(this.base.server - this.base.local) <= this.trustLocalMs) return Date.now();
    return this.base.server + (Date.now() - this.base.local) * this.rate;
  }

  /** Seconds from an RFC 3339 time to now (never negative); null if unknown. */
  since(at) {
    const t = parseTime(at);
    return t === null ? null : Math.max(0, (this.now() - t) / 1000);
  }

  /** Hall-local calendar fields of an instant. */
  parts(ms = this.now()) {
    if (this.offsetMin !== null) {
      const t = new Date(ms + this.offsetMin * 60000);
      return { y: t.getUTCFullYear(), mo: t.getUTCMonth() + 1, d: t.getUTCDate(), wd: t.getUTCDay(),
        h: t.getUTCHours(), mi: t.getUTCMinutes(), s: t.getUTCSeconds() };
    }
    const t = new Date(ms);
    return { y: t.getFullYear(), mo: t.getMonth() + 1, d: t.getDate(), wd: t.getDay(),
      h: t.getHours(), mi: t.getMinutes(), s: t.getSeconds() };
  }
}

/**
 * A duration in words: 「45 秒」「12 分 05 秒」「1 小时 05 分」. With
 * `{seconds: false}` minutes are the smallest unit (「不足 1 分钟」「12 分钟」).
 * null / undefined / NaN give 「—」.
 */
export function durationText(sec, { seconds = true } = {}) {
  if (sec === null || sec === undefined || !Number.isFinite(Number(sec))) return '—';
  const s = Math.max(0, Math.floor(Number(sec)));
  const p2 = (n) => String(n).padStart(2, '0');
  if (s < 60) return seconds ? `${s} 秒` : '不足 1 分钟';
  const m = Math.floor(s / 60);
  if (m < 60) return seconds ? `${m} 分 ${p2(s % 60)} 秒` : `${m} 分钟`;
  const h = Math.floor(m / 60);
  return `${h} 小时 ${p2(m % 60)} 分`;
}

/** Waits and service times in whole minutes, as halls say them: 「<1 分钟」「65 分钟」; null gives 「—」. */
export function minutesText(sec) {
  const n = num(sec, null);
  if (n === null) return '—';
  return n < 60 ? '<1 分钟' : `${Math.floor(n / 60)} 分钟`;
}

/** A count rounded to a whole number: 「12」; null gives 「—」. */
export function countText(v) {
  const n = num(v, null);
  return n === null ? '—' : String(Math.round(n));
}

/** A fraction 0..1 as 「87%」; null gives 「—」. */
export function percentText(r) {
  const v = num(r, null);
  return v === null ? '—' : `${Math.round(v * 100)}%`;
}

/**
 * fetchMe(hall), and when that answers 401 while the page holds a token of
 * its own (opened with `?token=`, see takeTokenParam), log in with it once
 * and ask again: an unattended screen then outlives its session cookie.
 */
export async function fetchMeWith(hall, token) {
  const first = await fetchMe(hall);
  if (first.status !== 401 || !token) return first;
  const status = await loginWith(token);
  return status === 200 ? fetchMe(hall) : first;
}

// ------------------------------------------------------------------ vocabulary

// The code lists (rules, severities, alert states, reason codes, window kinds,
// hall levels) come from the server's own enums: ./codes.js is served by
// hallwatch, never copied here.
export { RULES, SEVERITIES, ALERT_STATES, NOTE_REQUIRED, HALL_LEVELS } from './codes.js';

/**
 * The connection banner of a live page: shown only once the page has been
 * offline for `delayMs`, so a server restart that takes a second does not
 * flash a warning. Returns update(offline), to call on every state change;
 * `text()` gives the banner's words when it is due, or null to stay hidden.
 */
export function delayedBanner(banner, delayMs, text) {
  let timer = null;
  return (offline) => {
    if (offline) {
      if (!timer && banner.hidden) {
        timer = setTimeout(() => {
          timer = null;
          const words = text();
          if (words === null) return;
          banner.textContent = words;
          banner.hidden = false;
        }, delayMs);
      }
    } else {
      if (timer) { clearTimeout(timer); timer = null; }
      banner.hidden = true;
    }
  };
}

// ------------------------------------------------------------------ live pages
//
// Every live page shows its connection the same way: <body data-state> is
// 'connecting' until the first snapshot, 'live' from a snapshot on, and
// 'offline' from a lost connection until the next snapshot. Pages read at a
// desk also have a badge in their header (#conn, #conn-text).

const WEEKDAYS = ['星期日', '星期一', '星期二', '星期三', '星期四', '星期五', '星期六'];
const pad2 = (n) => String(n).padStart(2, '0');

/**
 * The header clock of a page (#clock-date 「2026年11月23日 星期一」,
 * #clock-time 「10:00:00」) at `clock`'s time, a ServerClock. Returns the
 * function that redraws it.
 */
export function headerClock(clock) {
  const date = document.getElementById('clock-date');
  const time = document.getElementById('clock-time');
  return () => {
    const p = clock.parts();
    setText(date, `${p.y}年${p.mo}月${p.d}日 ${WEEKDAYS[p.wd]}`);
    const t = `${pad2(p.h)}:${pad2(p.mi)}:${pad2(p.s)}`;
    setText(time, t);
    time.dateTime = `${p.y}-${pad2(p.mo)}-${pad2(p.d)}T${t}`;
  };
}

/**
 * Call fn now, then again just after each second turns on the clock that
 * now() reads (by default this machine's), so that a clock drawn by fn
 * changes with the second it shows rather than up to a second late.
 */
export function everySecond(fn, now = () => Date.now()) {
  const loop = () => {
    fn();
    setTimeout(loop, 1000 - (now() % 1000) + 5);
  };
  loop();
}

/**
 * Wire every [data-logout] button of the page to logout(); onFailure() runs
 * when the server could not be reached (the button is usable again then).
 */
export function bindLogout(onFailure = () => {}) {
  for (const b of document.querySelectorAll('[data-logout]')) {
    b.addEventListener('click', async () => {
      b.disabled = true;
      if (await logout()) return;
      b.disabled = false;
      onFailure();
    });
  }
}

/**
 * Whether GET api/halls lists hall `id`: true or false, or null when the
 * server cannot tell now (unreachable, an error, an odd answer).
 */
export async function hallExists(id) {
  let halls;
  try {
    const res = await fetch(apiUrl('api/halls'), { cache: 'no-store', headers: { Accept: 'application/json' } });
    if (!res.ok) return null;
    halls = await res.json();
  } catch {
    return null;
  }
  return Array.isArray(halls) ? halls.some((h) => h && h.id === id) : null;
}

/** Close codes by which the server may be saying that a session ended or lost its scope. */
const SESSION_CLOSE_CODES = new Set([1008, 4401, 4403]);
const SESSION_RECHECK_MS = 10000;

/**
 * The connection of a live page as its viewers see it, and the socket behind
 * it (connect(), which reconnects by itself). Keeps <body data-state>, the
 * header badge when the page has one, and an offline banner in step.
 *
 * options (all optional):
 *   offlineText(wasLive)  the badge's words while offline; wasLive tells
 *                     whether the page has been live since it was opened
 *   banner            an element shown once the page has been offline for
 *                     bannerDelayMs, so that a server restart that takes a
 *                     second does not flash a warning; bannerText(wasLive)
 *                     gives its words (by default it keeps its own)
 *   onState(state)    after every change of state
 *   onForbidden()     what a 403 from api/me means to the page (see me())
 *   recheck()         a signed-in page's check of its session (may return a
 *                     promise). A refused upgrade (401/403) looks like any
 *                     failed connection to a browser, so it runs at once when
 *                     the server closes the socket by policy, and, at most
 *                     every 10 s, from the second attempt in a row that never
 *                     opened.
 *   inert             the element that fatal(…, {stop: true}) puts out of reach
 *
 * Returns an object: open(path, onMessage, onClosed(info)) connects;
 * setState('connecting'|'live'|'offline'); state; live (the current
 * connection has delivered its snapshot); send(obj) as connect()'s;
 * me(hall, token); fatal(); clearFatal().
 */
export function livePage(options = {}) {
  const {
    offlineText = (wasLive) => (wasLive ? '连接中断，正在重连…' : '正在连接服务器…'),
    banner = null, bannerDelayMs = 0, bannerText = null,
    onState = () => {}, onForbidden = null, recheck = null, inert = null,
  } = options;
  const $ = (id) => document.getElementById(id);
  const body = document.body;
  const badge = $('conn');
  let state = body.dataset.state || 'connecting';
  let wasLive = false;
  let stopped = false;
  let socket = null;
  let lastRecheck = 0;

  const showBanner = banner
    ? delayedBanner(banner, bannerDelayMs, () => {
      if (state !== 'offline' || stopped || body.dataset.error) return null;
      return bannerText ? bannerText(wasLive) : banner.textContent;
    })
    : () => {};

  function setState(s) {
    state = s;
    if (s === 'live') wasLive = true;
    body.dataset.state = s;
    if (badge) {
      badge.dataset.state = s;
      setText($('conn-text'), stopped ? '已停止'
        : s === 'live' ? '实时'
          : s === 'offline' ? offlineText(wasLive)
            : '正在连接…');
    }
    showBanner(s === 'offline' && !stopped);
    onState(s);
  }

  function maybeRecheck(force) {
    if (stopped) return;
    if (!force && Date.now() - lastRecheck < SESSION_RECHECK_MS) return;
    lastRecheck = Date.now();
    Promise.resolve().then(recheck).catch((e) => console.warn('session check failed', e));
  }

  function stop() {
    stopped = true;
    if (socket) socket.close();
    socket = null;
  }

  return {
    get state() { return state; },
    get live() { return state === 'live'; },
    setState,

    /** Connect to `path`; onClosed(info) follows each lost connection or failed attempt. */
    open(path, onMessage, onClosed = () => {}) {
      let failures = 0; // attempts in a row that never opened
      socket = connect(path, onMessage, (status, info) => {
        if (stopped) return;
        if (status === 'open') {
          failures = 0;
        } else if (status === 'closed') {
          setState('offline');
          onClosed(info);
          if (!recheck) return;
          if (info.wasOpen) {
            if (SESSION_CLOSE_CODES.has(info.code)) maybeRecheck(true);
          } else {
            failures += 1;
            if (failures >= 2) maybeRecheck(false);
          }
        }
      });
    },

    send(obj) {
      return socket ? socket.send(obj) : false;
    },

    /**
     * fetchMeWith(hall, token) for this page: {status, me}, or null when the
     * page cannot go on: it stopped meanwhile, the session is gone (401: the
     * login page opens), or `hall` is out of its scope (403, when the page
     * has onForbidden, which then runs).
     */
    async me(hall = null, token = null) {
      const answer = await fetchMeWith(hall, token);
      if (stopped) return null;
      if (answer.status === 401) {
        // The login page comes back here once signed in.
        stop();
        location.replace(loginUrl());
        return null;
      }
      if (answer.status === 403 && hall !== null && onForbidden) {
        onForbidden();
        return null;
      }
      return answer;
    },

    /**
     * The overlay (#fatal) saying why the page cannot work: <body data-error>
     * is `kind`; #fatal-title (when the page has one and title is not null),
     * #fatal-text, and #fatal-link pointing to link {href, text} or hidden.
     * With stop the page gives up for good: the socket closes, the page behind
     * turns inert and the overlay's first action takes the focus.
     */
    fatal(kind, title, text, { link = null, stop: forGood = false } = {}) {
      if (forGood) stop();
      body.dataset.error = kind;
      showBanner(false);
      if (title !== null && $('fatal-title')) $('fatal-title').textContent = title;
      $('fatal-text').textContent = text;
      const a = $('fatal-link');
      if (a && link) {
        a.href = link.href;
        a.textContent = link.text;
      }
      if (a) a.hidden = !link;
      $('fatal').hidden = false;
      if (!forGood) return;
      if (inert) inert.setAttribute('inert', '');
      setState('offline');
      const first = $('fatal').querySelector('a:not([hidden]), button');
      if (first) first.focus();
    },

    /** Take the overlay away again (the page works after all). */
    clearFatal() {
      delete body.dataset.error;
      $('fatal').hidden = true;
    },
  };
}
