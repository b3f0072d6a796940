// Starting direct conversations: from a person's name (a small card with "Send a direct
// message") or from the "New message" picker (one to nineteen other people).

import { apiFetch } from './api.js';
import { el, hiddenText } from './dom.js';
import { gettext, interpolate } from './i18n.js';
import { personName } from './messages.js';

const MAX_OTHERS = 19;
const SEARCH_DELAY_MS = 150;

export class DirectStarter {
  constructor({ rooms, userId, showAlert }) {
    this.rooms = rooms;
    this.userId = userId;
    this.showAlert = showAlert;
    this.picked = new Map(); // id -> person
    this.searchToken = 0;
    this.searchTimer = null;
    const byId = (id) => document.getElementById(id);
    this.personDialog = byId('person-dialog');
    this.person = null;
    byId('person-close').addEventListener('click', () => this.personDialog.close());
    byId('person-message').addEventListener('click', () => {
      const person = this.person;
      this.personDialog.close();
      if (person) this.start([person.id]);
    });
    this.dialog = byId('direct-dialog');
    this.form = byId('direct-form');
    this.search = byId('direct-search');
    this.results = byId('direct-results');
    this.pickedList = byId('direct-picked');
    this.error = byId('direct-error');
    const opener = byId('new-direct-button');
    opener.addEventListener('click', () => this.openPicker());
    byId('direct-cancel').addEventListener('click', () => this.dialog.close());
    this.dialog.addEventListener('close', () => {
      if (!this.started) opener.focus();
    });
    this.search.addEventListener('input', () => {
      clearTimeout(this.searchTimer);
      this.searchTimer = setTimeout(() => this.find(), SEARCH_DELAY_MS);
    });
    this.search.addEventListener('keydown', (event) => {
      if (event.key === 'Enter') {
        event.preventDefault();
        this.results.querySelector('button')?.click();
      }
    });
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      if (this.picked.size === 0) {
        this.fail(gettext('Choose at least one person.'));
        return;
      }
      this.start([...this.picked.keys()], { fromPicker: true });
    });
  }

  /** Show a person's card (opened from their name on a message). */
  openPerson(person) {
    this.person = person;
    document.getElementById('person-name').textContent = personName(person);
    document.getElementById('person-username').textContent = `@${person.username}`;
    this.personDialog.showModal();
    document.getElementById('person-message').focus();
  }

  openPicker() {
    this.started = false;
    this.picked.clear();
    this.search.value = '';
    this.results.replaceChildren();
    this.renderPicked();
    this.error.hidden = true;
    this.search.removeAttribute('aria-invalid');
    this.dialog.showModal();
    this.search.focus();
    this.find();
  }

  fail(text) {
    this.error.textContent = text;
    this.error.hidden = false;
    this.search.setAttribute('aria-invalid', 'true');
    this.search.setAttribute('aria-describedby', 'direct-error direct-search-hint');
    this.search.focus();
  }

  async find() {
    const token = ++this.searchToken;
    let people = [];
    try {
      people = await apiFetch(`/api/people/?q=${encodeURIComponent(this.search.value.trim())}`);
    } catch {
      people = [];
    }
    if (token !== this.searchToken) return;
    const choices = people.filter((person) => person.id !== this.userId && !this.picked.has(person.id));
    this.results.replaceChildren(
      ...choices.map((person) => {
        const add = el(
          'button',
          { type: 'button', class: 'person-choice' },
          el('span', {}, personName(person)),
          ' ',
          el('span', { class: 'person-username' }, `@${person.username}`),
          hiddenText(`, ${gettext('add')}`),
        );
        add.addEventListener('click', () => {
          if (this.picked.size >= MAX_OTHERS) {
            this.fail(interpolate(gettext('A conversation can have at most %s other people.'), [MAX_OTHERS]));
            return;
          }
          this.picked.set(person.id, person);
          this.renderPicked();
          this.search.value = '';
          this.search.focus();
          this.find();
        });
        return el('li', {}, add);
      }),
    );
  }

  renderPicked() {
    this.pickedList.replaceChildren(
      ...[...this.picked.values()].map((person) => {
        const remove = el(
          'button',
          { type: 'button', class: 'chip' },
          personName(person),
          el('span', { 'aria-hidden': 'true' }, ' ×'),
          hiddenText(`, ${gettext('remove')}`),
        );
        remove.addEventListener('click', () => {
          this.picked.delete(person.id);
          this.renderPicked();
          this.search.focus();
          this.find();
        });
        return el('li', {}, remove);
      }),
    );
    this.pickedList.hidden = this.picked.size === 0;
    document.getElementById('direct-picked-heading').hidden = this.picked.size === 0;
  }

  /** Open (or find) the conversation with these people and go there. */
  async start(userIds, { fromPicker = false } = {}) {
    try {
      const row = await apiFetch('/api/direct/', { method: 'POST', body: { user_ids: userIds } });
      this.rooms.putDirect(row);
      this.started = true;
      if (fromPicker) this.dialog.close();
      window.location.hash = `#room-${row.id}`;
    } catch (error) {
      if (fromPicker) this.fail(error.message);
      else this.showAlert(error.message);
    }
  }
}
