// Entry point of the chat page: wires the socket, the room list and the open room together,
// and owns the page chrome (connection status, alerts, the mobile sidebar, routing by #room-N).

import { setUnauthenticatedHandler } from './api.js';
import { Conversation } from './conversation.js';
import { el } from './dom.js';
import { gettext } from './i18n.js';
import { RoomList } from './rooms.js';
import { CommunisSocket } from './socket.js';

const page = document.body;
const config = {
  wsPath: page.dataset.wsPath || '/ws/',
  loginUrl: page.dataset.loginUrl || '/login/',
  userId: Number(page.dataset.userId),
  displayName: page.dataset.displayName || page.dataset.username || '',
  maxLength: Number(page.dataset.maxMessageLength) || 10000,
};

const STATUS_TEXT = {
  connecting: gettext('Connecting…'),
  connected: gettext('Connected'),
  reconnecting: gettext('Reconnecting…'),
};

const status = document.getElementById('connection-status');
const alerts = document.getElementById('alerts');
const toggle = document.getElementById('sidebar-toggle');
const sidebar = document.getElementById('sidebar');
const main = document.getElementById('main');
const narrow = window.matchMedia('(max-width: 47.99em)');

function clearAlert() {
  alerts.replaceChildren();
}

function showAlert(text) {
  const dismiss = el('button', { type: 'button', class: 'link-button' }, gettext('Dismiss'));
  dismiss.addEventListener('click', () => {
    clearAlert();
    document.getElementById('composer')?.focus();
  });
  alerts.replaceChildren(el('p', { class: 'alert' }, el('span', {}, text), ' ', dismiss));
}

function setSidebar(open) {
  toggle.setAttribute('aria-expanded', String(open));
  page.classList.toggle('sidebar-open', open);
  // While the drawer covers the conversation on a phone, keep focus and clicks out of it.
  main.inert = open && narrow.matches;
  if (open) sidebar.querySelector('a, button')?.focus();
}

const socket = new CommunisSocket({ path: config.wsPath, loginUrl: config.loginUrl });
setUnauthenticatedHandler(() => socket.goToSignIn());

let conversation = null;
const rooms = new RoomList({
  socket,
  userId: config.userId,
  isAttending: (id) => conversation?.attending(id) ?? false,
  onChange: (room) => conversation?.roomChanged(room),
});
rooms.onError = showAlert;
conversation = new Conversation({
  socket,
  rooms,
  userId: config.userId,
  displayName: config.displayName,
  maxLength: config.maxLength,
  showAlert,
  clearAlert,
});

socket.on('socket:state', ({ state }) => {
  status.dataset.state = state;
  status.textContent = STATUS_TEXT[state] ?? state;
});

function roomInHash() {
  const match = /^#room-(\d+)$/.exec(window.location.hash);
  return match ? Number(match[1]) : null;
}

async function route({ focus }) {
  const id = roomInHash();
  if (id !== null) {
    rooms.setActive(id);
    if (narrow.matches && page.classList.contains('sidebar-open')) setSidebar(false);
    await conversation.open(id, { focus });
    return;
  }
  if (conversation.roomId !== null) return; // e.g. the skip link's #main: stay where we are
  const first = rooms.firstJoined() ?? rooms.sorted()[0];
  if (!first) {
    conversation.renderEmptyState();
    return;
  }
  window.history.replaceState(null, '', `#room-${first.id}`);
  rooms.setActive(first.id);
  await conversation.open(first.id);
}

// Signing out closes every socket of the person (4401); this tab is leaving anyway.
document.querySelector('.logout-form')?.addEventListener('submit', () => socket.stop());

toggle.addEventListener('click', () => setSidebar(toggle.getAttribute('aria-expanded') !== 'true'));
document.addEventListener('keydown', (event) => {
  if (event.key === 'Escape' && page.classList.contains('sidebar-open')) {
    setSidebar(false);
    toggle.focus();
  }
});
narrow.addEventListener('change', () => setSidebar(false));
window.addEventListener('hashchange', () => route({ focus: true }));

// A handle for tests and support staff: read-only facts plus "drop the connection", which
// the client recovers from by itself (exactly what a network blip does).
window.__communis = Object.freeze({
  state: () => socket.state,
  ready: () => socket.ready,
  dropConnection: () => socket.drop('requested'),
});

async function start() {
  try {
    await rooms.load({ initial: true });
  } catch {
    showAlert(gettext('The room list could not be loaded. Reload the page to try again.'));
  }
  socket.connect();
  await route({ focus: false });
}

start();
