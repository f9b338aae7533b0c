// hallwatch — window screen (窗口屏) above one window:
//   window.html?hall=<hall>&window=<window>
// Public display channel for that window only: its name, the staff member on
// duty and their number (工号), the ticket at the window, 暂停服务 when
// paused. Reconnects by itself after a network or server restart.

import { connect, queryParam, str } from './common.js';

const hall = queryParam('hall');
const windowId = queryParam('window');
const $ = (id) => document.getElementById(id);

// What the screen says for each status when no ticket is shown.
const STATE_TEXT = {
  offline: '暂停服务',
  paused: '暂停服务',
  idle: '空闲',
};

let win = null; // {name, status, ticket, staff, staff_name}

function render(fresh = false) {
  if (!win) return;
  $('w-name').textContent = win.name || `${windowId}号窗口`;
  document.title = `${win.name || windowId} · 窗口屏`;
  const staffed = win.status !== 'offline' && (win.staff || win.staff_name);
  $('w-staff').hidden = !staffed;
  $('w-staff-name').textContent = staffed ? str(win.staff_name, '') : '';
  $('w-staff-no').textContent = staffed ? str(win.staff, '') : '';
  document.body.dataset.status = win.status;
  const showTicket = (win.status === 'calling' || win.status === 'serving') && win.ticket;
  $('w-call').hidden = !showTicket;
  const ticket = $('w-ticket');
  if (showTicket) {
    ticket.textContent = win.ticket;
    if (fresh) {
      ticket.classList.remove('fresh');
      void ticket.offsetWidth; // restart the flash
      ticket.classList.add('fresh');
    }
  }
  const state = $('w-state');
  if (showTicket) {
    state.textContent = win.status === 'serving' ? '正在办理' : '';
    state.hidden = win.status !== 'serving';
  } else {
    state.hidden = false;
    state.textContent = STATE_TEXT[win.status] ?? '';
  }
}

function onMessage(m) {
  switch (m.type) {
    case 'snapshot': {
      const w = (Array.isArray(m.windows) ? m.windows : []).find((x) => x.id === windowId);
      if (!w) {
        $('w-state').textContent = `没有 ${windowId} 号窗口`;
        return;
      }
      win = { name: w.name, status: w.status, ticket: w.ticket, staff: w.staff, staff_name: w.staff_name };
      render();
      document.body.dataset.state = 'live';
      break;
    }
    case 'window':
      if (win && m.window === windowId) {
        const before = win.ticket;
        Object.assign(win, {
          status: m.status, ticket: m.ticket, staff: m.staff, staff_name: m.staff_name,
        });
        render(m.ticket && m.ticket !== before);
      }
      break;
    case 'call':
      if (win && m.window === windowId) {
        win.ticket = m.ticket;
        if (win.status !== 'serving') win.status = 'calling';
        render(true);
      }
      break;
    default:
      break;
  }
}

function onStatus(status) {
  $('w-conn').hidden = status !== 'closed';
  if (status === 'closed') document.body.dataset.state = 'reconnecting';
}

if (!hall || !windowId) {
  $('w-state').textContent = '请在地址中指定 hall 和 window';
} else {
  connect(
    `ws/display/${encodeURIComponent(hall)}?window=${encodeURIComponent(windowId)}`,
    onMessage,
    onStatus,
  );
}
