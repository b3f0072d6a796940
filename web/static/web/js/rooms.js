// The sidebar: the rooms you are in (with unread badges), other public rooms (with Join),
// and the "new room" dialog.  It keeps the room list in step with socket events.

import { ApiError, apiFetch } from './api.js';
import { el, hiddenText } from './dom.js';
import { gettext, interpolate, ngettext } from './i18n.js';

function roomHref(id) {
  return `#room-${id}`;
}

export class RoomList {
  constructor({ socket, userId, isAttending, onChange }) {
    this.socket = socket;
    this.userId = userId;
    this.isAttending = isAttending;
    this.onChange = onChange;
    this.rooms = new Map();
    this.items = new Map();
    this.activeId = null;
    this.myList = document.getElementById('my-rooms');
    this.publicList = document.getElementById('public-rooms');
    this.myEmpty = document.getElementById('my-rooms-empty');
    this.publicEmpty = document.getElementById('public-rooms-empty');
    this.subscribe();
    this.setUpDialog();
  }

  get(id) {
    return this.rooms.get(id);
  }

  firstJoined() {
    return this.sorted().find((room) => room.is_member);
  }

  sorted() {
    return [...this.rooms.values()].sort((a, b) =>
      a.name.localeCompare(b.name, document.documentElement.lang, { sensitivity: 'base' }),
    );
  }

  /** Load the list; on first load, rooms you are in start their live streams from here. */
  async load({ initial = false } = {}) {
    const rows = await apiFetch('/api/rooms/');
    const ids = new Set(rows.map((row) => row.id));
    for (const row of rows) {
      if (initial && row.is_member) this.socket.notePosition(row.id, row.last_seq);
      const before = this.rooms.get(row.id);
      // Membership may have changed while we were offline: tell the open room.
      this.put(row, { announce: Boolean(before) && before.is_member !== row.is_member });
    }
    for (const id of [...this.rooms.keys()]) {
      if (!ids.has(id)) this.remove(id);
    }
    this.render();
  }

  async refreshRoom(id) {
    try {
      this.put(await apiFetch(`/api/rooms/${id}/`));
    } catch (error) {
      if (error instanceof ApiError && error.code === 'not_found') this.remove(id);
    }
    this.render();
  }

  put(row, { announce = true } = {}) {
    const known = this.rooms.get(row.id);
    const room = { ...known, ...row };
    if (known) room.last_seq = Math.max(known.last_seq ?? 0, row.last_seq ?? 0);
    this.rooms.set(row.id, room);
    if (announce) this.onChange?.(room);
    return room;
  }

  remove(id) {
    this.rooms.delete(id);
    this.items.get(id)?.remove();
    this.items.delete(id);
    this.onChange?.({ id, removed: true });
  }

  setActive(id) {
    this.activeId = id;
    for (const [roomId, item] of this.items) {
      const link = item.querySelector('a');
      if (roomId === id) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    }
  }

  clearUnread(id) {
    const room = this.rooms.get(id);
    if (room && room.unread) {
      room.unread = 0;
      this.renderItem(room);
    }
  }

  // --- socket events --------------------------------------------------------------------
  subscribe() {
    const socket = this.socket;
    socket.on('*', (frame) => {
      const room = frame.room != null && this.rooms.get(frame.room);
      if (room && frame.seq != null && frame.seq > (room.last_seq ?? 0)) room.last_seq = frame.seq;
    });
    socket.on('message.created', (frame) => this.messageCreated(frame));
    socket.on('member.joined', (frame) => this.membershipEvent(frame, true));
    socket.on('member.left', (frame) => this.membershipEvent(frame, false));
    socket.on('member.removed', (frame) => this.membershipEvent(frame, false));
    socket.on('room.created', (frame) => {
      const id = frame.data?.room?.id;
      if (id && !this.rooms.has(id)) this.refreshRoom(id);
    });
    socket.on('room.read', (frame) => this.readElsewhere(frame.data ?? {}));
    socket.on('socket:ready', ({ reconnect, ignored }) => {
      if (reconnect || ignored.length) this.load().catch(() => {});
    });
    socket.on('socket:resynced', ({ room }) => this.refreshRoom(room));
  }

  messageCreated(frame) {
    const room = this.rooms.get(frame.room);
    const message = frame.data?.message;
    if (!room || !message || !room.is_member) return;
    if (message.author?.id === this.userId || this.isAttending(room.id)) return;
    if (message.seq <= (room.last_read_seq ?? 0)) return;
    room.unread = (room.unread ?? 0) + 1;
    this.renderItem(room);
  }

  membershipEvent(frame, joined) {
    if (frame.data?.user?.id !== this.userId) return;
    const room = this.rooms.get(frame.room);
    if (!room) {
      if (joined) this.refreshRoom(frame.room);
      return;
    }
    room.is_member = joined;
    if (!joined) {
      room.unread = 0;
      this.socket.forgetRoom(room.id);
      if (room.visibility !== 'public') {
        this.remove(room.id);
        return;
      }
    }
    this.onChange?.(room);
    this.render();
  }

  readElsewhere({ room: id, seq }) {
    const room = this.rooms.get(id);
    if (!room || typeof seq !== 'number') return;
    room.last_read_seq = Math.max(room.last_read_seq ?? 0, seq);
    if (seq >= (room.last_seq ?? 0)) {
      room.unread = 0;
      this.renderItem(room);
    } else {
      this.refreshRoom(id);
    }
  }

  // --- actions --------------------------------------------------------------------------
  async join(id) {
    const row = await apiFetch(`/api/rooms/${id}/join/`, { method: 'POST' });
    const room = this.rooms.get(id);
    if (room) {
      room.is_member = true;
      room.member_count = (room.member_count ?? 0) + (row ? 1 : 0);
      this.onChange?.(room);
    }
    this.render();
    return room;
  }

  // --- rendering ------------------------------------------------------------------------
  render() {
    const rooms = this.sorted();
    this.place(this.myList, rooms.filter((room) => room.is_member));
    this.place(this.publicList, rooms.filter((room) => !room.is_member));
    this.myEmpty.hidden = this.myList.children.length > 0;
    this.publicEmpty.hidden = this.publicList.children.length > 0;
  }

  /** Put each room's item into `list` in order, moving nodes only when they are out of place. */
  place(list, rooms) {
    let cursor = list.firstElementChild;
    for (const room of rooms) {
      const item = this.renderItem(room);
      if (item === cursor) {
        cursor = cursor.nextElementSibling;
      } else {
        list.insertBefore(item, cursor);
      }
    }
    // Whatever is left belongs elsewhere now (the other list places it) or is gone.
    while (cursor) {
      const next = cursor.nextElementSibling;
      cursor.remove();
      cursor = next;
    }
  }

  renderItem(room) {
    let item = this.items.get(room.id);
    const kind = room.is_member ? 'member' : 'public';
    if (!item || item.dataset.kind !== kind) {
      const fresh = room.is_member ? this.memberItem(room) : this.publicItem(room);
      if (item) item.replaceWith(fresh);
      item = fresh;
      this.items.set(room.id, item);
    }
    item.querySelector('.room-name').textContent = room.name;
    const badge = item.querySelector('.badge');
    if (badge) {
      const unread = room.unread ?? 0;
      badge.hidden = unread === 0;
      badge.querySelector('.badge-count').textContent = unread > 99 ? '99+' : String(unread);
      badge.querySelector('.visually-hidden').textContent =
        ', ' + interpolate(ngettext('%(count)s unread', '%(count)s unread', unread), { count: unread }, true);
      item.classList.toggle('has-unread', unread > 0);
    }
    const count = item.querySelector('.member-count');
    if (count) {
      const members = room.member_count ?? 0;
      count.textContent = interpolate(
        ngettext('%(count)s member', '%(count)s members', members),
        { count: members },
        true,
      );
    }
    if (room.id === this.activeId) item.querySelector('a').setAttribute('aria-current', 'page');
    return item;
  }

  roomLink(room, extra = []) {
    const privateRoom = room.visibility !== 'public';
    return el(
      'a',
      { class: 'room-link', href: roomHref(room.id), dataset: { roomId: room.id } },
      el('span', { class: privateRoom ? 'room-icon room-icon-private' : 'room-icon', 'aria-hidden': 'true' }, privateRoom ? '' : '#'),
      el('span', { class: 'room-name' }),
      privateRoom ? hiddenText(`, ${gettext('private')}`) : null,
      extra,
    );
  }

  memberItem(room) {
    const badge = el('span', { class: 'badge', hidden: true }, el('span', { class: 'badge-count', 'aria-hidden': 'true' }), hiddenText(''));
    return el('li', { class: 'room-item', dataset: { kind: 'member', roomId: room.id } }, this.roomLink(room, [badge]));
  }

  publicItem(room) {
    const join = el(
      'button',
      { type: 'button', class: 'button button-small join-inline' },
      gettext('Join'),
      hiddenText(` ${room.name}`),
    );
    join.addEventListener('click', () => {
      join.disabled = true;
      this.join(room.id)
        .then(() => {
          window.location.hash = roomHref(room.id);
        })
        .catch((error) => {
          join.disabled = false;
          this.onError?.(error.message);
        });
    });
    const link = this.roomLink(room, [el('span', { class: 'member-count' })]);
    return el('li', { class: 'room-item room-item-public', dataset: { kind: 'public', roomId: room.id } }, link, join);
  }

  // --- new room dialog ------------------------------------------------------------------
  setUpDialog() {
    const dialog = document.getElementById('new-room-dialog');
    const form = document.getElementById('new-room-form');
    const opener = document.getElementById('new-room-button');
    const errorBox = document.getElementById('new-room-error');
    const cancel = document.getElementById('new-room-cancel');
    const fields = { name: form.elements.name, topic: form.elements.topic };
    const clearErrors = () => {
      errorBox.hidden = true;
      errorBox.textContent = '';
      for (const field of Object.values(fields)) {
        field.removeAttribute('aria-invalid');
        field.removeAttribute('aria-describedby');
      }
    };
    opener.addEventListener('click', () => {
      form.reset();
      clearErrors();
      dialog.showModal();
      fields.name.focus();
    });
    cancel.addEventListener('click', () => dialog.close());
    dialog.addEventListener('close', () => opener.focus());
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearErrors();
      const body = {
        name: fields.name.value.trim(),
        topic: fields.topic.value.trim(),
        visibility: form.elements.visibility.value,
      };
      if (!body.name) {
        this.showFieldError(errorBox, fields.name, gettext('Give the room a name.'));
        return;
      }
      const submit = form.querySelector('button[type="submit"]');
      submit.disabled = true;
      try {
        const row = await apiFetch('/api/rooms/', { method: 'POST', body });
        this.put(row);
        this.render();
        dialog.close();
        window.location.hash = roomHref(row.id);
      } catch (error) {
        const field = fields[error.details?.field] ?? fields.name;
        this.showFieldError(errorBox, field, error.message || gettext('The room could not be created.'));
      } finally {
        submit.disabled = false;
      }
    });
  }

  showFieldError(errorBox, field, message) {
    errorBox.textContent = message;
    errorBox.hidden = false;
    field.setAttribute('aria-invalid', 'true');
    field.setAttribute('aria-describedby', 'new-room-error');
    field.focus();
  }
}
