// The open room: history (REST), live messages (socket), "load older", the composer with its
// outbox of messages still on their way, read position and the "new messages" divider,
// "seen by", typing indicators and @mention autocomplete.

import { apiFetch } from './api.js';
import { el } from './dom.js';
import { gettext, interpolate, ngettext } from './i18n.js';
import { joinNames, personName } from './messages.js';

const HISTORY_PAGE = 50;
const SHOW_MESSAGE_PAGES = 10; // pages of older history searched for a message to show
const GROUP_WINDOW_MS = 5 * 60 * 1000;
const READ_DELAY_MS = 300;
const RETRY_AFTER_TIMEOUT_MS = 3000;
const NEAR_BOTTOM_PX = 120;
const TYPING_SIGNAL_MS = 3000; // the server relays at most one "typing" per 3 s anyway
const TYPING_EXPIRY_MS = 6000; // a "typing" not heard again within this has ended
const MENTION_QUERY = /(^|[\s(])@([\w.+-]{0,30})$/;
const SUGGESTION_LIMIT = 8;

/** A client message id: random, unique, and within the server's [A-Za-z0-9._:-]{1,64}. */
export function newClientMessageId() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  // randomUUID needs a secure context; plain-HTTP intranet installs still get 128 random bits.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export class Conversation {
  constructor({ socket, rooms, view, people, userId, displayName, maxLength, showAlert, clearAlert, onTitle, announce }) {
    this.socket = socket;
    this.rooms = rooms;
    this.view = view;
    this.people = people;
    this.onTitle = onTitle ?? (() => {});
    this.receipts = new Map(); // user id -> {user, seq}
    this.typers = new Map(); // user id -> {name, timer}
    this.typingText = '';
    this.typingSentAt = 0;
    this.suggestions = [];
    this.suggestionIndex = -1;
    this.suggestionToken = 0;
    this.userId = userId;
    this.displayName = displayName;
    this.maxLength = maxLength;
    this.showAlert = showAlert;
    this.announce = announce ?? (() => {});
    this.clearAlert = clearAlert;
    this.roomId = null;
    this.loadToken = 0;
    this.watching = null;
    this.hasMore = false;
    this.outbox = new Map(); // client_msg_id -> {clientMsgId, room, body, state, createdAt}
    this.readTimer = null;
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
    this.archivedNote = byId('archived-note');
    this.viewBox = byId('conversation-view');
    this.typingLine = byId('typing');
    this.suggestionList = byId('mention-suggestions');
    this.pinsButton = byId('pins-button');
    this.settingsButton = byId('room-settings-button');
    this.view.attach(this.log);
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
      roomId === this.roomId &&
      !this.viewBox.hidden &&
      document.visibilityState === 'visible' &&
      document.hasFocus()
    );
  }

  // --- opening a room -------------------------------------------------------------------
  async open(id, { focus = false } = {}) {
    if (id === this.roomId) {
      this.scheduleRead();
      if (focus) this.focusEntry();
      return;
    }
    const token = ++this.loadToken;
    this.unwatch();
    this.stopTyping();
    this.clearTypers();
    this.closeSuggestions();
    this.receipts.clear();
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
      [page] = await Promise.all([
        apiFetch(`/api/rooms/${id}/messages/?limit=${HISTORY_PAGE}`),
        this.loadMembers(id),
      ]);
    } catch {
      if (token === this.loadToken) this.renderMissing();
      return;
    }
    if (token !== this.loadToken) return;
    const unreadBefore = this.room.unread ?? 0;
    this.mergeHistory(page.messages);
    this.placeDivider(unreadBefore);
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
    this.loadReceipts(id);
    if (focus) this.focusEntry();
  }

  /** Learn the person's role and the names of the room's people (for reactions). */
  async loadMembers(id) {
    const room = this.rooms.get(id);
    if (!room || !room.is_member) return;
    if (room.kind === 'direct') {
      for (const person of room.participants ?? []) this.people.set(person.id, person);
      return;
    }
    try {
      const members = await apiFetch(`/api/rooms/${id}/members/`);
      // The room list may have replaced its row for this room while we waited (a
      // `room.created` or resync refresh): set the role on the row it holds now.
      const current = this.rooms.get(id) ?? room;
      for (const member of members) {
        this.people.set(member.user.id, member.user);
        if (member.user.id === this.userId) current.role = member.role;
      }
    } catch {
      // Names fall back to "someone"; nothing else depends on this.
    }
  }

  /** Put "New messages" above the first of the `unread` newest messages by others. */
  placeDivider(unread) {
    this.log.querySelector('.unread-divider')?.remove();
    if (unread <= 0) return;
    let count = 0;
    let first = null;
    const nodes = [...this.log.querySelectorAll('.message[data-seq]')].reverse();
    for (const node of nodes) {
      if (Number(node.dataset.authorId) === this.userId || node.classList.contains('is-deleted')) continue;
      first = node;
      count += 1;
      if (count >= unread) break;
    }
    if (!first) return;
    const divider = el('p', { class: 'unread-divider' }, el('span', {}, gettext('New messages')));
    this.log.insertBefore(divider, first);
  }

  // --- "seen by" --------------------------------------------------------------------------
  async loadReceipts(id) {
    const room = this.rooms.get(id);
    if (!room?.is_member) return;
    if (room.kind !== 'direct' && (room.member_count ?? 0) > 50) return;
    try {
      const rows = await apiFetch(`/api/rooms/${id}/receipts/`);
      if (id !== this.roomId) return;
      for (const row of rows) this.receipts.set(row.user.id, row);
      this.renderSeen();
    } catch {
      // "Seen by" is a nicety: leave it out.
    }
  }

  receiptUpdated(data) {
    if (data.room !== this.roomId || !data.user) return;
    if (data.seq === null) {
      // They turned "Seen by" off: their receipt goes from every screen at once.
      this.receipts.delete(data.user.id);
      this.renderSeen();
      return;
    }
    const known = this.receipts.get(data.user.id);
    if (known && known.seq >= data.seq) return;
    this.receipts.set(data.user.id, { user: data.user, seq: data.seq });
    this.renderSeen();
  }

  renderSeen() {
    for (const line of this.log.querySelectorAll('.message-seen')) line.remove();
    const nodes = [...this.log.querySelectorAll('.message[data-seq]')];
    const byNode = new Map();
    for (const { user, seq } of this.receipts.values()) {
      if (user.id === this.userId) continue;
      let target = null;
      for (const node of nodes) {
        if (Number(node.dataset.seq) <= seq) target = node;
      }
      if (!target) continue;
      if (!byNode.has(target)) byNode.set(target, []);
      byNode.get(target).push(personName(user));
    }
    for (const [node, names] of byNode) {
      const text = interpolate(gettext('Seen by %s'), [joinNames(names)]);
      node.querySelector('.message-extra').append(el('p', { class: 'message-seen' }, text));
    }
  }
  /** Show a page of history together with live messages that arrived while it loaded. */
  mergeHistory(messages) {
    const live = [...this.log.querySelectorAll('.message[data-message-id]')];
    const shown = new Set(live.map((node) => node.dataset.messageId));
    const nodes = messages
      .filter((message) => !shown.has(String(message.id)) && !message.thread_root)
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
    const direct = room.kind === 'direct';
    this.title.textContent = room.name;
    this.title.classList.toggle('room-private', !direct && room.visibility !== 'public');
    this.title.classList.toggle('room-direct', direct);
    const topic = direct ? this.directTopic(room) : room.topic ?? '';
    this.topic.textContent = topic;
    this.topic.hidden = !topic;
    this.onTitle(room.name);
    const member = Boolean(room.is_member);
    const typing = this.form.contains(document.activeElement);
    this.form.hidden = !member || room.archived;
    this.archivedNote.hidden = !room.archived;
    // Archived (or left) while writing: say why the composer went, and keep focus here.
    if (typing && this.form.hidden) (room.archived ? this.archivedNote : this.title).focus();
    this.joinButton.hidden = member || room.visibility !== 'public' || room.archived;
    this.joinHint.hidden = member || room.archived;
    this.pinsButton.hidden = direct;
    this.settingsButton.hidden = direct || !member;
    this.composer.setAttribute(
      'placeholder',
      direct ? interpolate(gettext('Message %s'), [room.name]) : interpolate(gettext('Message #%s'), [room.name]),
    );
    this.composerLabel.textContent = interpolate(gettext('Message to %s'), [room.name]);
  }

  directTopic(room) {
    const count = (room.participants ?? []).length;
    if (count <= 2) return gettext('Direct message');
    return interpolate(ngettext('Group conversation, %(count)s person', 'Group conversation, %(count)s people', count), { count }, true);
  }

  /** Whether the person may write here (reactions, edits, thread replies). */
  canPost(roomId) {
    const room = this.rooms.get(roomId);
    return Boolean(room?.is_member && !room.archived);
  }

  canModerate(roomId) {
    const room = this.rooms.get(roomId);
    return Boolean(room && room.kind !== 'direct' && ['owner', 'admin'].includes(room.role));
  }

  /** Redraw the actions of every shown message (the person's role or the room changed). */
  redrawMessages() {
    for (const node of this.log.querySelectorAll('.message[data-message-id]')) {
      const message = this.view.messages.get(Number(node.dataset.messageId));
      if (message) this.view.fill(node, message);
    }
    this.renderSeen();
  }

  renderMissing() {
    // Removed from a private room, or it was never there: show none of its messages, and
    // keep keyboard focus in the view (the control it was on is gone).
    const hadFocus = this.viewBox.contains(document.activeElement);
    this.typingSentAt = 0;
    this.clearTypers();
    this.closeSuggestions();
    this.receipts.clear();
    this.log.replaceChildren();
    this.loadOlderButton.hidden = true;
    this.logEmpty.hidden = true;
    this.title.classList.remove('room-private', 'room-direct');
    this.title.textContent = gettext('Room not found');
    this.topic.textContent = gettext('This room does not exist, or you cannot see it.');
    this.topic.hidden = false;
    this.form.hidden = true;
    this.joinButton.hidden = true;
    this.joinHint.hidden = true;
    this.log.removeAttribute('aria-busy');
    this.pinsButton.hidden = true;
    this.settingsButton.hidden = true;
    this.archivedNote.hidden = true;
    this.onTitle('');
    if (hadFocus) this.title.focus();
  }

  renderEmptyState() {
    this.roomId = null;
    this.title.textContent = gettext('Welcome to Communis');
    this.topic.textContent = gettext('Create a room or join a public one from the list.');
    this.topic.hidden = false;
    this.form.hidden = true;
    this.joinButton.hidden = true;
    this.joinHint.hidden = true;
    this.pinsButton.hidden = true;
    this.settingsButton.hidden = true;
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
    this.redrawMessages();
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
      const thread = frame.data.thread;
      if (thread) this.view.patch(thread.root, { reply_count: thread.reply_count, last_reply_at: thread.last_reply_at });
      this.typerLeft(message.author?.id);
      if (frame.room !== this.roomId || message.thread_root) {
        this.outbox.delete(message.client_msg_id);
        if (frame.room === this.roomId) this.scheduleRead();
        return;
      }
      this.insert(message);
      this.scheduleRead();
    });
    const changed = (frame) => {
      if (frame.data?.message) this.view.update(frame.data.message);
      if (frame.room === this.roomId) this.renderSeen();
    };
    this.socket.on('message.edited', changed);
    this.socket.on('message.deleted', changed);
    this.socket.on('message.pinned', (frame) => this.view.patch(frame.data?.message_id, { pinned: true }));
    this.socket.on('message.unpinned', (frame) => this.view.patch(frame.data?.message_id, { pinned: false }));
    const reacted = (frame) => this.view.patch(frame.data?.message_id, { reactions: frame.data?.reactions ?? [] });
    this.socket.on('reaction.added', reacted);
    this.socket.on('reaction.removed', reacted);
    this.socket.on('typing.started', (frame) => this.typerCame(frame.data ?? {}));
    this.socket.on('typing.stopped', (frame) => {
      if (frame.data?.room === this.roomId) this.typerLeft(frame.data.user?.id);
    });
    this.socket.on('receipt.updated', (frame) => this.receiptUpdated(frame.data ?? {}));
    this.socket.on('socket:resynced', ({ room }) => {
      if (room === this.roomId) this.refreshShown();
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
    if (message.thread_root) return null;
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
    this.renderSeen();
    if (wasNearBottom || mine) this.scrollToBottom();
    return node;
  }

  /** Re-read the newest page after a resync: edits, deletions and reactions we missed. */
  async refreshShown() {
    const id = this.roomId;
    try {
      const page = await apiFetch(`/api/rooms/${id}/messages/?limit=${HISTORY_PAGE}`);
      if (id !== this.roomId) return;
      for (const message of page.messages) {
        if (this.view.copies(message.id).length) this.view.update(message);
        else this.insert(message);
      }
    } catch {
      // The next resync tries again.
    }
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
    return this.view.node(message, { pending });
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
    this.view.remember(message);
    this.view.fill(node, this.view.messages.get(message.id));
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

  /** Scroll to a message and give it focus (a mention opened from the list), loading older
   * history as needed, a few pages at most. */
  async showMessage(messageId) {
    const id = this.roomId;
    const find = () => this.log.querySelector(`.message[data-message-id="${messageId}"]`);
    for (let page = 0; !find() && this.hasMore && page < SHOW_MESSAGE_PAGES; page += 1) {
      await this.loadOlder();
      if (id !== this.roomId) return;
    }
    const node = find();
    if (!node) return;
    for (const other of this.log.querySelectorAll('.message.is-target')) other.classList.remove('is-target');
    node.classList.add('is-target');
    node.tabIndex = -1;
    node.scrollIntoView({ block: 'center' });
    node.focus({ preventScroll: true });
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
    this.composer.setAttribute('aria-autocomplete', 'list');
    this.composer.setAttribute('aria-controls', this.suggestionList.id);
    this.composer.addEventListener('keydown', (event) => {
      if (this.suggestionsOpen() && this.suggestionKey(event)) return;
      if (event.key !== 'Enter' || event.shiftKey || event.isComposing) return;
      if (event.altKey || event.ctrlKey || event.metaKey) return;
      event.preventDefault();
      this.form.requestSubmit();
    });
    this.composer.addEventListener('input', () => {
      this.signalTyping();
      this.suggest();
    });
    this.composer.addEventListener('blur', () => setTimeout(() => this.closeSuggestions(), 150));
    this.suggestionList.addEventListener('mousedown', (event) => event.preventDefault());
    this.suggestionList.addEventListener('click', (event) => {
      const option = event.target.closest('[role="option"]');
      if (option) this.pickSuggestion(Number(option.dataset.index));
    });
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.closeSuggestions();
      this.sendFromComposer();
    });
  }

  // --- typing -------------------------------------------------------------------------------
  signalTyping() {
    const room = this.room;
    if (!room?.is_member || !this.socket.ready) return;
    if (!this.composer.value.trim()) {
      this.stopTyping();
      return;
    }
    const now = Date.now();
    if (now - this.typingSentAt < TYPING_SIGNAL_MS) return;
    this.typingSentAt = now;
    this.socket.request('typing', { room: room.id }).catch(() => {});
  }

  stopTyping() {
    if (!this.typingSentAt) return;
    this.typingSentAt = 0;
    if (this.roomId != null && this.socket.ready) {
      this.socket.request('typing', { room: this.roomId, active: false }).catch(() => {});
    }
  }

  typerCame({ room, user }) {
    if (room !== this.roomId || !user || user.id === this.userId) return;
    const known = this.typers.get(user.id);
    clearTimeout(known?.timer);
    const timer = setTimeout(() => this.typerLeft(user.id), TYPING_EXPIRY_MS);
    this.typers.set(user.id, { name: personName(user), timer });
    this.renderTyping();
  }

  typerLeft(userId) {
    const known = this.typers.get(userId);
    if (!known) return;
    clearTimeout(known.timer);
    this.typers.delete(userId);
    this.renderTyping();
  }

  clearTypers() {
    for (const { timer } of this.typers.values()) clearTimeout(timer);
    this.typers.clear();
    this.renderTyping();
  }

  /** Change the live line only when who is typing changes, so it is not read out repeatedly. */
  renderTyping() {
    const names = [...this.typers.values()].map((typer) => typer.name);
    let text = '';
    if (names.length === 1) text = interpolate(gettext('%s is typing…'), [names[0]]);
    else if (names.length === 2) text = interpolate(gettext('%(first)s and %(second)s are typing…'), { first: names[0], second: names[1] }, true);
    else if (names.length > 2) text = gettext('Several people are typing…');
    if (text === this.typingText) return;
    this.typingText = text;
    this.typingLine.textContent = text;
  }

  // --- @mention autocomplete ----------------------------------------------------------------
  suggestionsOpen() {
    return !this.suggestionList.hidden && this.suggestions.length > 0;
  }

  suggestionKey(event) {
    const count = this.suggestions.length;
    if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      event.preventDefault();
      const step = event.key === 'ArrowDown' ? 1 : -1;
      this.highlight((this.suggestionIndex + step + count) % count);
      return true;
    }
    if ((event.key === 'Enter' || event.key === 'Tab') && !event.shiftKey) {
      event.preventDefault();
      this.pickSuggestion(Math.max(0, this.suggestionIndex));
      return true;
    }
    if (event.key === 'Escape') {
      event.preventDefault();
      event.stopPropagation();
      this.closeSuggestions();
      return true;
    }
    return false;
  }

  mentionQuery() {
    const caret = this.composer.selectionStart ?? this.composer.value.length;
    const match = MENTION_QUERY.exec(this.composer.value.slice(0, caret));
    return match ? { query: match[2], start: caret - match[2].length - 1, end: caret } : null;
  }

  async suggest() {
    const found = this.mentionQuery();
    const token = ++this.suggestionToken;
    if (!found || !this.room?.is_member) {
      this.closeSuggestions();
      return;
    }
    let people = [];
    try {
      people = await apiFetch(`/api/people/?q=${encodeURIComponent(found.query)}`);
    } catch {
      people = [];
    }
    if (token !== this.suggestionToken) return;
    const options = people
      .filter((person) => person.id !== this.userId)
      .slice(0, SUGGESTION_LIMIT)
      .map((person) => ({ insert: person.username, label: personName(person), detail: `@${person.username}` }));
    if (this.room.kind !== 'direct' && 'room'.startsWith(found.query.toLowerCase())) {
      options.push({ insert: 'room', label: '@room', detail: gettext('everyone in this room') });
    }
    this.showSuggestions(options);
  }

  showSuggestions(options) {
    // The list itself is not read out as it opens: say how many there are and how to choose.
    if (options.length && options.length !== this.suggestions.length) {
      const text = ngettext(
        '%(count)s suggestion. Up and down arrows to choose, Enter to insert.',
        '%(count)s suggestions. Up and down arrows to choose, Enter to insert.',
        options.length,
      );
      this.announce(interpolate(text, { count: options.length }, true));
    }
    this.suggestions = options;
    this.suggestionIndex = -1;
    this.suggestionList.replaceChildren(
      ...options.map((option, index) =>
        el(
          'li',
          { role: 'option', id: `mention-option-${index}`, 'aria-selected': 'false', dataset: { index } },
          el('span', { class: 'suggestion-name' }, option.label),
          ' ',
          el('span', { class: 'suggestion-detail' }, option.detail),
        ),
      ),
    );
    this.suggestionList.hidden = options.length === 0;
    if (options.length) this.highlight(0);
    else this.composer.removeAttribute('aria-activedescendant');
  }

  highlight(index) {
    this.suggestionIndex = index;
    for (const option of this.suggestionList.children) {
      option.setAttribute('aria-selected', String(Number(option.dataset.index) === index));
    }
    this.composer.setAttribute('aria-activedescendant', `mention-option-${index}`);
  }

  pickSuggestion(index) {
    const option = this.suggestions[index];
    const found = this.mentionQuery();
    this.closeSuggestions();
    if (!option || !found) return;
    const text = this.composer.value;
    const inserted = `@${option.insert} `;
    this.composer.value = text.slice(0, found.start) + inserted + text.slice(found.end);
    const caret = found.start + inserted.length;
    this.composer.setSelectionRange(caret, caret);
    this.composer.focus();
  }

  closeSuggestions() {
    this.suggestionToken += 1;
    this.suggestions = [];
    this.suggestionIndex = -1;
    this.suggestionList.hidden = true;
    this.suggestionList.replaceChildren();
    this.composer.removeAttribute('aria-activedescendant');
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
    this.typingSentAt = 0; // the message itself ends "typing…" on the server
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
