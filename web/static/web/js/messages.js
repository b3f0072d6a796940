// One message as the page shows it (in the room log, the thread pane and the mentions view),
// its actions (react, reply in thread, edit, delete, pin) and the live changes to it
// (edited, deleted, reactions, pins, thread replies), applied to every copy on the page.

import { el, hiddenText } from './dom.js';
import { gettext, interpolate, ngettext } from './i18n.js';

const AVATAR_COLOURS = 8;
export const QUICK_REACTIONS = [
  ['👍', 'thumbs up'],
  ['❤️', 'heart'],
  ['😄', 'smile'],
  ['🎉', 'party'],
  ['👀', 'eyes'],
  ['✅', 'check mark'],
];
const REACTION_NAMES = {
  'thumbs up': gettext('thumbs up'),
  heart: gettext('heart'),
  smile: gettext('smile'),
  party: gettext('party'),
  eyes: gettext('eyes'),
  'check mark': gettext('check mark'),
};

export function initials(name) {
  const parts = name.trim().split(/\s+/).filter(Boolean);
  const letters = parts.length > 1 ? parts[0][0] + parts[parts.length - 1][0] : name.slice(0, 2);
  return letters.toUpperCase();
}

export function personName(person) {
  return person?.display_name || person?.username || '';
}

/** Join names as "A", "A and B", "A, B and C". */
export function joinNames(names) {
  if (names.length <= 1) return names.join('');
  return interpolate(gettext('%(first)s and %(last)s'), { first: names.slice(0, -1).join(', '), last: names[names.length - 1] }, true);
}

// The page's language, in the browser's own regional variant when it has one: an en-GB or
// en-SE browser with the English interface shows 24-hour times, an en-US one 12-hour times.
const lang = () => {
  const page = document.documentElement.lang || undefined;
  if (!page) return undefined;
  const base = page.split('-')[0].toLowerCase();
  return (navigator.languages || []).find((tag) => tag.split('-')[0].toLowerCase() === base) || page;
};
const timeFormat = new Intl.DateTimeFormat(lang(), { hour: '2-digit', minute: '2-digit' });
const fullFormat = new Intl.DateTimeFormat(lang(), { dateStyle: 'full', timeStyle: 'short' });

export function timeElement(date, className = 'message-time') {
  return el('time', { class: className, datetime: date.toISOString(), title: fullFormat.format(date) }, timeFormat.format(date));
}

/**
 * Builds message nodes and runs their actions.  `hooks` answers questions the page knows:
 * `userId`, `nameOf(id)`, `canModerate(roomId)`, `canPost(roomId)`, `openThread(message)`,
 * `openPerson(person)`, `confirm(text, label)`, `request(type, fields)`, `showAlert(text)`.
 */
export class MessageView {
  constructor(hooks) {
    this.hooks = hooks;
    this.messages = new Map(); // id -> latest payload seen
  }

  remember(message) {
    const known = this.messages.get(message.id);
    const merged = { ...known, ...message };
    this.messages.set(message.id, merged);
    return merged;
  }

  /** A message node.  `pending` is the sender's own copy before the server confirmed it. */
  node(message, { pending = false, inThread = false } = {}) {
    if (!pending) message = this.remember(message);
    const author = message.author ?? {};
    const name = personName(author);
    const created = new Date(message.created_at ?? Date.now());
    const node = el('div', {
      class: pending ? 'message pending' : 'message',
      id: pending ? null : `${inThread ? 'thread-' : ''}message-${message.id}`,
      dataset: {
        messageId: pending ? null : message.id,
        seq: pending ? null : message.seq,
        room: message.room,
        authorId: author.id,
        clientMsgId: message.client_msg_id,
        time: created.getTime(),
        inThread: inThread ? '1' : null,
      },
    });
    const mine = author.id === this.hooks.userId;
    const who = mine || !author.id
      ? el('span', { class: 'message-author' }, name)
      : el('button', { type: 'button', class: 'message-author message-author-button', dataset: { action: 'person' } }, name);
    node.append(
      el('span', { class: `avatar avatar-${(author.id ?? 0) % AVATAR_COLOURS}`, 'aria-hidden': 'true' }, initials(name || '?')),
      el('p', { class: 'message-meta' }, who, hiddenText(': ')),
      el('div', { class: 'message-body' }),
      timeElement(created),
      el('div', { class: 'message-extra' }),
      el('p', { class: 'message-state' }),
    );
    if (pending) {
      const body = node.querySelector('.message-body');
      body.classList.add('message-plain');
      body.textContent = message.body;
      node.querySelector('.message-state').textContent = gettext('Sending…');
    } else {
      this.fill(node, message);
    }
    return node;
  }

  /** (Re)draw everything about a confirmed message that can change after it was sent. */
  fill(node, message) {
    // A live change (someone reacts, an edit, a deletion) redraws the controls: keep the
    // keyboard focus on the same control, or on the message if that control is gone.
    const focused = node.contains(document.activeElement) ? document.activeElement : null;
    this.draw(node, message);
    if (focused && !focused.isConnected) {
      const { action, emoji } = focused.dataset;
      const same = [...node.querySelectorAll(`[data-action="${action}"]`)].find((c) => c.dataset.emoji === emoji);
      const target = same ?? node.querySelector('.message-actions [data-action="react-menu"]');
      if (target) target.focus();
      else {
        node.tabIndex = -1;
        node.focus();
      }
    }
  }

  draw(node, message) {
    node.dataset.messageId = message.id;
    node.dataset.seq = message.seq;
    node.classList.toggle('is-deleted', Boolean(message.deleted));
    node.classList.toggle('is-pinned', Boolean(message.pinned));
    const mentions = message.mentions ?? [];
    const forMe = !message.deleted && message.author?.id !== this.hooks.userId && (mentions.includes(this.hooks.userId) || mentions.includes('room'));
    node.classList.toggle('mentions-me', forMe);
    const body = node.querySelector('.message-body');
    body.classList.remove('message-plain');
    if (message.deleted) {
      body.classList.add('message-deleted');
      body.textContent = gettext('This message was deleted.');
    } else {
      // Rendered from Markdown and sanitised (bleach allowlist) by the server at write time.
      body.innerHTML = message.html;
    }
    const meta = node.querySelector('.message-meta');
    meta.querySelector('.message-edited')?.remove();
    meta.querySelector('.message-pinned')?.remove();
    if (message.edited_at && !message.deleted) meta.append(el('span', { class: 'message-edited' }, gettext('(edited)')));
    if (message.pinned) meta.append(el('span', { class: 'message-pinned' }, gettext('Pinned')));
    const extra = node.querySelector('.message-extra');
    const seen = extra.querySelector('.message-seen');
    const menu = message.deleted ? null : extra.querySelector('.reaction-menu');
    extra.replaceChildren();
    if (!message.deleted) extra.append(this.reactionBar(message));
    const inThread = node.dataset.inThread === '1';
    if (!inThread && !message.thread_root && message.reply_count > 0) extra.append(this.threadSummary(message));
    if (seen) extra.append(seen);
    node.querySelector('.message-actions')?.remove();
    const bar = message.deleted ? null : this.actions(message, { inThread });
    if (bar) node.append(bar);
    if (menu && bar?.querySelector('[data-action="react-menu"]')) {
      extra.append(menu);
      bar.querySelector('[data-action="react-menu"]').setAttribute('aria-expanded', 'true');
    }
  }

  reactionBar(message) {
    const list = el('ul', { class: 'reactions', 'aria-label': gettext('Reactions') });
    for (const reaction of message.reactions ?? []) {
      const mine = reaction.users.includes(this.hooks.userId);
      const names = reaction.users.map((id) => (id === this.hooks.userId ? gettext('you') : this.hooks.nameOf(id)));
      const label = interpolate(
        ngettext('%(emoji)s: %(count)s reaction, from %(names)s', '%(emoji)s: %(count)s reactions, from %(names)s', reaction.count),
        { emoji: reaction.emoji, count: reaction.count, names: joinNames(names) },
        true,
      );
      list.append(
        el(
          'li',
          {},
          el(
            'button',
            {
              type: 'button',
              class: mine ? 'reaction mine' : 'reaction',
              'aria-pressed': String(mine),
              'aria-label': label,
              title: joinNames(names),
              dataset: { action: 'react', emoji: reaction.emoji },
            },
            el('span', { 'aria-hidden': 'true' }, reaction.emoji),
            el('span', { class: 'reaction-count', 'aria-hidden': 'true' }, String(reaction.count)),
          ),
        ),
      );
    }
    list.hidden = list.children.length === 0;
    return list;
  }

  threadSummary(message) {
    const count = message.reply_count;
    const text = interpolate(ngettext('%(count)s reply', '%(count)s replies', count), { count }, true);
    const parts = [el('span', { class: 'thread-count-text' }, text)];
    if (message.last_reply_at) {
      const last = new Date(message.last_reply_at);
      parts.push(
        el('span', { class: 'thread-last' }, interpolate(gettext('last reply %s'), [timeFormat.format(last)])),
      );
    }
    return el('button', { type: 'button', class: 'thread-summary', dataset: { action: 'thread' } }, ...parts.flatMap((p, i) => (i ? [', ', p] : [p])));
  }

  actions(message, { inThread }) {
    const mine = message.author?.id === this.hooks.userId;
    const canPost = this.hooks.canPost(message.room);
    const moderator = this.hooks.canModerate(message.room);
    const button = (action, text, extra = {}) =>
      el('button', { type: 'button', class: 'action', dataset: { action }, ...extra }, text);
    const bar = el('div', { class: 'message-actions', role: 'group', 'aria-label': gettext('Message actions') });
    if (canPost) bar.append(button('react-menu', gettext('React'), { 'aria-expanded': 'false' }));
    if (canPost && !inThread && !message.thread_root) bar.append(button('thread', gettext('Reply in thread')));
    if (mine && canPost) bar.append(button('edit', gettext('Edit')));
    if (mine || moderator) bar.append(button('delete', gettext('Delete')));
    if (moderator && canPost && !inThread) bar.append(button('pin', message.pinned ? gettext('Unpin') : gettext('Pin')));
    return bar.children.length ? bar : null;
  }

  /** Handle clicks on message controls inside `container` (event delegation). */
  attach(container) {
    container.addEventListener('click', (event) => {
      const control = event.target.closest('[data-action]');
      const node = control?.closest('.message[data-message-id]');
      if (!control || !node || !container.contains(node)) return;
      const message = this.messages.get(Number(node.dataset.messageId));
      if (!message) return;
      this.run(control.dataset.action, { control, node, message });
    });
  }

  run(action, { control, node, message }) {
    switch (action) {
      case 'person':
        this.hooks.openPerson(message.author);
        break;
      case 'react':
        this.react(message, control.dataset.emoji);
        break;
      case 'react-menu':
        this.toggleReactionMenu(node, control);
        break;
      case 'thread':
        this.hooks.openThread(message);
        break;
      case 'edit':
        this.startEdit(node, message);
        break;
      case 'delete':
        this.remove(message, control);
        break;
      case 'pin':
        this.hooks
          .request('message.pin', { message: message.id, pinned: !message.pinned })
          .catch((error) => this.hooks.showAlert(error.message));
        break;
      default:
    }
  }

  react(message, emoji) {
    this.hooks.request('reaction.toggle', { message: message.id, emoji }).catch((error) => this.hooks.showAlert(error.message));
  }

  toggleReactionMenu(node, opener) {
    const open = node.querySelector('.reaction-menu');
    if (open) {
      open.remove();
      opener.setAttribute('aria-expanded', 'false');
      return;
    }
    const close = (focus = true) => {
      menu.remove();
      // The actions may have been redrawn while the menu was open: use the current button.
      const current = node.querySelector('.message-actions [data-action="react-menu"]');
      current?.setAttribute('aria-expanded', 'false');
      if (focus) current?.focus();
    };
    const menu = el('div', { class: 'reaction-menu', role: 'group', 'aria-label': gettext('Choose a reaction') });
    for (const [emoji, name] of QUICK_REACTIONS) {
      const button = el(
        'button',
        { type: 'button', class: 'reaction-choice', 'aria-label': interpolate(gettext('React with %s'), [REACTION_NAMES[name]]), title: REACTION_NAMES[name] },
        emoji,
      );
      button.addEventListener('click', () => {
        const message = this.messages.get(Number(node.dataset.messageId));
        if (message) this.react(message, emoji);
        close();
      });
      menu.append(button);
    }
    menu.addEventListener('keydown', (event) => {
      if (event.key === 'Escape') {
        event.stopPropagation();
        close();
      }
    });
    node.querySelector('.message-extra').append(menu);
    opener.setAttribute('aria-expanded', 'true');
    menu.querySelector('button').focus();
  }

  startEdit(node, message) {
    if (node.querySelector('.edit-form')) return;
    const body = node.querySelector('.message-body');
    const field = el('textarea', { class: 'edit-field', rows: '2', 'aria-label': gettext('Edit message') });
    field.value = message.body;
    const save = el('button', { type: 'submit', class: 'button button-primary button-small' }, gettext('Save'));
    const cancel = el('button', { type: 'button', class: 'button button-quiet button-small' }, gettext('Cancel'));
    const form = el('form', { class: 'edit-form' }, field, el('div', { class: 'edit-actions' }, cancel, save));
    const finish = () => {
      form.remove();
      body.hidden = false;
      node.querySelector('.message-actions [data-action="edit"]')?.focus();
    };
    cancel.addEventListener('click', finish);
    field.addEventListener('keydown', (event) => {
      if (event.key === 'Escape') {
        event.stopPropagation();
        finish();
      } else if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const text = field.value;
      if (!text.trim()) return;
      save.disabled = true;
      this.hooks
        .request('message.edit', { message: message.id, body: text })
        .then(finish)
        .catch((error) => {
          save.disabled = false;
          this.hooks.showAlert(error.message);
        });
    });
    body.hidden = true;
    body.after(form);
    field.focus();
    field.setSelectionRange(field.value.length, field.value.length);
  }

  async remove(message, control) {
    const ok = await this.hooks.confirm(gettext('Delete this message? Everyone will see that a message was deleted.'), gettext('Delete'));
    if (!ok) {
      control.focus();
      return;
    }
    this.hooks.request('message.delete', { message: message.id }).catch((error) => this.hooks.showAlert(error.message));
  }

  // --- live changes -----------------------------------------------------------------------
  copies(id) {
    return document.querySelectorAll(`.message[data-message-id="${Number(id)}"]`);
  }

  /** A new version of a message arrived (edited, deleted, from REST): redraw every copy. */
  update(message) {
    const merged = this.remember(message);
    for (const node of this.copies(message.id)) this.fill(node, merged);
    return merged;
  }

  patch(id, changes) {
    const known = this.messages.get(Number(id));
    if (!known) return;
    this.update({ ...known, ...changes });
  }
}
