"""End-to-end helpers: real daphne processes, real websocket clients, a tiny real HTTP client.

Everything a test does to a server goes over the network, as a client would.  Set-up data is
written straight to the shared test database (committed: the server fixtures use
``transactional_db``).  In embedded mode the test process has no running hub, so events from
actions run *here* reach live sockets only when ``REDIS_URL`` is set; tests that need a live
change in embedded mode make it through the server (REST or websocket).
"""

from __future__ import annotations

import asyncio
import http.cookies
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.layers import channel_layers
from django.contrib.auth.hashers import make_password

from rooms import actions
from rooms.models import Room
from tests.support.servers import DaphneServer
from tests.support.wsclient import WsClient

# The server checks session passwords with Django's default hasher; the test process hashes
# the many throw-away token users with MD5 (PBKDF2 costs ~0.25 s a user on this machine).
SESSION_PASSWORD = "pw-for-tests-1"
# ORM calls from async tests.  Unlike Django's async ORM (``aget``, ``arefresh_from_db``), this
# closes the thread's connection afterwards: one left open makes PostgreSQL refuse to drop the
# test database at the end of the run ("being accessed by other users").
db = database_sync_to_async


@pytest.fixture(autouse=True)
def e2e_process_state(settings: Any) -> None:
    """Hash test users cheaply and give each test a fresh channel layer in this process."""
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    ]
    # A layer built on an earlier test's (closed) event loop cannot be used on this one.
    channel_layers.backends.clear()


def with_session_password(user: Any) -> Any:
    """Give ``user`` a password the server's default hasher can check (for /login/)."""
    user.password = make_password(SESSION_PASSWORD, hasher="pbkdf2_sha256")
    user.save(update_fields=["password"])
    return user


def make_room(owner: Any, members: Iterable[Any], *, visibility: str = "public") -> Room:
    """Create a room owned by ``owner`` with ``members``; return it with ``last_seq`` fresh."""
    room = actions.do_create_room(owner, name=f"room-{owner.pk}", visibility=visibility)
    for member in members:
        actions.do_add_member(owner, room_id=room.pk, user=member)
    room.refresh_from_db()
    return room


# --- websocket ------------------------------------------------------------------------------
async def connect(
    server: DaphneServer, user: Any, *, positions: dict[str, int] | None = None
) -> WsClient:
    """Open a token socket and send ``resume`` (room streams are held until then)."""
    client = await WsClient.connect(server.ws_url, token=user.api_token)
    assert client.hello is not None and client.hello["type"] == "hello", client.hello
    answer = await client.request("resume", positions=positions or {})
    assert answer["type"] == "ok", answer
    return client


def room_events(client: WsClient, room_id: int) -> list[dict[str, Any]]:
    """Envelope events of one room, in arrival order."""
    return [e for e in client.events if e.get("v") == 1 and e.get("room") == room_id]


def created(client: WsClient, room_id: int) -> list[dict[str, Any]]:
    """``message.created`` events of one room, in arrival order."""
    return [e for e in room_events(client, room_id) if e["type"] == "message.created"]


async def wait_for_messages(
    client: WsClient, room_id: int, count: int, *, timeout: float = 15
) -> list[dict[str, Any]]:
    """Read until ``count`` messages of the room have arrived; return them."""
    await client.events_until(lambda _events: len(created(client, room_id)) >= count, timeout)
    return created(client, room_id)


async def wait_for_event(
    client: WsClient, predicate: Callable[[dict[str, Any]], bool], *, timeout: float = 10
) -> dict[str, Any]:
    """Read until an event matching ``predicate`` has arrived; return it."""
    await client.events_until(lambda events: any(predicate(e) for e in events), timeout)
    return next(e for e in client.events if predicate(e))


async def listen(client: WsClient, seconds: float) -> list[dict[str, Any]]:
    """Keep every frame arriving within ``seconds``: the window that proves nothing more came."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    before = len(client.events)
    while (remaining := deadline - loop.time()) > 0:
        try:
            client.events.append(await client.recv(remaining))
        except TimeoutError:
            break
    return client.events[before:]


async def answer_to(client: WsClient, text: str, *, timeout: float = 10) -> dict[str, Any]:
    """Send a raw frame; return the next ``ok``/``error`` answer (events meanwhile are kept)."""
    await client.send_raw(text)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        frame = await client.recv(max(0.01, deadline - loop.time()))
        if frame.get("type") in ("ok", "error") and "v" not in frame:
            return frame
        client.events.append(frame)


async def wait_closed(client: WsClient, *, timeout: float = 5) -> int | None:
    """Wait for the server to close the socket; return the close code."""
    await asyncio.wait_for(client.ws.wait_closed(), timeout)
    return client.ws.close_code


def send_frame(room_id: int, body: str, client_msg_id: str) -> dict[str, Any]:
    return {"room": room_id, "body": body, "client_msg_id": client_msg_id}


# --- HTTP -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    text: str
    location: str | None

    def json(self) -> Any:
        return json.loads(self.text)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a 302 is an answer to look at, not somewhere to go


class HttpClient:
    """A real HTTP client for one server: token or cookie auth, redirects not followed."""

    def __init__(self, server: DaphneServer, *, token: str | None = None) -> None:
        self.base_url = server.url
        self.token = token
        self.cookies: dict[str, str] = {}
        self._opener = urllib.request.build_opener(_NoRedirects)

    def _send(
        self, method: str, path: str, *, body: Any = None, form: dict[str, str] | None = None
    ) -> HttpResponse:
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        elif form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if self.token:
            headers["Authorization"] = f"Token {self.token}"
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
            if "csrftoken" in self.cookies and method not in ("GET", "HEAD"):
                headers["X-CSRFToken"] = self.cookies["csrftoken"]
        request = urllib.request.Request(  # noqa: S310 - the test server's own URL
            self.base_url + path, data=data, method=method, headers=headers
        )
        try:
            with self._opener.open(request, timeout=20) as response:
                return self._read(response, response.status)
        except urllib.error.HTTPError as error:
            with error:
                return self._read(error, error.code)

    def _read(self, response: Any, status: int) -> HttpResponse:
        for header in response.headers.get_all("Set-Cookie") or []:
            jar = http.cookies.SimpleCookie()
            jar.load(header)
            for name, morsel in jar.items():
                if morsel.value:
                    self.cookies[name] = morsel.value
                else:
                    self.cookies.pop(name, None)  # deleted (e.g. by sign-out)
        text = response.read().decode()
        return HttpResponse(status=status, text=text, location=response.headers.get("Location"))

    async def get(self, path: str) -> HttpResponse:
        return await asyncio.to_thread(self._send, "GET", path)

    async def post(
        self, path: str, body: Any = None, *, form: dict[str, str] | None = None
    ) -> HttpResponse:
        return await asyncio.to_thread(self._send, "POST", path, body=body, form=form)

    async def delete(self, path: str) -> HttpResponse:
        return await asyncio.to_thread(self._send, "DELETE", path)

    async def sign_in(self, username: str, password: str = SESSION_PASSWORD) -> None:
        """Sign in through the real login form (CSRF token from the page and cookie)."""
        page = await self.get("/login/")
        assert page.status == 200, page.status
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        assert match, "the login page has no CSRF token"
        answer = await self.post(
            "/login/",
            form={
                "csrfmiddlewaretoken": match.group(1),
                "username": username,
                "password": password,
            },
        )
        assert answer.status == 302, (answer.status, answer.text[:500])
        assert "sessionid" in self.cookies

    @property
    def session_cookie(self) -> str:
        return f"sessionid={self.cookies['sessionid']}"
