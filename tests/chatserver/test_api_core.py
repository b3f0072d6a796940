"""Core REST behaviour: authentication (token, session, CSRF), tokens, /api/me/, the API docs."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.middleware.csrf import get_token
from django.test import RequestFactory
from rest_framework.authtoken.models import Token
from rest_framework.response import Response
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_password_hashing(settings: Any) -> None:
    """Hash test passwords cheaply: the real hasher costs ~0.3 s per person created."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def assert_error(response: Response, status: int, code: str) -> None:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]


def csrf_pair() -> tuple[str, str]:
    """A CSRF cookie value and a matching token for the header, as a browser page would have."""
    request = RequestFactory().get("/")
    token = get_token(request)
    return request.META["CSRF_COOKIE"], token


# --- /api/me/ and authentication --------------------------------------------------------------
def test_me_with_a_token(make_user: Callable[..., Any]) -> None:
    person = make_user("anna", first_name="Anna", last_name="Lind")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {person.api_token}")
    response = client.get("/api/me/")
    assert response.status_code == 200
    assert response.json() == {"id": person.pk, "username": "anna", "display_name": "Anna Lind"}


def test_me_with_a_session(make_user: Callable[..., Any]) -> None:
    person = make_user()
    client = APIClient()
    client.force_login(person)
    assert client.get("/api/me/").json()["id"] == person.pk


def test_me_without_credentials_is_refused_in_the_error_shape() -> None:
    response = APIClient().get("/api/me/")
    assert response.status_code in (401, 403)
    assert_error(response, response.status_code, "unauthenticated")


def test_unsafe_session_calls_need_the_csrf_token(make_user: Callable[..., Any]) -> None:
    person = make_user()
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(person)

    refused = client.post("/api/rooms/", {"name": "Ops"}, format="json")
    assert_error(refused, 403, "forbidden")
    assert client.get("/api/rooms/").status_code == 200  # safe methods need no token

    cookie, token = csrf_pair()
    client.cookies[django_settings.CSRF_COOKIE_NAME] = cookie
    accepted = client.post("/api/rooms/", {"name": "Ops"}, format="json", HTTP_X_CSRFTOKEN=token)
    assert accepted.status_code == 201


def test_token_calls_need_no_csrf_token(make_user: Callable[..., Any]) -> None:
    person = make_user()
    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=f"Token {person.api_token}")
    assert client.post("/api/rooms/", {"name": "Bots"}, format="json").status_code == 201


# --- /api/auth/token/ -------------------------------------------------------------------------
def test_token_endpoint_gives_the_persons_token_for_the_right_password(
    make_user: Callable[..., Any],
) -> None:
    person = make_user("bertil")
    client = APIClient(enforce_csrf_checks=True)
    response = client.post(
        "/api/auth/token/", {"username": "bertil", "password": "pw-for-tests-1"}, format="json"
    )
    assert response.status_code == 200
    assert response.json() == {"token": person.api_token}

    authed = APIClient()
    authed.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    assert authed.get("/api/me/").json()["username"] == "bertil"


def test_token_endpoint_creates_a_token_when_there_is_none(make_user: Callable[..., Any]) -> None:
    person = make_user("cecilia")
    Token.objects.filter(user=person).delete()
    response = APIClient().post(
        "/api/auth/token/", {"username": "cecilia", "password": "pw-for-tests-1"}, format="json"
    )
    assert response.json() == {"token": Token.objects.get(user=person).key}


@pytest.mark.parametrize(
    ("username", "password"),
    [("david", "wrong"), ("nobody", "pw-for-tests-1"), ("inactive", "pw-for-tests-1")],
)
def test_token_endpoint_refuses_wrong_credentials_with_401(
    make_user: Callable[..., Any], username: str, password: str
) -> None:
    make_user("david")
    make_user("inactive", is_active=False)
    response = APIClient().post(
        "/api/auth/token/", {"username": username, "password": password}, format="json"
    )
    assert_error(response, 401, "unauthenticated")
    assert "token" not in response.json()


def test_token_endpoint_validates_its_input() -> None:
    assert_error(APIClient().post("/api/auth/token/", {}, format="json"), 400, "invalid")


# --- OpenAPI ----------------------------------------------------------------------------------
def test_openapi_schema_documents_the_rooms_api() -> None:
    response = APIClient().get("/api/schema/?format=json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    for path in (
        "/api/rooms/",
        "/api/rooms/{room_id}/",
        "/api/rooms/{room_id}/join/",
        "/api/rooms/{room_id}/leave/",
        "/api/rooms/{room_id}/members/",
        "/api/rooms/{room_id}/members/{user_id}/",
        "/api/rooms/{room_id}/messages/",
        "/api/rooms/{room_id}/read/",
        "/api/me/",
        "/api/auth/token/",
    ):
        assert path in paths, f"{path} missing from the OpenAPI schema"
    assert {"get", "post"} <= set(paths["/api/rooms/{room_id}/messages/"])
    assert "delete" in paths["/api/rooms/{room_id}/members/{user_id}/"]


def test_api_docs_page_is_served() -> None:
    response = APIClient().get("/api/docs/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert b"<title>Communis API</title>" in response.content
    # The split view keeps CSP strict: the page loads its setup script from this URL.
    script = APIClient().get("/api/docs/?script=")
    assert script.status_code == 200
    assert b"/api/schema/" in script.content


def test_an_unknown_api_url_answers_the_json_error_and_other_urls_a_page(
    make_user: Callable[..., Any],
) -> None:
    client = APIClient()
    client.force_authenticate(make_user())
    assert_error(client.get("/api/no-such-thing/"), 404, "not_found")
    assert_error(client.get(f"/api/rooms/{'9' * 5000}/messages/"), 404, "not_found")
    page = client.get("/no-such-page/")
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")


def test_an_unhandled_error_under_api_answers_the_json_error() -> None:
    from chatserver.views import server_error

    response = server_error(RequestFactory().get("/api/rooms/"))
    assert response.status_code == 500
    body = json.loads(response.content)
    assert body["error"]["code"] == "server_error" and body["error"]["message"]


def test_the_openapi_schema_gives_every_operation_the_error_shape() -> None:
    schema = APIClient().get("/api/schema/?format=json").json()
    assert schema["components"]["schemas"]["Error"]["required"] == ["error"]
    operations = [op for ops in schema["paths"].values() for op in ops.values()]
    assert len(operations) > 20
    for operation in operations:
        assert operation["responses"]["4XX"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Error"
        }


# --- REST rate meters -------------------------------------------------------------------------
def assert_rate_limited(response: Response) -> None:
    assert_error(response, 429, "rate_limited")
    assert response.json()["error"]["retry_after"] > 0
    assert int(response["Retry-After"]) >= 1


def test_writes_are_metered_per_person_and_reads_are_not(
    make_user: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from chatserver.throttling import WriteRateThrottle

    monkeypatch.setattr(WriteRateThrottle, "rate", "2/min", raising=False)
    anna, bertil = make_user(), make_user()
    client = APIClient()
    client.force_authenticate(anna)
    for name in ("One", "Two"):
        assert client.post("/api/rooms/", {"name": name}, format="json").status_code == 201
    assert_rate_limited(client.post("/api/rooms/", {"name": "Three"}, format="json"))
    assert client.get("/api/rooms/").status_code == 200  # reading is not metered
    other = APIClient()
    other.force_authenticate(bertil)
    assert other.post("/api/rooms/", {"name": "Four"}, format="json").status_code == 201
    from rooms.models import Room

    assert sorted(Room.objects.values_list("name", flat=True)) == ["Four", "One", "Two"]


def test_token_requests_are_metered_per_address(
    make_user: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from rest_framework.throttling import ScopedRateThrottle

    monkeypatch.setitem(ScopedRateThrottle.THROTTLE_RATES, "auth", "2/min")
    make_user("anna")
    client = APIClient()
    wrong = {"username": "anna", "password": "guess"}
    for _attempt in range(2):
        assert_error(client.post("/api/auth/token/", wrong, format="json"), 401, "unauthenticated")
    # Past the meter even the right password waits: guessing cannot go on.
    right = {"username": "anna", "password": "pw-for-tests-1"}
    assert_rate_limited(client.post("/api/auth/token/", right, format="json"))


def test_rest_message_sends_are_metered_per_person(
    make_user: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from rest_framework.throttling import ScopedRateThrottle

    from rooms import actions

    monkeypatch.setitem(ScopedRateThrottle.THROTTLE_RATES, "send", "2/min")
    anna = make_user()
    room = actions.do_create_room(anna, name="Planning")
    client = APIClient()
    client.force_authenticate(anna)
    url = f"/api/rooms/{room.pk}/messages/"
    for n in range(2):
        body = {"body": f"hello {n}", "client_msg_id": f"m-{n}"}
        assert client.post(url, body, format="json").status_code == 201
    assert_rate_limited(client.post(url, {"body": "x", "client_msg_id": "m-9"}, format="json"))
    assert client.get(url).status_code == 200
    assert [m["body"] for m in client.get(url).json()["messages"]] == ["hello 0", "hello 1"]
