// hallwatch — a ticket's phone page (/t/{token}). No login: the token in
// the address is the ticket's key. Asks the server for the ticket's state
// every few seconds (more often when the call is near), at once when the
// phone wakes or its network comes back, and backs off while the server
// cannot be reached. Nothing is stored on the phone.

const $ = (id) => document.getElementById(id);
const base = location.pathname.replace(/\/+$/, '');

/** Seconds between asks: by what the ticket is doing. */
const EVERY = { far: 8, near: 3, called: 4, missed: 10 };
const BACKOFF_MAX = 30;

let timer = null;
let failures = 0;
let last = null;         // the last page drawn
let gone = false;        // the ticket's day ended, or the token is wrong
let confirming = false;

function setText(id, text) {
  const node = $(id);
  if (node.textContent !== text) node.textContent = text;
}

function show(id, visible) {
  $(id).hidden = !visible;
}

/** "约 12 分钟", "约 1 小时 5 分钟", "即将叫号". */
export function waitText(sec) {
  if (sec == null) return '—';
  if (sec < 60) return '即将叫号';
  const min = Math.ceil(sec / 60);
  if (min < 60) return `约 ${min} 分钟`;
  const h = Math.floor(min / 60);
  const m = min % 60;
  return m ? `约 ${h} 小时 ${m} 分钟` : `约 ${h} 小时`;
}

/** "HH:MM" of an RFC 3339 local time as the server wrote it. */
function hhmm(s) {
  return typeof s === 'string' && s.length >= 16 ? s.slice(11, 16) : '';
}

/** The lunch breaks: the gaps between today's spans. */
function breaks(hours) {
  const out = [];
  for (let i = 1; i < hours.length; i++) {
    out.push([hours[i - 1].split('-')[1], hours[i].split('-')[0]]);
  }
  return out;
}

function schedule(seconds) {
  clearTimeout(timer);
  if (!gone) timer = setTimeout(ask, seconds * 1000);
}

function cadence(page) {
  switch (page.state) {
    case 'waiting': return page.near ? EVERY.near : EVERY.far;
    case 'called':
    case 'serving': return EVERY.called;
    case 'missed': return EVERY.missed;
    default: return null; // done, cancelled: final
  }
}

async function ask() {
  clearTimeout(timer);
  if (gone) return;
  let res;
  try {
    res = await fetch(`${base}/state`, { cache: 'no-store' });
  } catch {
    return offline();
  }
  if (res.status === 404) return expired();
  if (res.status === 429) {
    const after = Number(res.headers.get('Retry-After')) || 10;
    return schedule(Math.min(after, 120));
  }
  if (!res.ok) return offline();
  let page;
  try {
    page = await res.json();
  } catch {
    return offline();
  }
  failures = 0;
  show('conn', false);
  draw(page);
  const next = cadence(page);
  if (next != null) schedule(next);
}

function offline() {
  failures += 1;
  show('conn', true);
  schedule(Math.min(2 ** failures, BACKOFF_MAX));
}

function expired() {
  gone = true;
  clearTimeout(timer);
  document.body.dataset.state = 'gone';
  document.body.dataset.near = 'false';
  show('conn', false);
  show('call', false);
  show('facts', false);
  show('give-up', false);
  show('confirm', false);
  show('notify', false);
  setText('headline', '号码已过期');
  setText('detail', '排队号只在取号当天有效。需要办理请到大厅取号机重新取号。');
  setText('ahead', '—');
  setText('wait', '—');
}

function headline(page) {
  const win = page.window ? page.window.name : '窗口';
  switch (page.state) {
    case 'waiting':
      if (page.near) return ['快到您了', '请回到大厅，留意叫号屏和广播。'];
      if (!page.open) return ['排队中', closedText(page)];
      return ['排队中', '轮到您时本页会提醒，您可以先离开片刻。'];
    case 'called': return [`请到 ${win} 办理`, '正在叫您的号，请尽快前往。'];
    case 'serving': return [`正在 ${win} 办理`, ''];
    case 'done': return ['已办结', '感谢您的耐心等候，欢迎对本次服务作出评价。'];
    case 'missed': return ['您已过号', '请到服务台或原窗口说明情况，工作人员可为您重新叫号。'];
    case 'cancelled': return ['已取消排队', '本号已作废。需要办理请到大厅取号机重新取号。'];
    default: return ['', ''];
  }
}

function closedText(page) {
  const now = hhmm(page.at);
  for (const [from, to] of breaks(page.hours)) {
    if (now >= from && now < to) return `现在是午休时间，${to} 恢复叫号。`;
  }
  const first = page.hours[0];
  if (first && now < first.split('-')[0]) return `${first.split('-')[0]} 开始叫号。`;
  return '现在不在办公时间。';
}

function draw(page) {
  const before = last;
  last = page;
  document.body.dataset.state = page.state;
  document.body.dataset.near = String(page.state === 'waiting' && page.near);
  setText('hall-name', page.hall.name);
  document.title = `${page.ticket} · ${page.hall.name}`;
  setText('service', page.service_name);
  setText('ticket-no', page.ticket);
  show('appointment', page.priority === 'appointment');
  const [head, detail] = headline(page);
  setText('headline', head);
  setText('detail', detail);

  const called = page.state === 'called' || page.state === 'serving';
  show('call', called && !!page.window);
  if (page.window) {
    setText('call-window', page.window.name);
    setText('call-zone', page.window.zone || '');
  }
  // How many ahead and how long: only while it waits.
  show('facts', page.state === 'waiting');
  setText('ahead', page.ahead == null ? '—' : `${page.ahead} 位`);
  setText('wait', page.state === 'waiting' ? waitText(page.estimated_wait_s) : '—');

  setText('hours', page.hours.length ? page.hours.join('，') : '今日不办公');
  const lunch = breaks(page.hours).map(([a, b]) => `${a}-${b}`);
  show('lunch', lunch.length > 0);
  setText('lunch', lunch.length ? `午休 ${lunch.join('，')}` : '');

  show('give-up', page.can_give_up && !confirming);
  show('confirm', page.can_give_up && confirming);
  if (!page.can_give_up) confirming = false;
  drawNotifyButton(page);
  setText('updated', `更新于 ${hhmm(page.at)}${page.at ? page.at.slice(16, 19) : ''}`);

  // What changed since the last draw is what the phone says out loud.
  if (before && before.state !== 'called' && page.state === 'called') {
    alertCitizen([500, 200, 500, 200, 500], `请到 ${page.window ? page.window.name : '窗口'} 办理`,
      `${page.ticket} 号正在叫号`);
  } else if (page.state === 'waiting' && page.near && !(before && before.state === 'waiting' && before.near)) {
    alertCitizen([300], '快到您了', `${page.ticket} 号前面还有 ${page.ahead} 位，请回到大厅候叫`);
  }
}

/** Vibrates and, where the phone allows it, shows a notification. */
function alertCitizen(pattern, title, body) {
  if (navigator.vibrate) navigator.vibrate(pattern);
  if ('Notification' in window && Notification.permission === 'granted') {
    try {
      new Notification(title, { body, tag: 'hallwatch-ticket', renotify: true });
    } catch {
      // Some phones allow notifications only from a service worker: the
      // page itself still shows and vibrates.
    }
  }
}

function drawNotifyButton(page) {
  const supported = 'Notification' in window && window.isSecureContext;
  const ask = supported && Notification.permission === 'default' && page.state === 'waiting';
  show('notify', ask);
  const hint = !supported && page.state === 'waiting'
    ? '请保持本页面打开，轮到您时手机会振动提醒。'
    : '';
  setText('notify-hint', hint);
  show('notify-hint', hint !== '');
}

async function giveUp() {
  show('action-error', false);
  let res;
  try {
    res = await fetch(`${base}/give-up`, { method: 'POST', cache: 'no-store' });
  } catch {
    setText('action-error', '网络连接中断，取消未成功，请稍后再试。');
    show('action-error', true);
    return;
  }
  confirming = false;
  if (res.status === 404) return expired();
  let body = null;
  try {
    body = await res.json();
  } catch {
    body = null;
  }
  if (res.ok && body) {
    draw(body);
    clearTimeout(timer);
    return;
  }
  setText('action-error', (body && body.message) || '取消未成功，请稍后再试。');
  show('action-error', true);
  ask();
}

$('give-up').addEventListener('click', () => {
  confirming = true;
  show('give-up', false);
  show('confirm', true);
  $('confirm-no').focus();
});
$('confirm-no').addEventListener('click', () => {
  confirming = false;
  show('confirm', false);
  show('give-up', true);
  $('give-up').focus();
});
$('confirm-yes').addEventListener('click', giveUp);
$('notify').addEventListener('click', async () => {
  try {
    await Notification.requestPermission();
  } finally {
    if (last) drawNotifyButton(last);
  }
});

// A phone that slept, or changed from Wi-Fi to mobile data, asks at once.
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible') ask();
});
window.addEventListener('online', ask);
window.addEventListener('pageshow', (e) => {
  if (e.persisted) ask();
});

ask();
