"""The websocket handshake refuses foreign origins (cross-site socket hijacking)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus

from tests.support.servers import DaphneServer
from tests.support.wsclient import WsClient

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]


@pytest.fixture
def frank(transactional_db: Any, make_user: Callable[..., Any]) -> Any:
    return make_user()


async def test_a_foreign_origin_is_refused_at_the_handshake(
    daphne_server: DaphneServer, frank: Any
) -> None:
    with pytest.raises(InvalidStatus) as refused:
        await WsClient.connect(
            daphne_server.ws_url, token=frank.api_token, origin="http://evil.example"
        )
    assert refused.value.response.status_code == 403


@pytest.mark.parametrize("origin", ["own", None], ids=["own-origin", "no-origin"])
async def test_the_servers_own_origin_or_no_origin_with_a_token_is_accepted(
    daphne_server: DaphneServer, frank: Any, origin: str | None
) -> None:
    client = await WsClient.connect(
        daphne_server.ws_url,
        token=frank.api_token,
        origin=daphne_server.url if origin == "own" else None,
    )
    assert client.hello is not None and client.hello["type"] == "hello", client.hello
    assert client.hello["data"]["user"]["id"] == frank.pk
    assert (await client.request("ping"))["type"] == "ok"
    await client.close()
