// A room's settings (rename, topic, archive: owners and admins; roles: owners; invite and
// leave: everyone in it) and its pinned messages.

import { apiFetch } from './api.js';
import { el, hiddenText } from './dom.js';
import { gettext, interpolate } from './i18n.js';
import { personName, timeElement } from './messages.js';

const ROLE_TEXT = {
  owner: gettext('Owner'),
  admin: gettext('Admin'),
  member: gettext('Member'),
};

export class RoomSettings {
  constructor({ socket, rooms, userId, confirm, currentRoom, showAlert, afterLeave }) {
    this.rooms = rooms;
    this.userId = userId;
    this.confirm = confirm;
    this.currentRoom = currentRoom;
    this.showAlert = showAlert;
    this.afterLeave = afterLeave;
    this.searchToken = 0;
    const byId = (id) => document.getElementById(id);
    this.dialog = byId('settings-dialog');
    this.error = byId('settings-error');
    this.form = byId('settings-form');
    this.members = byId('member-list');
    this.membersStatus = byId('members-status');
    this.inviteSearch = byId('invite-search');
    this.inviteResults = byId('invite-results');
    this.inviteStatus = byId('invite-status');
    this.archiveButton = byId('archive-button');
    this.opener = byId('room-settings-button');
    this.opener.addEventListener('click', () => this.open());
    byId('settings-close').addEventListener('click', () => this.dialog.close());
    this.dialog.addEventListener('close', () => {
      if (this.opener.isConnected && !this.opener.hidden) this.opener.focus();
    });
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.save();
    });
    this.inviteSearch.addEventListener('input', () => this.findPeople());
    byId('invite-form').addEventListener('submit', (event) => event.preventDefault());
    this.archiveButton.addEventListener('click', () => this.toggleArchive());
    byId('leave-button').addEventListener('click', () => this.leave());
    this.pinsDialog = byId('pins-dialog');
    this.pinsOpener = byId('pins-button');
    this.pinsOpener.addEventListener('click', () => this.openPins());
    byId('pins-close').addEventListener('click', () => this.pinsDialog.close());
    this.pinsDialog.addEventListener('close', () => this.pinsOpener.focus());
    // Someone else adds, removes or promotes a member while the dialog is open: follow it.
    for (const type of ['member.joined', 'member.left', 'member.removed', 'member.role_changed']) {
      socket?.on(type, (frame) => {
        if (this.dialog.open && frame.room === this.room?.id) this.loadMembers();
      });
    }
  }

  get room() {
    return this.currentRoom();
  }

  get isManager() {
    return ['owner', 'admin'].includes(this.room?.role);
  }

  setError(text) {
    this.error.textContent = text ?? '';
    this.error.hidden = !text;
  }

  async open() {
    const room = this.room;
    if (!room) return;
    this.setError('');
    this.form.elements.name.value = room.name;
    this.form.elements.topic.value = room.topic ?? '';
    this.form.hidden = !this.isManager;
    this.archiveButton.hidden = !this.isManager;
    this.archiveButton.textContent = room.archived ? gettext('Unarchive room') : gettext('Archive room');
    document.getElementById('invite-form').hidden = room.archived;
    this.inviteSearch.value = '';
    this.inviteResults.replaceChildren();
    this.inviteStatus.textContent = '';
    this.membersStatus.textContent = '';
    this.members.replaceChildren();
    this.dialog.showModal();
    (this.isManager ? this.form.elements.name : this.inviteSearch).focus();
    await this.loadMembers();
  }

  async loadMembers() {
    const room = this.room;
    let rows = [];
    try {
      rows = await apiFetch(`/api/rooms/${room.id}/members/`);
    } catch (error) {
      this.setError(error.message);
      return;
    }
    const owner = room.role === 'owner';
    // Redrawing must not throw keyboard focus out of the list: remember where it was.
    const focused = this.members.contains(document.activeElement) ? document.activeElement : null;
    const focusedUser = focused?.closest('li')?.dataset.userId;
    const focusedControl = focused?.tagName.toLowerCase();
    this.members.replaceChildren(
      ...rows.map((row) => {
        const name = personName(row.user);
        const parts = [el('span', { class: 'member-name' }, name)];
        if (owner && row.user.id !== this.userId) {
          const select = el('select', { 'aria-label': interpolate(gettext('Role of %s'), [name]) });
          for (const [value, text] of Object.entries(ROLE_TEXT)) {
            select.append(el('option', { value, selected: value === row.role }, text));
          }
          select.addEventListener('change', () => this.setRole(row.user, select.value));
          parts.push(select);
        } else {
          parts.push(el('span', { class: 'member-role' }, ROLE_TEXT[row.role] ?? row.role));
        }
        if (this.isManager && row.user.id !== this.userId) {
          const remove = el('button', { type: 'button', class: 'button button-small button-quiet' }, gettext('Remove'), hiddenText(` ${name}`));
          remove.addEventListener('click', () => this.remove(row.user));
          parts.push(remove);
        }
        return el('li', { class: 'member', dataset: { userId: String(row.user.id) } }, ...parts);
      }),
    );
    if (focused) {
      // The same control of the same person, or the search field if they are gone.
      const again = this.members.querySelector(`li[data-user-id="${focusedUser}"] ${focusedControl}`);
      (again ?? this.inviteSearch).focus();
    }
  }

  async save() {
    const body = { name: this.form.elements.name.value.trim(), topic: this.form.elements.topic.value.trim() };
    if (!body.name) {
      this.setError(gettext('Give the room a name.'));
      this.form.elements.name.focus();
      return;
    }
    try {
      const row = await apiFetch(`/api/rooms/${this.room.id}/`, { method: 'PATCH', body });
      this.rooms.put(row);
      this.rooms.render();
      this.dialog.close();
    } catch (error) {
      this.setError(error.message);
    }
  }

  async toggleArchive() {
    const room = this.room;
    const archive = !room.archived;
    if (archive) {
      const ok = await this.confirm(gettext('Archive this room? It becomes read-only and leaves the room list.'), gettext('Archive room'));
      if (!ok) return;
    }
    try {
      const row = await apiFetch(`/api/rooms/${room.id}/`, { method: 'PATCH', body: { archived: archive } });
      this.rooms.put(row);
      this.rooms.render();
      this.dialog.close();
    } catch (error) {
      this.setError(error.message);
    }
  }

  async setRole(user, role) {
    this.membersStatus.textContent = '';
    try {
      await apiFetch(`/api/rooms/${this.room.id}/members/${user.id}/role/`, { method: 'POST', body: { role } });
      this.membersStatus.textContent = interpolate(gettext('%(name)s is now: %(role)s.'), { name: personName(user), role: ROLE_TEXT[role] ?? role }, true);
    } catch (error) {
      this.setError(error.message);
      await this.loadMembers();
    }
  }

  async remove(user) {
    const ok = await this.confirm(interpolate(gettext('Remove %s from this room?'), [personName(user)]), gettext('Remove'));
    if (!ok) return;
    try {
      await apiFetch(`/api/rooms/${this.room.id}/members/${user.id}/`, { method: 'DELETE' });
      await this.loadMembers();
      this.inviteSearch.focus();
    } catch (error) {
      this.setError(error.message);
    }
  }

  async findPeople() {
    const token = ++this.searchToken;
    const query = this.inviteSearch.value.trim();
    if (!query) {
      this.inviteResults.replaceChildren();
      return;
    }
    let people = [];
    try {
      people = await apiFetch(`/api/people/?q=${encodeURIComponent(query)}`);
    } catch {
      people = [];
    }
    if (token !== this.searchToken) return;
    this.inviteResults.replaceChildren(
      ...people
        .filter((person) => person.id !== this.userId)
        .map((person) => {
          const name = personName(person);
          const invite = el('button', { type: 'button', class: 'person-choice' }, interpolate(gettext('Invite %s'), [name]));
          invite.addEventListener('click', () => this.invite(person));
          return el('li', {}, invite);
        }),
    );
  }

  async invite(person) {
    try {
      await apiFetch(`/api/rooms/${this.room.id}/invitations/`, { method: 'POST', body: { user_id: person.id } });
      this.inviteStatus.textContent = interpolate(gettext('%s has been invited.'), [personName(person)]);
      this.inviteSearch.value = '';
      this.inviteResults.replaceChildren();
      this.inviteSearch.focus();
    } catch (error) {
      this.inviteStatus.textContent = error.message;
    }
  }

  async leave() {
    const room = this.room;
    const ok = await this.confirm(interpolate(gettext('Leave %s?'), [room.name]), gettext('Leave room'));
    if (!ok) return;
    try {
      await apiFetch(`/api/rooms/${room.id}/leave/`, { method: 'POST' });
      this.dialog.close();
      this.afterLeave(room.id);
    } catch (error) {
      this.setError(error.message);
    }
  }

  async openPins() {
    const room = this.room;
    if (!room) return;
    const list = document.getElementById('pin-list');
    const empty = document.getElementById('pins-empty');
    list.replaceChildren();
    empty.hidden = true;
    this.pinsDialog.showModal();
    document.getElementById('pins-close').focus();
    try {
      const pins = await apiFetch(`/api/rooms/${room.id}/pins/`);
      list.replaceChildren(
        ...pins.map((message) => {
          const body = el('div', { class: 'message-body' });
          body.innerHTML = message.html; // sanitised by the server at write time
          return el(
            'li',
            { class: 'pin' },
            el('p', { class: 'pin-meta' }, el('strong', {}, personName(message.author)), ' ', timeElement(new Date(message.created_at), 'mention-time')),
            body,
          );
        }),
      );
      empty.hidden = pins.length > 0;
    } catch (error) {
      this.showAlert(error.message);
    }
  }
}
