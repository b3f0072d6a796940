"""Authentication is not a one-time event: sign-out and deactivation close live sockets."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone

from tests.support.servers import DaphneServer
from tests.support.wsclient import WsClient

from .conftest import HttpClient, connect, db, wait_closed, with_session_password

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]
CLOSE_UNAUTHENTICATED = 4401
CLOSE_WITHIN = 5.0  # seconds


@pytest.fixture
def dora(transactional_db: Any, make_user: Callable[..., Any]) -> Any:
    """A person who signs in with a password, in the browser."""
    return with_session_password(make_user())


@pytest.fixture
def root(transactional_db: Any, make_user: Callable[..., Any]) -> Any:
    """An administrator who signs in to the Django admin."""
    return with_session_password(make_user(is_staff=True, is_superuser=True))


async def session_socket(server: DaphneServer, browser: HttpClient) -> WsClient:
    """Open a socket the way the browser does: session cookie and the page's own origin."""
    client = await WsClient.connect(server.ws_url, cookie=browser.session_cookie, origin=server.url)
    assert client.hello is not None and client.hello["type"] == "hello", client.hello
    answer = await client.request("resume", positions={})
    assert answer["type"] == "ok", answer
    return client


async def assert_all_closed(sockets: list[WsClient]) -> None:
    codes = await asyncio.gather(*(wait_closed(s, timeout=CLOSE_WITHIN) for s in sockets))
    assert codes == [CLOSE_UNAUTHENTICATED] * len(sockets)


async def assert_refused(server: DaphneServer, **credentials: str) -> None:
    """A new socket with these credentials is told to sign in and closed."""
    client = await WsClient.connect(server.ws_url, origin=server.url, **credentials)
    assert client.hello is not None and client.hello["type"] == "error", client.hello
    assert client.hello["error"]["code"] == "unauthenticated"
    assert await wait_closed(client) == CLOSE_UNAUTHENTICATED


async def test_signing_out_closes_every_socket_of_the_session(
    daphne_server: DaphneServer, dora: Any
) -> None:
    browser = HttpClient(daphne_server)
    await browser.sign_in(dora.username)
    cookie = browser.session_cookie
    sockets = [await session_socket(daphne_server, browser) for _ in range(2)]
    assert {s.hello["data"]["user"]["id"] for s in sockets} == {dora.pk}  # type: ignore[index]

    response = await browser.post("/logout/")
    assert response.status == 302, response.text[:500]
    await assert_all_closed(sockets)
    await assert_refused(daphne_server, cookie=cookie)


def admin_deactivation_form(user: Any) -> dict[str, str]:
    """The Django admin's change form for ``user``, with "active" unticked."""
    joined = timezone.localtime(user.date_joined)
    return {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "date_joined_0": joined.strftime("%Y-%m-%d"),
        "date_joined_1": joined.strftime("%H:%M:%S"),
        "last_login_0": "",
        "last_login_1": "",
        "_save": "Save",
    }


async def test_deactivation_in_the_admin_closes_the_persons_sockets(
    daphne_server: DaphneServer, root: Any, make_user: Callable[..., Any]
) -> None:
    """Runs in the server process, so it works on the in-memory layer too."""
    erin = await db(make_user)()
    sockets = [await connect(daphne_server, erin) for _ in range(2)]
    admin = HttpClient(daphne_server)
    await admin.sign_in(root.username)
    change_url = f"/admin/auth/user/{erin.pk}/change/"
    page = await admin.get(change_url)
    assert page.status == 200, page.status

    response = await admin.post(change_url, form=admin_deactivation_form(erin))
    assert response.status == 302, response.text[:2000]
    await assert_all_closed(sockets)
    await db(erin.refresh_from_db)()  # db(): closes its connection, unlike Django async ORM
    assert erin.is_active is False
    await assert_refused(daphne_server, token=erin.api_token)


@pytest.mark.redis
async def test_deactivation_in_another_process_closes_the_persons_sockets(
    daphne_factory: Callable[..., DaphneServer], make_user: Callable[..., Any]
) -> None:
    """A management command or worker deactivates: the signal reaches servers through Redis."""
    server_a, server_b = daphne_factory(), daphne_factory()
    erin = await db(make_user)()
    sockets = [await connect(server_a, erin), await connect(server_b, erin)]

    def deactivate() -> None:
        erin.is_active = False
        erin.save()

    await db(deactivate)()
    await assert_all_closed(sockets)
    await assert_refused(server_b, token=erin.api_token)
