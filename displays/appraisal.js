// The monthly 效能考评通报: GET api/halls/{hall}/appraisal as a printable
// A4 sheet (landscape), per department or staff member, with the CSV for
// Excel beside it. Needs a login (any role within the hall); without one
// it goes to the login page and comes back.

import { queryParam, apiUrl, loginUrl, str } from './common.js';

const $ = (id) => document.getElementById(id);
const hall = queryParam('hall');

function pct(v) {
  return typeof v === 'number' && Number.isFinite(v) ? `${(v * 100).toFixed(1)}%` : '—';
}

function cell(text, cls) {
  const td = document.createElement('td');
  td.textContent = String(text);
  if (cls) td.className = cls;
  return td;
}

function thisMonth() {
  const d = new Date();
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}`;
}

function fail(text) {
  document.body.dataset.state = 'error';
  $('error').textContent = text;
  $('error').hidden = false;
  $('sub').textContent = '';
}

async function load(month, by) {
  const q = `month=${encodeURIComponent(month)}&by=${encodeURIComponent(by)}`;
  const path = `api/halls/${encodeURIComponent(hall)}/appraisal?${q}`;
  $('csv').href = apiUrl(`${path}&format=csv`);
  let res;
  try {
    res = await fetch(apiUrl(path), { credentials: 'same-origin', headers: { Accept: 'application/json' } });
  } catch {
    fail('无法连接服务器，请稍后重试。');
    return;
  }
  if (res.status === 401) {
    location.assign(loginUrl());
    return;
  }
  let body = null;
  try { body = await res.json(); } catch { /* not JSON */ }
  if (!res.ok || !body || !Array.isArray(body.rows)) {
    fail(str(body && body.message) || `无法读取考评（${res.status}）`);
    return;
  }
  const [y, m] = str(body.month).split('-');
  $('title').textContent = `${str(body.hall_name)} ${y}年${Number(m)}月效能考评通报`;
  document.title = `${$('title').textContent} · hallwatch`;
  $('sub').textContent = `${by === 'staff' ? '按个人' : '按部门'} · 统计 ${body.days} 天`
    + ` · 截至 ${new Date(body.until).toLocaleString('zh-CN', { hour12: false })}`;
  $('name-col').textContent = by === 'staff' ? '工作人员' : '部门';
  const rows = body.rows.map((r) => {
    const tr = document.createElement('tr');
    tr.dataset.key = str(r.key);
    tr.dataset.low = String(r.score < 90);
    const a = r.attendance || {};
    const c = r.cards || {};
    tr.append(
      cell(str(r.name) || str(r.key) || '未归属部门', 'name'),
      cell(r.cases_accepted),
      cell(pct(r.on_time_rate)),
      cell(r.overdue + r.completed_late),
      cell(c.warning ?? 0),
      cell(c.yellow ?? 0),
      cell(c.red ?? 0),
      cell(pct(r.on_the_spot_rate)),
      cell(pct(r.satisfaction_rate)),
      cell(r.bad_reviews),
      cell(r.late_steps),
      cell(a.late ?? 0),
      cell(a.not_arrived ?? 0),
      cell(a.early_leave ?? 0),
      cell(a.absences ?? 0),
      cell(Number(r.score).toFixed(1), 'score'),
    );
    return tr;
  });
  $('rows').replaceChildren(...rows);
  $('table').hidden = false;
  $('note').textContent = rows.length
    ? '得分：满分 100 分，按黄牌、红牌（申诉撤销的不扣分）、超期办件、整改超期环节、差评及考勤情况扣分；超期含超期办结与月末超期未办结。'
    : '本月暂无考评数据。';
  $('printed').textContent = new Date().toLocaleDateString('zh-CN');
  document.body.dataset.state = 'ready';
}

function start() {
  if (!hall || !/^[A-Za-z0-9_-]{1,32}$/.test(hall)) {
    fail('请在地址中注明服务大厅，例如 appraisal.html?hall=jl-center');
    return;
  }
  const month = /^\d{4}-\d{2}$/.test(queryParam('month') || '') ? queryParam('month') : thisMonth();
  const by = queryParam('by') === 'staff' ? 'staff' : 'department';
  $('month').value = month;
  $('by').value = by;
  $('controls').addEventListener('submit', (e) => {
    e.preventDefault();
    const u = new URL(location.href);
    u.searchParams.set('month', $('month').value);
    u.searchParams.set('by', $('by').value);
    history.replaceState(null, '', u);
    load($('month').value, $('by').value);
  });
  $('print').addEventListener('click', () => window.print());
  load(month, by);
}

start();
