// The open room: history (REST), live messages (socket), "load older", the composer with its
// outbox of messages still on their way, and read position.

import { apiFetch } from './api.js';
import { el, hiddenText } from './dom.js';
import { gettext, interpolate } from './i18n.js';

const HISTORY_PAGE = 50;
const GROUP_WINDOW_MS = 5 * 60 * 1000;
const READ_DELAY_MS = 300;
const RETRY_AFTER_TIMEOUT_MS = 3000;
const NEAR_BOTTOM_PX = 120;
const AVATAR_COLOURS = 8;

/** A client message id: random, unique, and within the server's [A-Za-z0-9._:-]{1,64}. */
export function newClientMessageId() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  // randomUUID needs a secure context; plain-HTTP intranet installs still get 128 random bits.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function initials(name) {
  const parts = name.trim().split(/\s+/).filter(Boolean);
  const letters = parts.length > 1 ? parts[0][0] + parts[parts.length - 1][0] : name.slice(0, 2);
  return letters.toUpperCase();
}

export class Conversation {
  constructor({ socket, rooms, userId, displayName, maxLength, showAlert, clearAlert }) {
    this.socket = socket;
    this.rooms = rooms;
    this.userId = userId;
    this.displayName = displayName;
    this.maxLength = maxLength;
    this.showAlert = showAlert;
    this.clearAlert = clearAlert;
    this.roomId = null;
    this.loadToken = 0;
    this.watching = null;
    this.hasMore = false;
    this.outbox = new Map(); // client_msg_id -> {clientMsgId, room, body, state, createdAt}
    this.readTimer = null;
    this.timeFormat = new Intl.DateTimeFormat(document.documentElement.lang || undefined, {
      hour: '2-digit',
      minute: '2-digit',
    });
    this.fullFormat = new Intl.DateTimeFormat(document.documentElement.lang || undefined, {
      dateStyle: 'full',
      timeStyle: 'short',
    });
    const byId = (id) => document.getElementById(id);
    this.title = byId('room-title');
    this.topic = byId('room-topic');
    this.joinButton = byId('join-button');
    this.joinHint = byId('join-hint');
    this.scroller = byId('scroller');
    this.log = byId('message-log');
    this.logEmpty = byId('log-empty');
    this.loadOlderButton = byId('load-older');
    this.form = byId('composer-form');
    this.composer = byId('composer');
    this.composerLabel = byId('composer-label');
    this.setUpComposer();
    this.subscribe();
    this.joinButton.addEventListener('click', () => this.join());
    this.loadOlderButton.addEventListener('click', () => this.loadOlder());
    window.addEventListener('focus', () => this.scheduleRead());
    document.addEventListener('visibilitychange', () => this.scheduleRead());
  }

  get room() {
    return this.roomId == null ? null : this.rooms.get(this.roomId);
  }

  /** Whether the person is looking at `roomId` right now (so it counts as read). */
  attending(roomId) {
    return (
      roomId === this.roomId && document.visibilityState === 'visible' && document.hasFocus()
    );
  }

  // --- opening a room -------------------------------------------------------------------
  async open(id, { focus = false } = {}) {
    if (id === this.roomId) {
      if (focus) this.focusEntry();
      return;
    }
    const token = ++this.loadToken;
    this.unwatch();
    this.roomId = id;
    this.clearAlert();
    this.hasMore = false;
    this.loadOlderButton.hidden = true;
    this.logEmpty.hidden = true;
    this.log.setAttribute('aria-busy', 'true');
    this.log.replaceChildren();
    this.renderHeader();
    let page;
    try {
      if (!this.room) await this.rooms.refreshRoom(id);
      if (!this.room) throw new Error('not found');
      page = await apiFetch(`/api/rooms/${id}/messages/?limit=${HISTORY_PAGE}`);
    } catch {
      if (token === this.loadToken) this.renderMissing();
      return;
    }
    if (token !== this.loadToken) return;
    this.mergeHistory(page.messages);
    for (const entry of this.outbox.values()) {
      if (entry.room === id) this.appendPending(entry);
    }
    this.hasMore = page.has_more;
    this.loadOlderButton.hidden = !this.hasMore;
    this.updateEmpty();
    this.log.removeAttribute('aria-busy');
    this.scrollToBottom();
    if (!this.room.is_member) this.watch(id, page.latest_seq);
    this.renderHeader();
    this.scheduleRead();
    if (focus) this.focusEntry();
  }

  /** Show a page of history together with live messages that arrived while it loaded. */
  mergeHistory(messages) {
    const live = [...this.log.querySelectorAll('.message[data-message-id]')];
    const shown = new Set(live.map((node) => node.dataset.messageId));
    const nodes = messages
      .filter((message) => !shown.has(String(message.id)))
      .map((message) => this.messageNode(message));
    const pending = [...this.log.querySelectorAll('.message.pending')];
    nodes.push(...live);
    nodes.sort((a, b) => Number(a.dataset.seq) - Number(b.dataset.seq));
    this.log.replaceChildren(...nodes, ...pending);
    for (const node of this.log.children) this.updateGrouping(node);
  }

  /** Put keyboard focus where the person most likely wants it after opening a room. */
  focusEntry() {
    const room = this.room;
    const wide = window.matchMedia('(min-width: 48em)').matches;
    if (room?.is_member && wide) this.composer.focus();
    else if (room && !room.is_member) this.joinButton.focus();
    else this.title.focus();
  }

  renderHeader() {
    const room = this.room;
    if (!room) {
      this.title.textContent = gettext('Loading…');
      this.topic.hidden = true;
      this.form.hidden = true;
      this.joinButton.hidden = true;
      this.joinHint.hidden = true;
      return;
    }
    this.title.textContent = room.name;
    this.title.classList.toggle('room-private', room.visibility !== 'public');
    this.topic.textContent = room.topic ?? '';
    this.topic.hidden = !room.topic;
    document.title = `${room.name} – Communis`;
    const member = Boolean(room.is_member);
    this.form.hidden = !member || room.archived;
    this.joinButton.hidden = member || room.visibility !== 'public';
    this.joinHint.hidden = member;
    this.composer.setAttribute('placeholder', interpolate(gettext('Message #%s'), [room.name]));
    this.composerLabel.textContent = interpolate(gettext('Message to %s'), [room.name]);
  }

  renderMissing() {
    this.title.textContent = gettext('Room not found');
    this.topic.textContent = gettext('This room does not exist, or you cannot see it.');
    this.topic.hidden = false;
    this.form.hidden = true;
    this.joinButton.hidden = true;
    this.joinHint.hidden = true;
    this.log.removeAttribute('aria-busy');
    document.title = 'Communis';
  }

  renderEmptyState() {
    this.roomId = null;
    this.title.textContent = gettext('Welcome to Communis');
    this.topic.textContent = gettext('Create a room or join a public one from the list.');
    this.topic.hidden = false;
    this.form.hidden = true;
    this.joinButton.hidden = true;
    this.joinHint.hidden = true;
    this.log.removeAttribute('aria-busy');
  }

  /** The room list changed something about `room` (joined, left, renamed, removed). */
  roomChanged(room) {
    if (room.id !== this.roomId) return;
    if (room.removed) {
      this.unwatch();
      this.renderMissing();
      return;
    }
    if (room.is_member && this.watching === room.id) this.watching = null;
    if (!room.is_member && room.visibility === 'public' && this.watching !== room.id) {
      this.watch(room.id, this.socket.position(room.id) ?? room.last_seq ?? 0);
    }
    this.renderHeader();
  }

  // --- watching public rooms you have not joined ----------------------------------------
  watch(id, afterSeq) {
    this.watching = id;
    this.socket.notePosition(id, afterSeq);
    if (this.socket.ready) {
      this.socket.request('room.subscribe', { room: id, after_seq: afterSeq }).catch(() => {});
    }
  }

  unwatch() {
    const id = this.watching;
    if (id == null) return;
    this.watching = null;
    if (this.rooms.get(id)?.is_member) return;
    this.socket.forgetRoom(id);
    if (this.socket.ready) this.socket.request('room.unsubscribe', { room: id }).catch(() => {});
  }

  async join() {
    const room = this.room;
    if (!room) return;
    this.joinButton.disabled = true;
    try {
      await this.rooms.join(room.id);
      this.renderHeader();
      this.composer.focus();
    } catch (error) {
      this.showAlert(error.message);
    } finally {
      this.joinButton.disabled = false;
    }
  }

  // --- socket events --------------------------------------------------------------------
  subscribe() {
    this.socket.on('message.created', (frame) => {
      const message = frame.data?.message;
      if (!message) return;
      if (frame.room !== this.roomId) {
        this.outbox.delete(message.client_msg_id);
        return;
      }
      this.insert(message);
      this.scheduleRead();
    });
    this.socket.on('socket:ready', () => {
      if (this.watching != null) {
        const id = this.watching;
        const after = this.socket.position(id) ?? this.room?.last_seq ?? 0;
        this.socket.request('room.subscribe', { room: id, after_seq: after }).catch(() => {});
      }
      for (const entry of this.outbox.values()) {
        if (entry.state === 'queued') this.dispatch(entry);
      }
      this.scheduleRead();
    });
    this.socket.on('socket:error', (error) => {
      if (error.message) this.showAlert(error.message);
    });
  }

  // --- messages in the log --------------------------------------------------------------
  insert(message) {
    const existing = this.log.querySelector(`[data-message-id="${message.id}"]`);
    if (existing) return existing;
    const wasNearBottom = this.nearBottom();
    const mine = message.author?.id === this.userId;
    const pending = mine ? this.pendingNode(message.client_msg_id) : null;
    this.outbox.delete(message.client_msg_id);
    let node;
    if (pending) {
      node = this.confirmPending(pending, message);
    } else {
      node = this.messageNode(message);
      this.insertSorted(node, message.seq);
    }
    this.updateGrouping(node);
    if (node.nextElementSibling) this.updateGrouping(node.nextElementSibling);
    this.updateEmpty();
    if (wasNearBottom || mine) this.scrollToBottom();
    return node;
  }

  insertSorted(node, seq) {
    let before = null;
    let cursor = this.log.lastElementChild;
    // Walk back over pending messages and anything newer: usually zero or one step.
    while (cursor && (cursor.classList.contains('pending') || Number(cursor.dataset.seq) > seq)) {
      before = cursor;
      cursor = cursor.previousElementSibling;
    }
    this.log.insertBefore(node, before);
  }

  messageNode(message, { pending = false } = {}) {
    const author = message.author ?? {};
    const name = author.display_name || author.username || '';
    const created = new Date(message.created_at ?? Date.now());
    const node = el('div', {
      class: pending ? 'message pending' : 'message',
      id: pending ? null : `message-${message.id}`,
      dataset: {
        messageId: pending ? null : message.id,
        seq: pending ? null : message.seq,
        authorId: author.id,
        clientMsgId: message.client_msg_id,
        time: created.getTime(),
      },
    });
    const body = el('div', { class: 'message-body' });
    if (pending) {
      body.classList.add('message-plain');
      body.textContent = message.body;
    } else {
      this.fillBody(body, message);
    }
    node.append(
      el('span', { class: `avatar avatar-${(author.id ?? 0) % AVATAR_COLOURS}`, 'aria-hidden': 'true' }, initials(name || '?')),
      el('p', { class: 'message-meta' }, el('span', { class: 'message-author' }, name), hiddenText(': ')),
      body,
      el(
        'time',
        { class: 'message-time', datetime: created.toISOString(), title: this.fullFormat.format(created) },
        this.timeFormat.format(created),
      ),
      el('p', { class: 'message-state' }),
    );
    if (pending) this.setState(node, gettext('Sending…'));
    return node;
  }

  fillBody(body, message) {
    if (message.deleted) {
      body.classList.add('message-deleted');
      body.textContent = gettext('This message was deleted.');
    } else {
      // Rendered from Markdown and sanitised (bleach allowlist) by the server at write time.
      body.innerHTML = message.html;
    }
  }

  setState(node, text, actions = []) {
    const state = node.querySelector('.message-state');
    state.replaceChildren(text, ...actions);
  }

  pendingNode(clientMsgId) {
    if (!clientMsgId) return null;
    return this.log.querySelector(`.message[data-client-msg-id="${CSS.escape(clientMsgId)}"]:not([data-message-id])`);
  }

  confirmPending(node, message) {
    node.classList.remove('pending', 'failed');
    node.id = `message-${message.id}`;
    node.dataset.messageId = message.id;
    node.dataset.seq = message.seq;
    const body = node.querySelector('.message-body');
    body.classList.remove('message-plain');
    this.fillBody(body, message);
    this.setState(node, '');
    // Pending messages stay together at the end; move this one only if it is now out of
    // order (moving a node makes screen readers announce it again).
    const previous = node.previousElementSibling;
    const misplaced =
      previous &&
      (previous.classList.contains('pending') || Number(previous.dataset.seq) > message.seq);
    if (misplaced) {
      node.remove();
      this.insertSorted(node, message.seq);
    }
    return node;
  }

  /** Show consecutive messages of one person within a few minutes as one group. */
  updateGrouping(node) {
    if (!node?.classList?.contains('message')) return;
    const previous = node.previousElementSibling;
    const grouped =
      previous?.classList.contains('message') &&
      previous.dataset.authorId === node.dataset.authorId &&
      Number(node.dataset.time) - Number(previous.dataset.time) < GROUP_WINDOW_MS;
    node.classList.toggle('grouped', Boolean(grouped));
  }

  updateEmpty() {
    this.logEmpty.hidden = this.log.children.length > 0;
  }

  nearBottom() {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < NEAR_BOTTOM_PX;
  }

  scrollToBottom() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  oldestSeq() {
    for (const node of this.log.children) {
      if (node.dataset.seq) return Number(node.dataset.seq);
    }
    return null;
  }

  newestSeq() {
    let newest = 0;
    for (const node of this.log.querySelectorAll('.message[data-seq]')) {
      newest = Math.max(newest, Number(node.dataset.seq));
    }
    return newest;
  }

  async loadOlder() {
    const id = this.roomId;
    const oldest = this.oldestSeq();
    if (id == null || oldest == null) return;
    this.loadOlderButton.disabled = true;
    try {
      const page = await apiFetch(`/api/rooms/${id}/messages/?before=${oldest}&limit=${HISTORY_PAGE}`);
      if (id !== this.roomId) return;
      const previousHeight = this.scroller.scrollHeight;
      this.log.setAttribute('aria-busy', 'true');
      const fragment = document.createDocumentFragment();
      for (const message of page.messages) {
        if (!this.log.querySelector(`[data-message-id="${message.id}"]`)) {
          fragment.append(this.messageNode(message));
        }
      }
      const first = this.log.firstElementChild;
      this.log.insertBefore(fragment, first);
      for (const node of this.log.children) {
        this.updateGrouping(node);
        if (node === first) break;
      }
      this.log.removeAttribute('aria-busy');
      this.scroller.scrollTop += this.scroller.scrollHeight - previousHeight;
      this.hasMore = page.has_more;
      this.loadOlderButton.hidden = !this.hasMore;
      if (!this.hasMore) this.scroller.focus();
    } catch (error) {
      this.showAlert(error.message);
    } finally {
      this.loadOlderButton.disabled = false;
    }
  }

  // --- read position --------------------------------------------------------------------
  scheduleRead() {
    clearTimeout(this.readTimer);
    this.readTimer = setTimeout(() => this.markRead(), READ_DELAY_MS);
  }

  markRead() {
    const room = this.room;
    if (!room || !room.is_member || !this.attending(room.id)) return;
    this.rooms.clearUnread(room.id);
    const seq = Math.max(room.last_seq ?? 0, this.newestSeq());
    if (seq <= (room.last_read_seq ?? -1) || !this.socket.ready) return;
    const previous = room.last_read_seq;
    room.last_read_seq = seq;
    this.socket.request('room.read', { room: room.id, seq }).catch(() => {
      room.last_read_seq = previous;
    });
  }

  // --- composer and outbox --------------------------------------------------------------
  setUpComposer() {
    this.composer.addEventListener('keydown', (event) => {
      if (event.key !== 'Enter' || event.shiftKey || event.isComposing) return;
      if (event.altKey || event.ctrlKey || event.metaKey) return;
      event.preventDefault();
      this.form.requestSubmit();
    });
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.sendFromComposer();
    });
  }

  sendFromComposer() {
    const body = this.composer.value;
    const room = this.room;
    if (!room || !body.trim()) return;
    if (body.length > this.maxLength) {
      this.showAlert(interpolate(gettext('The message is too long (at most %s characters).'), [this.maxLength]));
      return;
    }
    const entry = {
      clientMsgId: newClientMessageId(),
      room: room.id,
      body,
      state: 'queued',
      createdAt: new Date().toISOString(),
    };
    this.outbox.set(entry.clientMsgId, entry);
    this.composer.value = '';
    this.clearAlert();
    this.appendPending(entry);
    this.scrollToBottom();
    this.dispatch(entry);
  }

  appendPending(entry) {
    if (this.pendingNode(entry.clientMsgId)) return;
    const node = this.messageNode(
      {
        author: { id: this.userId, display_name: this.displayName },
        body: entry.body,
        client_msg_id: entry.clientMsgId,
        created_at: entry.createdAt,
      },
      { pending: true },
    );
    this.log.append(node);
    this.updateGrouping(node);
    this.updateEmpty();
    if (entry.state === 'failed') this.markFailed(entry, node);
  }

  /** Send (or resend, with the same client_msg_id: the server deduplicates) one message. */
  dispatch(entry) {
    if (entry.state === 'sending' || !this.outbox.has(entry.clientMsgId)) return;
    if (!this.socket.ready) {
      entry.state = 'queued';
      return;
    }
    entry.state = 'sending';
    this.socket
      .request('message.send', { room: entry.room, body: entry.body, client_msg_id: entry.clientMsgId })
      .then((data) => {
        this.outbox.delete(entry.clientMsgId);
        if (data.message?.room === this.roomId) this.insert(data.message);
      })
      .catch((error) => this.sendFailed(entry, error));
  }

  sendFailed(entry, error) {
    if (!this.outbox.has(entry.clientMsgId)) return; // the event confirmed it meanwhile
    entry.state = 'queued';
    if (error.code === 'disconnected') return; // sent again when the socket is back
    if (error.code === 'rate_limited' || error.code === 'timeout') {
      const wait = error.code === 'timeout' ? RETRY_AFTER_TIMEOUT_MS : (error.details?.retry_after ?? 1) * 1000;
      setTimeout(() => this.dispatch(entry), wait);
      return;
    }
    entry.state = 'failed';
    this.showAlert(error.message || gettext('The message could not be sent.'));
    const node = this.pendingNode(entry.clientMsgId);
    if (node) this.markFailed(entry, node);
  }

  markFailed(entry, node) {
    node.classList.add('failed');
    const retry = el('button', { type: 'button', class: 'link-button' }, gettext('Try again'));
    const discard = el('button', { type: 'button', class: 'link-button' }, gettext('Discard'));
    retry.addEventListener('click', () => {
      node.classList.remove('failed');
      this.setState(node, gettext('Sending…'));
      entry.state = 'queued';
      this.clearAlert();
      this.dispatch(entry);
    });
    discard.addEventListener('click', () => {
      this.outbox.delete(entry.clientMsgId);
      node.remove();
      this.updateEmpty();
      this.composer.focus();
    });
    this.setState(node, gettext('Not sent.'), [' ', retry, ' ', discard]);
  }
}
