// hallwatch — login page (登录).
//
// POSTs {"token": "..."} as JSON to api/login. On 200 the server sets an
// HttpOnly cookie and the page goes to the `next` query parameter when it is a
// same-origin path ("/..." but not "//..."), else to supervisor.html.
// 401 {"error":"bad_token","message":...} and 429 {"error":"rate_limited",...}
// are shown in the role="alert" line under the field.

import { apiUrl, fetchMe, str } from './common.js';

const DEFAULT_NEXT = 'supervisor.html';

const $ = (id) => document.getElementById(id);
const form = $('login-form');
const input = $('token');
const submit = $('login-submit');
const errorLine = $('login-error');

/** The `next` parameter when it is a safe same-origin path, else null. */
export function safeNext(raw) {
  if (typeof raw !== 'string' || raw === '') return null;
  // "/x" only: not "//host", not "/\host" (browsers read "\" as "/"), no controls.
  if (!raw.startsWith('/') || raw.startsWith('//') || /[\\\u0000-\u001f\u007f]/.test(raw)) return null;
  let u;
  try {
    u = new URL(raw, location.origin);
  } catch {
    return null;
  }
  if (u.origin !== location.origin) return null;
  // Coming back to the login page itself would only show this form again.
  if (/\/login\.html$/.test(u.pathname)) return null;
  return u.pathname + u.search + u.hash;
}

const rawNext = new URLSearchParams(location.search).get('next');
const next = safeNext(rawNext);

function target() {
  return next ?? new URL(DEFAULT_NEXT, document.baseURI).href;
}

function showError(text) {
  errorLine.textContent = text;
  input.setAttribute('aria-invalid', 'true');
  input.focus();
  input.select();
}

function clearError() {
  errorLine.textContent = '';
  input.removeAttribute('aria-invalid');
}

function setBusy(busy) {
  submit.disabled = busy;
  submit.textContent = busy ? '正在登录…' : '登录';
  form.setAttribute('aria-busy', busy ? 'true' : 'false');
}

/** "请 30 秒后再试" from a Retry-After header in seconds, or ''. */
function retryAfterText(res) {
  const v = Number(res.headers.get('Retry-After'));
  if (!Number.isFinite(v) || v <= 0) return '';
  return v < 120 ? `（请 ${Math.ceil(v)} 秒后再试）` : `（请 ${Math.ceil(v / 60)} 分钟后再试）`;
}

async function onSubmit(ev) {
  ev.preventDefault();
  if (submit.disabled) return;
  const token = input.value.trim();
  if (!token) {
    showError('请输入访问令牌');
    return;
  }
  clearError();
  setBusy(true);
  let res;
  try {
    res = await fetch(apiUrl('api/login'), {
      method: 'POST',
      credentials: 'same-origin',
      cache: 'no-store',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ token }),
    });
  } catch {
    setBusy(false);
    showError('无法连接服务器，请检查网络后重试');
    return;
  }
  let answer = null;
  try { answer = await res.json(); } catch { /* no JSON body */ }
  if (res.ok) {
    // Keep the button disabled: the next page is loading.
    submit.textContent = '登录成功，正在进入…';
    input.value = '';
    location.assign(target());
    return;
  }
  setBusy(false);
  const message = answer && str(answer.message);
  if (res.status === 401) {
    showError(message || '令牌无效');
  } else if (res.status === 429) {
    showError((message || '尝试过于频繁，请稍后再试') + retryAfterText(res));
  } else {
    showError(message || `登录失败（服务器返回 ${res.status}），请稍后重试`);
  }
}

/** Already signed in (e.g. came here by the back button): offer the way on. */
async function showSession() {
  const { status, me } = await fetchMe();
  if (status !== 200 || !me) return;
  const p = $('login-session');
  p.textContent = `当前已登录：${str(me.name) || '已授权用户'}。`;
  const a = document.createElement('a');
  a.href = target();
  a.textContent = '继续访问';
  p.append(a, '，或输入其他令牌切换账号。');
  p.hidden = false;
}

form.addEventListener('submit', onSubmit);
// The page ships the button disabled; it works once this handler is in place.
submit.disabled = false;
input.addEventListener('input', () => {
  if (errorLine.textContent) clearError();
});
if (rawNext !== null) $('login-reason').hidden = false;
input.focus();
showSession();
