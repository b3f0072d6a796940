// "Mentions & replies": the person's notifications (mentions, thread replies, direct
// messages), the unread badge, polite announcements, and desktop notifications (only after
// the person asked for them with a button).  Reading in one tab clears them in every tab.

import { apiFetch } from './api.js';
import { el, hiddenText } from './dom.js';
import { gettext, interpolate, ngettext } from './i18n.js';
import { personName, timeElement } from './messages.js';

const KIND_TEXT = {
  mention: gettext('%(person)s mentioned you in %(room)s'),
  reply: gettext('%(person)s replied in a thread in %(room)s'),
  direct: gettext('%(person)s sent you a message in %(room)s'),
};

export class Notifications {
  constructor({ socket, rooms, announce, isAttending, openNotification }) {
    this.socket = socket;
    this.rooms = rooms;
    this.announce = announce;
    this.isAttending = isAttending;
    this.openNotification = openNotification;
    this.onChange = () => {};
    this.items = new Map(); // id -> notification
    const byId = (id) => document.getElementById(id);
    this.badge = byId('mentions-badge');
    this.list = byId('mention-list');
    this.empty = byId('mentions-empty');
    this.readAll = byId('mentions-read-all');
    this.enableButton = byId('enable-notifications');
    this.note = byId('notifications-note');
    this.readAll.addEventListener('click', () => {
      if (this.unreadCount() > 0) this.markRead(null);
    });
    this.list.addEventListener('click', (event) => {
      const link = event.target.closest('a[data-notification]');
      if (!link) return;
      event.preventDefault();
      const item = this.items.get(Number(link.dataset.notification));
      if (item) this.open(item);
    });
    this.setUpDesktop();
    socket.on('notification.created', (frame) => this.created(frame.data?.notification));
    socket.on('notification.read', (frame) => this.read(frame.data?.ids ?? []));
    socket.on('socket:ready', ({ reconnect }) => {
      if (reconnect) this.load().catch(() => {});
    });
  }

  unreadCount() {
    let count = 0;
    for (const item of this.items.values()) if (!item.read) count += 1;
    return count;
  }

  async load() {
    const rows = await apiFetch('/api/notifications/');
    this.items.clear();
    for (const row of rows) this.items.set(row.id, row);
    this.render();
  }

  created(notification) {
    if (!notification || this.items.has(notification.id)) return;
    this.items.set(notification.id, notification);
    this.render();
    if (this.isAttending(notification.room)) return;
    const text = this.describe(notification);
    this.announce(text);
    this.desktop(notification, text);
  }

  read(ids) {
    for (const id of ids) {
      const item = this.items.get(id);
      if (item) item.read = true;
    }
    this.render();
  }

  /** Mark some (or, with null, all) read; every tab hears `notification.read`. */
  markRead(ids) {
    const fields = ids ? { ids } : {};
    if (this.socket.ready) {
      this.socket.request('notification.read', fields).catch(() => {});
    } else {
      apiFetch('/api/notifications/read/', { method: 'POST', body: fields }).catch(() => {});
    }
    this.read(ids ?? [...this.items.keys()]);
  }

  open(item) {
    if (!item.read) this.markRead([item.id]);
    this.openNotification(item);
  }

  roomName(id) {
    const room = this.rooms.get(id);
    if (!room) return gettext('a room');
    return room.kind === 'direct' ? gettext('a direct conversation') : `#${room.name}`;
  }

  describe(item) {
    const format = KIND_TEXT[item.kind] ?? KIND_TEXT.mention;
    return interpolate(format, { person: personName(item.message.author), room: this.roomName(item.room) }, true);
  }

  render() {
    const unread = this.unreadCount();
    this.badge.hidden = unread === 0;
    this.badge.querySelector('.badge-count').textContent = unread > 99 ? '99+' : String(unread);
    this.badge.querySelector('.visually-hidden').textContent =
      ', ' + interpolate(ngettext('%(count)s unread', '%(count)s unread', unread), { count: unread }, true);
    this.badge.closest('.room-item').classList.toggle('has-unread', unread > 0);
    const items = [...this.items.values()].sort((a, b) => Date.parse(b.created_at) - Date.parse(a.created_at));
    this.list.replaceChildren(...items.map((item) => this.itemNode(item)));
    this.empty.hidden = items.length > 0;
    // aria-disabled, not disabled: a disabled button drops the keyboard focus it has.
    this.readAll.setAttribute('aria-disabled', String(unread === 0));
    this.onChange();
  }

  itemNode(item) {
    const message = item.message;
    const body = el('div', { class: 'message-body mention-body' });
    if (message.deleted) body.textContent = gettext('This message was deleted.');
    else body.innerHTML = message.html; // sanitised by the server at write time
    const link = el(
      'a',
      { class: 'mention-link', href: `#room-${item.room}`, dataset: { notification: item.id } },
      item.read ? null : hiddenText(`${gettext('Unread')}: `),
      this.describe(item),
    );
    return el(
      'li',
      { class: item.read ? 'mention' : 'mention unread' },
      el('article', { class: 'mention-card' }, el('h2', { class: 'mention-title' }, link), timeElement(new Date(item.created_at), 'mention-time'), body),
    );
  }

  // --- desktop notifications ------------------------------------------------------------
  setUpDesktop() {
    const supported = 'Notification' in window;
    this.enableButton.hidden = !supported || Notification.permission !== 'default';
    if (supported && Notification.permission === 'granted') this.note.textContent = gettext('Desktop notifications are on.');
    this.enableButton.addEventListener('click', async () => {
      let permission = 'denied';
      try {
        permission = await Notification.requestPermission();
      } catch {
        permission = 'denied';
      }
      this.enableButton.hidden = permission !== 'default';
      this.note.textContent =
        permission === 'granted'
          ? gettext('Desktop notifications are on.')
          : gettext('Desktop notifications are off. You can change this in your browser settings.');
    });
  }

  desktop(item, text) {
    if (!('Notification' in window) || Notification.permission !== 'granted') return;
    if (document.visibilityState === 'visible') return;
    try {
      const shown = new Notification(text, { body: (item.message.body ?? '').slice(0, 140), tag: `communis-${item.id}` });
      shown.addEventListener('click', () => {
        window.focus();
        this.open(item);
        shown.close();
      });
    } catch {
      // Some browsers only allow notifications from a service worker: the badge still shows.
    }
  }
}
