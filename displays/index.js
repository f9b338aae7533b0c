// hallwatch — landing page: lists the halls from GET api/halls, each with a link
// to its wall screen, its manager's dashboard and, on demand, the window
// screens of its windows (from GET api/halls/{hall}/snapshot). (A separate
// file: the server's CSP allows no inline script.)

import { apiUrl, el, str, HALL_LEVELS } from './common.js';

const box = document.getElementById('halls');

function showMessage(lines, withRetry) {
  const div = el('div', 'message');
  for (const line of lines) div.append(el('p', null, line));
  if (withRetry) {
    const p = el('p');
    const b = el('button', null, '重新加载');
    b.type = 'button';
    b.addEventListener('click', load);
    p.append(b);
    div.append(p);
  }
  box.replaceChildren(div);
}

/** The hall's other screens: its dashboard, and its window screens on demand. */
function hallMore(id) {
  const more = el('div', 'hall-more');
  const dash = el('a', null, '管理看板');
  dash.href = 'dashboard.html?hall=' + encodeURIComponent(id);
  const details = el('details', 'hall-windows');
  const summary = el('summary', null, '窗口屏');
  const list = el('div', 'window-links');
  details.append(summary, list);
  details.addEventListener('toggle', () => {
    if (details.open && !list.dataset.loaded) loadWindows(id, list);
  });
  more.append(dash, details);
  return more;
}

async function loadWindows(id, box) {
  box.replaceChildren(el('span', 'note', '正在加载窗口…'));
  let windows;
  try {
    const res = await fetch(apiUrl(`api/halls/${encodeURIComponent(id)}/snapshot`), {
      cache: 'no-store', headers: { Accept: 'application/json' },
    });
    if (!res.ok) throw new Error('HTTP ' + res.status);
    const snap = await res.json();
    windows = (Array.isArray(snap.windows) ? snap.windows : []).filter((w) => w && typeof w.id === 'string' && w.id);
  } catch (e) {
    console.error('GET snapshot failed', e);
    box.replaceChildren(el('span', 'note', '暂时无法获取窗口列表，请收起后重试。'));
    return;
  }
  box.dataset.loaded = '1';
  if (windows.length === 0) {
    box.replaceChildren(el('span', 'note', '该大厅尚未配置窗口。'));
    return;
  }
  const ul = el('ul');
  for (const w of windows) {
    const a = el('a', null, str(w.name) || `${w.id}号窗口`);
    a.href = `window.html?hall=${encodeURIComponent(id)}&window=${encodeURIComponent(w.id)}`;
    const li = el('li');
    li.append(a);
    ul.append(li);
  }
  box.replaceChildren(ul);
}

async function load() {
  showMessage(['正在加载服务大厅列表…']);
  let halls;
  try {
    const res = await fetch(apiUrl('api/halls'), { cache: 'no-store', headers: { Accept: 'application/json' } });
    if (!res.ok) throw new Error('HTTP ' + res.status);
    halls = await res.json();
  } catch (e) {
    console.error('GET api/halls failed', e);
    showMessage(['暂时无法获取服务大厅列表，请检查网络或稍后再试。'], true);
    return;
  }
  const list = (Array.isArray(halls) ? halls : []).filter((h) => h && typeof h.id === 'string' && h.id);
  if (list.length === 0) {
    showMessage(['尚未配置任何服务大厅。'], true);
    return;
  }
  const ul = el('ul', 'halls');
  for (const h of list) {
    const a = el('a');
    a.href = 'wall.html?hall=' + encodeURIComponent(h.id);
    const name = el('span', 'hall-name', str(h.name) || h.id);
    const meta = el('span', 'hall-meta');
    const level = HALL_LEVELS[h.level];
    if (level) meta.append(level + ' · ');
    meta.append(el('span', 'hall-id', h.id));
    const arrow = el('span', 'arrow', '综合屏 →');
    meta.append(arrow);
    a.append(name, meta);
    a.className = 'hall-main';
    const li = el('li');
    li.append(a, hallMore(h.id));
    ul.append(li);
  }
  box.replaceChildren(ul);
}

load();
