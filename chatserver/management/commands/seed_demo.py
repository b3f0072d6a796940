"""Load the demo organisation once: a handful of staff, roles, rooms with some history."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction

from presence.models import Profile
from rooms import actions
from rooms.models import Room

DEMO_PASSWORD = "communis-demo"  # noqa: S105 - printed for the demo on purpose

# username, first, last, department, title, groups
DEMO_PEOPLE = [
    ("anna", "Anna", "Lind", "Social services", "Social worker", []),
    ("bertil", "Bertil", "Ek", "Social services", "Case officer", []),
    ("cecilia", "Cecilia", "Holm", "Education", "Teacher", []),
    ("david", "David", "Berg", "Education", "IT coordinator", ["moderators"]),
    ("eva", "Eva", "Sjöberg", "Social services", "Unit manager", ["managers"]),
    ("fredrik", "Fredrik", "Nyström", "Communications", "Communicator", ["communicators"]),
    ("greta", "Greta", "Wallin", "Emergency management", "Crisis coordinator", ["crisis_team"]),
]

DEMO_ROOMS = [
    (
        "Allmänt / General",
        "Everything for all staff",
        "public",
        "anna",
        ["bertil", "cecilia", "david", "eva", "fredrik", "greta"],
    ),
    ("Socialtjänsten", "Social services unit chat", "public", "eva", ["anna", "bertil"]),
    ("Skolan IT", "IT help for schools", "public", "david", ["cecilia"]),
    ("Ledningsgruppen", "Managers only (private)", "private", "eva", ["fredrik", "greta"]),
]

DEMO_HISTORY = [
    ("Allmänt / General", "anna", "Välkommen till **Communis**! Welcome, everyone 👋"),
    ("Allmänt / General", "bertil", "Fika i personalrummet kl 15 idag."),
    (
        "Allmänt / General",
        "fredrik",
        "Intranet news moves here next week. Questions? Ask in this room.",
    ),
    (
        "Socialtjänsten",
        "eva",
        "Reminder: case reviews on Thursday.\n- bring your lists\n- 30 min each",
    ),
    ("Skolan IT", "cecilia", "The projector in room B12 won't connect. Any ideas?"),
    ("Skolan IT", "david", "Try `Win + P` and choose *Duplicate*. I'll come by after lunch."),
    ("Ledningsgruppen", "eva", "Budget draft is in the shared folder."),
]


class Command(BaseCommand):
    help = "Create the demo staff, roles and rooms (once; later runs change nothing)."

    def handle(self, *args: Any, **options: Any) -> None:
        User = get_user_model()
        if User.objects.filter(username="anna").exists():
            self.stdout.write("Demo data already present.")
            return
        with transaction.atomic():
            people = {}
            for username, first, last, department, title, groups in DEMO_PEOPLE:
                user = User.objects.create_user(
                    username=username,
                    password=DEMO_PASSWORD,
                    first_name=first,
                    last_name=last,
                    email=f"{username}@example.org",
                )
                Profile.objects.create(user=user, department=department, title=title)
                for group_name in groups:
                    user.groups.add(Group.objects.get_or_create(name=group_name)[0])
                people[username] = user
            rooms: dict[str, Room] = {}
            for name, topic, visibility, owner, members in DEMO_ROOMS:
                room = actions.do_create_room(
                    people[owner], name=name, topic=topic, visibility=visibility
                )
                for member in members:
                    actions.do_add_member(people[owner], room_id=room.pk, user=people[member])
                rooms[name] = room
            sent = [
                actions.do_send_message(
                    people[author],
                    room_id=rooms[room_name].pk,
                    body=body,
                    client_msg_id=f"demo-{index}",
                ).message
                for index, (room_name, author, body) in enumerate(DEMO_HISTORY)
            ]
            self._seed_conversations(people, sent)
        self.stdout.write(self.style.SUCCESS("Demo data created."))

    def _seed_conversations(self, people: dict[str, Any], sent: list[Any]) -> None:
        """A thread, a reaction, a mention and a direct conversation, so every feature shows."""
        welcome, projector = sent[0], sent[4]
        actions.do_toggle_reaction(people["bertil"], message_id=welcome.pk, emoji="👋")
        actions.do_send_message(
            people["david"],
            room_id=projector.room_id,
            body="@cecilia is it the HDMI or the wireless adapter?",
            client_msg_id="demo-thread-1",
            thread=projector.pk,
        )
        direct, _created = actions.do_open_direct(people["anna"], user_ids=[people["bertil"].pk])
        actions.do_send_message(
            people["bertil"],
            room_id=direct.pk,
            body="Hej Anna! Har du tid för en snabb fråga om ärendet?",
            client_msg_id="demo-direct-1",
        )
