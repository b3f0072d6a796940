// The sidebar: direct conversations (latest message, unread), the rooms you are in (with
// unread badges), other public rooms (with Join), invitations, and the "new room" dialog.
// It keeps the lists in step with socket events.

import { ApiError, apiFetch } from './api.js';
import { el, hiddenText } from './dom.js';
import { gettext, interpolate, ngettext } from './i18n.js';
import { personName } from './messages.js';

const PREVIEW_LENGTH = 80;

function roomHref(id) {
  return `#room-${id}`;
}

export class RoomList {
  constructor({ socket, userId, isAttending, onChange }) {
    this.socket = socket;
    this.userId = userId;
    this.isAttending = isAttending;
    this.onChange = onChange;
    this.onUnreadChange = () => {};
    this.onInvitation = () => {};
    this.invitations = new Map();
    this.rooms = new Map();
    this.items = new Map();
    this.activeId = null;
    this.myList = document.getElementById('my-rooms');
    this.publicList = document.getElementById('public-rooms');
    this.myEmpty = document.getElementById('my-rooms-empty');
    this.publicEmpty = document.getElementById('public-rooms-empty');
    this.directList = document.getElementById('direct-list');
    this.directEmpty = document.getElementById('direct-empty');
    this.invitationList = document.getElementById('invitations');
    this.invitationSection = document.getElementById('invitations-section');
    this.subscribe();
    this.setUpDialog();
  }

  get(id) {
    return this.rooms.get(id);
  }

  firstJoined() {
    return this.sorted().find((room) => room.is_member);
  }

  /** Rooms (not direct conversations) shown in the lists, by name. */
  sorted() {
    return [...this.rooms.values()]
      .filter((room) => room.kind !== 'direct' && (!room.archived || room.id === this.activeId))
      .sort((a, b) => a.name.localeCompare(b.name, document.documentElement.lang, { sensitivity: 'base' }));
  }

  /** Direct conversations, most recently active first. */
  directs() {
    const when = (room) => Date.parse(room.latest_message?.created_at ?? '') || 0;
    return [...this.rooms.values()].filter((room) => room.kind === 'direct').sort((a, b) => when(b) - when(a));
  }

  totalUnread() {
    let total = 0;
    for (const room of this.rooms.values()) if (room.is_member) total += room.unread ?? 0;
    return total;
  }

  /** A direct conversation's row, named after the other people in it. */
  directRow(row) {
    const others = (row.participants ?? []).filter((person) => person.id !== this.userId);
    const names = others.map(personName);
    const name = names.length ? names.join(', ') : gettext('Only you');
    return { ...row, kind: 'direct', is_member: true, name, member_count: (row.participants ?? []).length };
  }

  /** Load the lists; on first load, rooms you are in start their live streams from here. */
  async load({ initial = false } = {}) {
    const [roomRows, directRows] = await Promise.all([apiFetch('/api/rooms/'), apiFetch('/api/direct/')]);
    const rows = [...roomRows, ...directRows.map((row) => this.directRow(row))];
    const ids = new Set(rows.map((row) => row.id));
    for (const row of rows) {
      if (initial && row.is_member) this.socket.notePosition(row.id, row.last_seq);
      const before = this.rooms.get(row.id);
      // Membership may have changed while we were offline: tell the open room.
      this.put(row, { announce: Boolean(before) && before.is_member !== row.is_member });
    }
    for (const id of [...this.rooms.keys()]) {
      if (!ids.has(id) && id !== this.activeId) this.remove(id);
    }
    this.render();
    this.loadInvitations().catch(() => {});
  }

  async refreshRoom(id) {
    try {
      const row = await apiFetch(`/api/rooms/${id}/`);
      if (row.kind === 'direct') {
        const direct = (await apiFetch('/api/direct/')).find((item) => item.id === id);
        if (direct) this.put(this.directRow({ ...direct, unread: row.unread }));
      } else {
        this.put(row);
      }
    } catch (error) {
      if (error instanceof ApiError && error.code === 'not_found') this.remove(id);
    }
    this.render();
  }

  /** Add or update a direct conversation from the API (or a `room.created` event). */
  putDirect(row) {
    const room = this.put(this.directRow(row));
    this.render();
    return room;
  }

  put(row, { announce = true } = {}) {
    const known = this.rooms.get(row.id);
    const room = { ...known, ...row };
    if (known?.latest_message && !row.latest_message) room.latest_message = known.latest_message;
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
      this.onUnreadChange();
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
      const row = frame.data?.room;
      if (!row?.id || this.rooms.has(row.id)) return;
      if (row.kind === 'direct' && row.participants) this.putDirect({ ...row, unread: 0 });
      else this.refreshRoom(row.id);
    });
    socket.on('room.updated', (frame) => {
      const row = frame.data?.room;
      const room = row && this.rooms.get(row.id);
      if (!room) return;
      this.put({ ...row, name: room.kind === 'direct' ? room.name : row.name });
      this.render();
    });
    socket.on('member.role_changed', (frame) => {
      const room = this.rooms.get(frame.room);
      if (!room || frame.data?.user?.id !== this.userId) return;
      room.role = frame.data.role;
      this.onChange?.(room);
    });
    socket.on('invitation.created', (frame) => this.invitationChanged(frame.data?.invitation));
    socket.on('invitation.updated', (frame) => this.invitationChanged(frame.data?.invitation));
    socket.on('room.read', (frame) => this.readElsewhere(frame.data ?? {}));
    socket.on('socket:ready', ({ reconnect, ignored }) => {
      if (reconnect || ignored.length) this.load().catch(() => {});
    });
    socket.on('socket:resynced', ({ room }) => this.refreshRoom(room));
  }

  messageCreated(frame) {
    const room = this.rooms.get(frame.room);
    const message = frame.data?.message;
    if (!room || !message || !room.is_member || message.thread_root) return;
    if (room.kind === 'direct') {
      room.latest_message = message;
      this.render();
    }
    if (message.author?.id === this.userId || this.isAttending(room.id)) return;
    if (message.seq <= (room.last_read_seq ?? 0)) return;
    room.unread = (room.unread ?? 0) + 1;
    this.renderItem(room);
    this.onUnreadChange();
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
      this.refreshRoom(id).then(() => this.onUnreadChange());
    }
    this.onUnreadChange();
  }

  // --- invitations ----------------------------------------------------------------------
  async loadInvitations() {
    const rows = await apiFetch('/api/invitations/');
    this.invitations.clear();
    for (const row of rows) this.invitations.set(row.id, row);
    this.renderInvitations();
  }

  invitationChanged(invitation) {
    if (!invitation || invitation.invitee?.id !== this.userId) return;
    if (invitation.status === 'pending') {
      const fresh = !this.invitations.has(invitation.id);
      this.invitations.set(invitation.id, invitation);
      if (fresh) this.onInvitation(invitation);
    } else {
      this.invitations.delete(invitation.id);
    }
    this.renderInvitations();
  }

  renderInvitations() {
    const items = [...this.invitations.values()].map((invitation) => {
      const accept = el('button', { type: 'button', class: 'button button-small' }, gettext('Accept'));
      const decline = el('button', { type: 'button', class: 'button button-small button-quiet-dark' }, gettext('Decline'));
      const respond = async (how) => {
        accept.disabled = true;
        decline.disabled = true;
        try {
          await apiFetch(`/api/invitations/${invitation.id}/${how}/`, { method: 'POST' });
          this.invitations.delete(invitation.id);
          this.renderInvitations();
          if (how === 'accept') {
            await this.refreshRoom(invitation.room.id);
            window.location.hash = roomHref(invitation.room.id);
          } else {
            document.getElementById('new-direct-button')?.focus();
          }
        } catch (error) {
          accept.disabled = false;
          decline.disabled = false;
          this.onError?.(error.message);
        }
      };
      accept.addEventListener('click', () => respond('accept'));
      decline.addEventListener('click', () => respond('decline'));
      const text = interpolate(gettext('%(person)s invited you to %(room)s'), { person: personName(invitation.inviter), room: invitation.room.name }, true);
      return el('li', { class: 'invitation' }, el('p', {}, text), el('div', { class: 'invitation-actions', role: 'group', 'aria-label': text }, accept, decline));
    });
    this.invitationList.replaceChildren(...items);
    this.invitationSection.hidden = items.length === 0;
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
    this.place(this.directList, this.directs());
    this.myEmpty.hidden = this.myList.children.length > 0;
    this.publicEmpty.hidden = this.publicList.children.length > 0;
    this.directEmpty.hidden = this.directList.children.length > 0;
    this.onUnreadChange();
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
    const kind = room.kind === 'direct' ? 'direct' : room.is_member ? 'member' : 'public';
    if (!item || item.dataset.kind !== kind) {
      const fresh = kind === 'direct' ? this.directItem(room) : room.is_member ? this.memberItem(room) : this.publicItem(room);
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
    const preview = item.querySelector('.direct-preview');
    if (preview) preview.textContent = this.previewText(room.latest_message);
    if (room.id === this.activeId) item.querySelector('a').setAttribute('aria-current', 'page');
    return item;
  }

  previewText(message) {
    if (!message) return gettext('No messages yet');
    const text = message.deleted ? gettext('This message was deleted.') : message.body.replace(/\s+/g, ' ').trim();
    const short = text.length > PREVIEW_LENGTH ? `${text.slice(0, PREVIEW_LENGTH - 1)}…` : text;
    return message.author?.id === this.userId ? interpolate(gettext('You: %s'), [short]) : short;
  }

  directItem(room) {
    const badge = el('span', { class: 'badge', hidden: true }, el('span', { class: 'badge-count', 'aria-hidden': 'true' }), hiddenText(''));
    const group = (room.participants ?? []).length > 2;
    const link = el(
      'a',
      { class: 'room-link direct-link', href: roomHref(room.id), dataset: { roomId: room.id } },
      el('span', { class: group ? 'room-icon room-icon-group' : 'room-icon room-icon-person', 'aria-hidden': 'true' }),
      el('span', { class: 'direct-text' }, el('span', { class: 'room-name' }), el('span', { class: 'direct-preview' })),
      badge,
    );
    return el('li', { class: 'room-item', dataset: { kind: 'direct', roomId: room.id } }, link);
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
