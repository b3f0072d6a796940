// Entry point of the chat page: wires the socket, the room list, the open room, the thread
// pane and "Mentions & replies" together, and owns the page chrome (connection status,
// alerts, announcements, the tab title, the mobile sidebar, routing by #room-N / #mentions).

import { apiFetch, setUnauthenticatedHandler } from './api.js';
import { Conversation } from './conversation.js';
import { DirectStarter } from './direct.js';
import { el } from './dom.js';
import { gettext, interpolate } from './i18n.js';
import { MessageView, personName } from './messages.js';
import { Notifications } from './notifications.js';
import { RoomSettings } from './roomsettings.js';
import { RoomList } from './rooms.js';
import { CommunisSocket } from './socket.js';
import { ThreadPane } from './thread.js';

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

const announcer = document.getElementById('announcer');
let announceTimer = null;

/** Say something politely to screen readers (new mentions, direct messages). */
function announce(text) {
  clearTimeout(announceTimer);
  announcer.textContent = '';
  // A short pause makes screen readers notice a repeated text as new.
  announceTimer = setTimeout(() => {
    announcer.textContent = text;
  }, 100);
}

const confirmDialog = document.getElementById('confirm-dialog');

/** Ask a yes/no question in a modal dialog; resolve true when confirmed. */
function confirmAction(text, label) {
  document.getElementById('confirm-text').textContent = text;
  document.getElementById('confirm-ok').textContent = label;
  const opener = document.activeElement;
  return new Promise((resolve) => {
    confirmDialog.addEventListener(
      'close',
      () => {
        resolve(confirmDialog.returnValue === 'ok');
        if (opener?.isConnected) opener.focus();
      },
      { once: true },
    );
    confirmDialog.returnValue = '';
    confirmDialog.showModal();
    confirmDialog.querySelector('button[value="cancel"]').focus();
  });
}

const socket = new CommunisSocket({ path: config.wsPath, loginUrl: config.loginUrl });
setUnauthenticatedHandler(() => socket.goToSignIn());

const people = new Map([[config.userId, { id: config.userId, display_name: config.displayName }]]);
let conversation = null;
let thread = null;
let direct = null;
const rooms = new RoomList({
  socket,
  userId: config.userId,
  isAttending: (id) => conversation?.attending(id) ?? false,
  onChange: (room) => {
    // A thread of a room the person can no longer see closes with it.
    if (room.removed && thread?.roomId === room.id) thread.close();
    conversation?.roomChanged(room);
  },
});
rooms.onError = showAlert;
const view = new MessageView({
  userId: config.userId,
  nameOf: (id) => personName(people.get(id)) || gettext('someone'),
  canPost: (roomId) => conversation?.canPost(roomId) ?? false,
  canModerate: (roomId) => conversation?.canModerate(roomId) ?? false,
  openThread: (message) => thread.open(message),
  openPerson: (person) => direct.openPerson(person),
  confirm: confirmAction,
  request: (type, fields) => socket.request(type, fields),
  showAlert,
});
conversation = new Conversation({
  socket,
  rooms,
  view,
  people,
  userId: config.userId,
  displayName: config.displayName,
  maxLength: config.maxLength,
  showAlert,
  clearAlert,
  announce,
  onTitle: (name) => {
    baseTitle = name ? `${name} – Communis` : 'Communis';
    updateTitle();
  },
});
thread = new ThreadPane({
  socket,
  view,
  rooms,
  showAlert,
  onOpenChange: (open) => {
    page.classList.toggle('thread-open', open);
    // On a phone the thread covers the room: keep focus out of what is underneath.
    main.inert = open && narrow.matches;
  },
});
direct = new DirectStarter({ rooms, userId: config.userId, showAlert });
const notifications = new Notifications({
  socket,
  rooms,
  announce,
  isAttending: (id) => conversation.attending(id),
  openNotification: (item) => {
    const root = item.message.thread_root;
    window.location.hash = `#room-${item.room}`;
    if (root) pendingThread = { id: root, room: item.room };
    else pendingMessage = { id: item.message.id, room: item.room };
    if (conversation.roomId === item.room && !mentionsOpen()) openPendingThread();
  },
});
const settings = new RoomSettings({
  socket,
  rooms,
  userId: config.userId,
  confirm: confirmAction,
  currentRoom: () => conversation.room,
  showAlert,
  afterLeave: (id) => {
    rooms.refreshRoom(id);
    const first = rooms.firstJoined();
    window.location.hash = first ? `#room-${first.id}` : '#mentions';
  },
});
void settings;

// --- the tab title: the unread count while the tab is hidden -------------------------------
let baseTitle = 'Communis';
function updateTitle() {
  const unread = rooms.totalUnread() + [...notifications.items.values()].filter((n) => !n.read && n.kind === 'reply').length;
  const hidden = document.visibilityState === 'hidden';
  document.title = hidden && unread > 0 ? interpolate(gettext('(%(count)s) %(title)s'), { count: unread, title: baseTitle }, true) : baseTitle;
}
rooms.onUnreadChange = updateTitle;
notifications.onChange = updateTitle;
document.addEventListener('visibilitychange', updateTitle);
rooms.onInvitation = (invitation) =>
  announce(interpolate(gettext('%(person)s invited you to %(room)s'), { person: personName(invitation.inviter), room: invitation.room.name }, true));

// --- preferences ---------------------------------------------------------------------------
const shareReceipts = document.getElementById('share-receipts');
shareReceipts.addEventListener('change', () => {
  apiFetch('/api/me/preferences/', { method: 'PUT', body: { share_read_receipts: shareReceipts.checked } }).catch((error) => {
    shareReceipts.checked = !shareReceipts.checked;
    showAlert(error.message);
  });
});

socket.on('socket:state', ({ state }) => {
  status.dataset.state = state;
  status.textContent = STATUS_TEXT[state] ?? state;
});

function roomInHash() {
  const match = /^#room-(\d+)$/.exec(window.location.hash);
  return match ? Number(match[1]) : null;
}

const conversationView = document.getElementById('conversation-view');
const mentionsView = document.getElementById('mentions-view');
const mentionsLink = document.getElementById('mentions-link');
let pendingThread = null;
let pendingMessage = null; // a mention opened from the list: show that message in its room

function mentionsOpen() {
  return !mentionsView.hidden;
}

function showMentions(show) {
  mentionsView.hidden = !show;
  conversationView.hidden = show;
  if (show) mentionsLink.setAttribute('aria-current', 'page');
  else mentionsLink.removeAttribute('aria-current');
}

function openPendingThread() {
  const target = pendingThread;
  pendingThread = null;
  if (target && conversation.roomId === target.room) thread.open(target);
  const message = pendingMessage;
  pendingMessage = null;
  if (message && conversation.roomId === message.room) conversation.showMessage(message.id);
}

async function route({ focus }) {
  const id = roomInHash();
  if (narrow.matches && page.classList.contains('sidebar-open')) setSidebar(false);
  if (window.location.hash === '#mentions') {
    showMentions(true);
    thread.close();
    rooms.setActive(null);
    conversation.onTitle(gettext('Mentions & replies'));
    if (focus) document.getElementById('mentions-title').focus();
    return;
  }
  if (id !== null) {
    showMentions(false);
    thread.roomOpened(id);
    rooms.setActive(id);
    const reopened = id === conversation.roomId;
    await conversation.open(id, { focus });
    if (reopened) conversation.renderHeader();
    openPendingThread();
    return;
  }
  showMentions(false);
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
  // Escape in a dialog opened from the drawer closes only that dialog.
  if (event.target.closest?.('dialog')) return;
  if (event.key === 'Escape' && !event.defaultPrevented && page.classList.contains('sidebar-open')) {
    setSidebar(false);
    toggle.focus();
  }
});
narrow.addEventListener('change', () => {
  setSidebar(false);
  main.inert = thread.isOpen && narrow.matches;
});
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
  notifications.load().catch(() => {});
  apiFetch('/api/me/preferences/')
    .then((prefs) => {
      shareReceipts.checked = prefs.share_read_receipts;
    })
    .catch(() => {});
  await route({ focus: false });
}

start();
