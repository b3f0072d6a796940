// The thread pane: a message and its replies beside the room (a full-screen panel on phones),
// with its own composer.  Replies arrive live as `message.created` with `thread_root` set.

import { apiFetch } from './api.js';
import { gettext, interpolate, ngettext } from './i18n.js';
import { newClientMessageId } from './conversation.js';

const THREAD_PAGE = 100;

export class ThreadPane {
  constructor({ socket, view, rooms, showAlert, onOpenChange }) {
    this.socket = socket;
    this.view = view;
    this.rooms = rooms;
    this.showAlert = showAlert;
    this.onOpenChange = onOpenChange ?? (() => {});
    this.rootId = null;
    this.roomId = null;
    this.returnFocus = null;
    const byId = (id) => document.getElementById(id);
    this.pane = byId('thread-pane');
    this.title = byId('thread-title');
    this.rootBox = byId('thread-root');
    this.count = byId('thread-count');
    this.log = byId('thread-log');
    this.form = byId('thread-form');
    this.composer = byId('thread-composer');
    this.view.attach(this.rootBox);
    this.view.attach(this.log);
    byId('thread-close').addEventListener('click', () => this.close());
    byId('thread-back').addEventListener('click', () => this.close());
    this.pane.addEventListener('keydown', (event) => {
      if (event.key === 'Escape' && !event.defaultPrevented) {
        event.preventDefault();
        this.close();
      }
    });
    this.composer.addEventListener('keydown', (event) => {
      if (event.key !== 'Enter' || event.shiftKey || event.isComposing) return;
      event.preventDefault();
      this.form.requestSubmit();
    });
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.send();
    });
    socket.on('message.created', (frame) => {
      const message = frame.data?.message;
      if (message && this.rootId != null && message.thread_root === this.rootId) this.insert(message);
      if (frame.data?.thread?.root === this.rootId) this.renderCount();
    });
    socket.on('message.deleted', (frame) => {
      if (frame.data?.message?.id === this.rootId) this.renderCount();
    });
  }

  get isOpen() {
    return this.rootId != null;
  }

  /** Open the thread of `root` (a message payload, or just {id, room}). */
  async open(root, { focus = true } = {}) {
    this.returnFocus = document.activeElement;
    this.rootId = root.id;
    this.roomId = root.room;
    const known = this.view.messages.get(root.id) ?? root;
    if (known.author) this.rootBox.replaceChildren(this.view.node(known, { inThread: true }));
    else this.rootBox.replaceChildren();
    this.log.replaceChildren();
    this.log.setAttribute('aria-busy', 'true');
    this.renderCount();
    this.pane.hidden = false;
    this.onOpenChange(true);
    const room = this.rooms.get(root.room);
    this.form.hidden = !(room?.is_member && !room.archived);
    if (focus) this.focusEntry();
    try {
      const page = await apiFetch(`/api/rooms/${root.room}/messages/?thread=${root.id}&limit=${THREAD_PAGE}`);
      if (this.rootId !== root.id) return;
      for (const message of page.messages) this.insert(message);
    } catch (error) {
      this.showAlert(error.message);
    } finally {
      this.log.removeAttribute('aria-busy');
    }
  }

  focusEntry() {
    const wide = window.matchMedia('(min-width: 48em)').matches;
    if (wide && !this.form.hidden) this.composer.focus();
    else this.title.focus();
  }

  close() {
    if (!this.isOpen) return;
    const rootId = this.rootId;
    this.rootId = null;
    this.roomId = null;
    this.pane.hidden = true;
    this.rootBox.replaceChildren();
    this.log.replaceChildren();
    this.onOpenChange(false);
    const back =
      (this.returnFocus?.isConnected && this.returnFocus) ||
      document.querySelector(`#message-${rootId} [data-action="thread"]`) ||
      document.getElementById('composer');
    back?.focus();
  }

  /** The room changed or went away: a thread of another room closes. */
  roomOpened(id) {
    if (this.isOpen && this.roomId !== id) this.close();
  }

  renderCount() {
    const root = this.view.messages.get(this.rootId);
    const count = root?.reply_count ?? this.log.children.length;
    this.count.textContent = interpolate(ngettext('%(count)s reply', '%(count)s replies', count), { count }, true);
  }

  insert(message) {
    if (this.log.querySelector(`[data-message-id="${message.id}"]`)) {
      this.view.update(message);
      return;
    }
    const node = this.view.node(message, { inThread: true });
    let before = null;
    for (const child of this.log.children) {
      if (Number(child.dataset.seq) > message.seq) {
        before = child;
        break;
      }
    }
    this.log.insertBefore(node, before);
    this.renderCount();
    const scroller = this.log.parentElement;
    scroller.scrollTop = scroller.scrollHeight;
  }

  async send() {
    const body = this.composer.value;
    if (!body.trim() || this.rootId == null) return;
    const fields = { room: this.roomId, body, client_msg_id: newClientMessageId(), thread: this.rootId };
    const submit = this.form.querySelector('button[type="submit"]');
    submit.disabled = true;
    try {
      const data = await this.socket.request('message.send', fields);
      this.composer.value = '';
      if (data.message?.thread_root === this.rootId) this.insert(data.message);
    } catch (error) {
      this.showAlert(error.message || gettext('The message could not be sent.'));
    } finally {
      submit.disabled = false;
      this.composer.focus();
    }
  }
}
