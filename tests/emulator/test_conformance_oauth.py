"""Intuit's OAuth server, as the emulator plays it, over real HTTP (qbo-facts.md "OAuth 2.0")."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from qbsync.emulator import Emulator

CLIENT_ID = "qbsync-demo-client"
SECRET = "qbsync-demo-secret"
REDIRECT = "http://localhost:8765/callback"
ACCOUNTING = "com.intuit.quickbooks.accounting"
TIMEOUT = 5


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(limits=False) as emulator:
        yield emulator


def authorize(emu: Emulator, **overrides: str | None) -> requests.Response:
    params: dict[str, str | None] = {
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": f"{ACCOUNTING} com.intuit.quickbooks.payment",
        "state": "st-123",
    }
    params.update(overrides)
    sent = {key: value for key, value in params.items() if value is not None}
    return requests.get(
        emu.base_url + "/connect/oauth2", params=sent, allow_redirects=False, timeout=TIMEOUT
    )


def redirect_query(response: requests.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith(REDIRECT + "?")
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


def get_code(emu: Emulator, redirect_uri: str = REDIRECT) -> str:
    return redirect_query(authorize(emu, redirect_uri=redirect_uri))["code"]


def basic(client_id: str = CLIENT_ID, secret: str = SECRET) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def token_request(
    emu: Emulator, form: dict[str, str], headers: dict[str, str] | None = None
) -> requests.Response:
    return requests.post(
        emu.base_url + "/oauth2/v1/tokens/bearer",
        data=form,
        headers={"Accept": "application/json", **(basic() if headers is None else headers)},
        timeout=TIMEOUT,
    )


def exchange(emu: Emulator, code: str, redirect_uri: str = REDIRECT) -> requests.Response:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    return token_request(emu, form)


def refresh(emu: Emulator, refresh_token: str) -> requests.Response:
    return token_request(emu, {"grant_type": "refresh_token", "refresh_token": refresh_token})


def api_status(emu: Emulator, access_token: str) -> int:
    url = f"{emu.base_url}/v3/company/{emu.realm_id}/companyinfo/{emu.realm_id}"
    headers = {"Authorization": f"Bearer {access_token}", "Accept": "application/json"}
    return requests.get(
        url, headers=headers, params={"minorversion": "75"}, timeout=TIMEOUT
    ).status_code


# -- authorize -------------------------------------------------------------------------------


def test_authorize_consents_and_redirects_with_code_state_and_realm(emu: Emulator) -> None:
    query = redirect_query(authorize(emu))
    assert query["state"] == "st-123"
    assert query["realmId"] == emu.realm_id
    assert len(query["code"]) >= 32
    assert set(query) == {"code", "state", "realmId"}


def test_authorize_unknown_client_is_an_error_page_without_redirect(emu: Emulator) -> None:
    response = authorize(emu, client_id="nobody")
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "text/html" in response.headers["Content-Type"]


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "http://localhost:8765/callback/",  # a trailing slash is another URI
        "http://localhost:8766/callback",
        "https://evil.example/callback",
        "",
    ],
)
def test_authorize_never_redirects_to_an_unregistered_uri(emu: Emulator, redirect_uri: str) -> None:
    response = authorize(emu, redirect_uri=redirect_uri)
    assert response.status_code == 400
    assert "Location" not in response.headers


def test_authorize_wrong_response_type_redirects_with_error(emu: Emulator) -> None:
    query = redirect_query(authorize(emu, response_type="token"))
    assert query == {"error": "unsupported_response_type", "state": "st-123"}


@pytest.mark.parametrize(
    "scope", ["com.intuit.quickbooks.everything", f"{ACCOUNTING} admin", "", None]
)
def test_authorize_unknown_or_missing_scope_is_invalid_scope(
    emu: Emulator, scope: str | None
) -> None:
    query = redirect_query(authorize(emu, scope=scope))
    assert query["error"] == "invalid_scope"
    assert "code" not in query


def test_authorize_requires_state(emu: Emulator) -> None:
    query = redirect_query(authorize(emu, state=None))
    assert query["error"] == "invalid_request"
    assert "code" not in query


def test_authorize_openid_only_carries_no_realm(emu: Emulator) -> None:
    query = redirect_query(authorize(emu, scope="openid email"))
    assert "code" in query and "realmId" not in query


def test_deny_next_authorization_denies_once(emu: Emulator) -> None:
    emu.deny_next_authorization()
    assert redirect_query(authorize(emu)) == {"error": "access_denied", "state": "st-123"}
    assert "code" in redirect_query(authorize(emu))


def test_a_client_registered_with_deny_is_always_denied(emu: Emulator) -> None:
    emu.add_client("denied-app", "denied-secret-1", [REDIRECT], deny=True)
    for _ in range(2):
        query = redirect_query(authorize(emu, client_id="denied-app"))
        assert query["error"] == "access_denied"


# -- token endpoint: authorization_code --------------------------------------------------------


def test_code_exchange_with_basic_auth(emu: Emulator) -> None:
    response = exchange(emu, get_code(emu))
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert set(body) == {
        "token_type",
        "access_token",
        "refresh_token",
        "expires_in",
        "x_refresh_token_expires_in",
    }
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    assert body["x_refresh_token_expires_in"] == 8726400
    assert body["access_token"] != body["refresh_token"]
    assert api_status(emu, body["access_token"]) == 200
    assert emu.token_state(body["refresh_token"]) == "active"


def test_code_exchange_with_client_secret_post(emu: Emulator) -> None:
    form = {
        "grant_type": "authorization_code",
        "code": get_code(emu),
        "redirect_uri": REDIRECT,
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
    }
    response = token_request(emu, form, headers={})
    assert response.status_code == 200
    assert api_status(emu, response.json()["access_token"]) == 200


@pytest.mark.parametrize(
    "headers",
    [
        basic(secret="wrong-secret"),
        basic(client_id="unknown-client"),
        {"Authorization": "Basic not-base64!"},
        {},
    ],
)
def test_bad_client_authentication_is_401_invalid_client(
    emu: Emulator, headers: dict[str, str]
) -> None:
    code = get_code(emu)
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    response = token_request(emu, form, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    # The code was not spent by a request that failed client authentication.
    assert exchange(emu, code).status_code == 200


def test_reusing_a_code_fails_and_revokes_the_tokens_it_produced(emu: Emulator) -> None:
    code = get_code(emu)
    first = exchange(emu, code).json()
    assert api_status(emu, first["access_token"]) == 200
    again = exchange(emu, code)
    assert again.status_code == 400
    assert again.json() == {"error": "invalid_grant"}
    assert api_status(emu, first["access_token"]) == 401
    assert refresh(emu, first["refresh_token"]).json() == {"error": "invalid_grant"}
    state = emu.grant_state(first["access_token"])
    assert state is not None and state["revoked"] is True


def test_code_expires_after_code_ttl(emu: Emulator) -> None:
    code = get_code(emu)
    emu.clock.advance(301)
    response = exchange(emu, code)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_code_exchange_must_repeat_the_redirect_uri(emu: Emulator) -> None:
    code = get_code(emu)
    other = "http://127.0.0.1:8765/callback"  # registered, but not the one authorized
    mismatch = exchange(emu, code, redirect_uri=other)
    assert mismatch.status_code == 400
    assert mismatch.json()["error"] == "invalid_grant"
    missing = token_request(emu, {"grant_type": "authorization_code", "code": code})
    assert missing.status_code == 400
    assert missing.json()["error"] == "invalid_request"


def test_a_code_belongs_to_its_client(emu: Emulator) -> None:
    emu.add_client("other-app", "other-secret-1", [REDIRECT])
    code = get_code(emu)
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    response = token_request(emu, form, headers=basic("other-app", "other-secret-1"))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_token_endpoint_rejects_unknown_grant_type_and_non_form_bodies(emu: Emulator) -> None:
    assert (
        token_request(emu, {"grant_type": "password"}).json()["error"] == "unsupported_grant_type"
    )
    response = requests.post(
        emu.base_url + "/oauth2/v1/tokens/bearer",
        json={"grant_type": "refresh_token"},
        headers=basic(),
        timeout=TIMEOUT,
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


# -- refresh ---------------------------------------------------------------------------------


def test_refresh_rotates_and_the_previous_token_has_a_grace_period(emu: Emulator) -> None:
    first = exchange(emu, get_code(emu)).json()
    second = refresh(emu, first["refresh_token"]).json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert emu.token_state(first["refresh_token"]) == "grace"

    # Inside the grace period the old token still works and answers with the latest one.
    emu.clock.advance(3600)
    late = refresh(emu, first["refresh_token"])
    assert late.status_code == 200
    assert late.json()["refresh_token"] == second["refresh_token"]
    assert api_status(emu, late.json()["access_token"]) == 200

    emu.clock.advance(86400)
    stale = refresh(emu, first["refresh_token"])
    assert stale.status_code == 400
    assert stale.json() == {"error": "invalid_grant"}
    assert emu.token_state(first["refresh_token"]) == "expired"
    third = refresh(emu, second["refresh_token"])
    assert third.status_code == 200
    assert emu.grant_state(third.json()["refresh_token"])["rotations"] == 2  # type: ignore[index]


def test_access_token_expires_after_an_hour(emu: Emulator) -> None:
    tokens = exchange(emu, get_code(emu)).json()
    emu.clock.advance(3599)
    assert api_status(emu, tokens["access_token"]) == 200
    emu.clock.advance(2)
    assert api_status(emu, tokens["access_token"]) == 401
    fresh = refresh(emu, tokens["refresh_token"]).json()
    assert api_status(emu, fresh["access_token"]) == 200


def test_refresh_token_lifetime_rolls_and_then_ends(emu: Emulator) -> None:
    tokens = exchange(emu, get_code(emu)).json()
    emu.clock.advance(90 * 86400)
    rolled = refresh(emu, tokens["refresh_token"]).json()
    assert rolled["x_refresh_token_expires_in"] == 8726400  # a new token: a new 101 days
    emu.clock.advance(8726400 + 1)
    assert refresh(emu, rolled["refresh_token"]).json() == {"error": "invalid_grant"}


def test_hard_expiry_is_reported_only_when_asked(emu: Emulator) -> None:
    tokens = exchange(emu, get_code(emu)).json()
    assert "x_refresh_token_hard_expires_in" not in tokens
    emu.clock.advance(1000)
    header = {**basic(), "x-include-refresh-token-hard-expires-in": "true"}
    form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    body = token_request(emu, form, headers=header).json()
    five_years = 5 * 365 * 86400
    # Counted from the grant's start, not from this refresh.
    assert five_years - 1002 <= body["x_refresh_token_hard_expires_in"] <= five_years - 999


def test_a_refresh_token_belongs_to_its_client(emu: Emulator) -> None:
    emu.add_client("other-app", "other-secret-1", [REDIRECT])
    tokens = exchange(emu, get_code(emu)).json()
    form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    response = token_request(emu, form, headers=basic("other-app", "other-secret-1"))
    assert response.json() == {"error": "invalid_grant"}
    assert emu.token_state(tokens["refresh_token"]) == "active"


# -- revoke ----------------------------------------------------------------------------------


def revoke(emu: Emulator, token: str, headers: dict[str, str] | None = None) -> requests.Response:
    return requests.post(
        emu.base_url + "/v2/oauth2/tokens/revoke",
        json={"token": token},
        headers=basic() if headers is None else headers,
        timeout=TIMEOUT,
    )


@pytest.mark.parametrize("which", ["access_token", "refresh_token"])
def test_revoking_either_token_revokes_the_whole_grant(emu: Emulator, which: str) -> None:
    tokens = exchange(emu, get_code(emu)).json()
    response = revoke(emu, tokens[which])
    assert response.status_code == 200
    assert response.headers["Content-Length"] == "0"
    assert api_status(emu, tokens["access_token"]) == 401
    assert refresh(emu, tokens["refresh_token"]).json() == {"error": "invalid_grant"}
    assert emu.token_state(tokens["access_token"]) == "revoked"


def test_revoke_needs_client_authentication(emu: Emulator) -> None:
    tokens = exchange(emu, get_code(emu)).json()
    assert revoke(emu, tokens["refresh_token"], headers={}).status_code == 401
    assert revoke(emu, tokens["refresh_token"], headers=basic(secret="nope")).status_code == 401
    assert emu.token_state(tokens["refresh_token"]) == "active"


def test_revoking_an_unknown_token_is_ok(emu: Emulator) -> None:
    assert revoke(emu, "no-such-token").status_code == 200


# -- discovery and a real OAuth client ---------------------------------------------------------


def test_discovery_lists_this_emulators_endpoints(emu: Emulator) -> None:
    body = requests.get(emu.base_url + "/.well-known/openid_configuration", timeout=TIMEOUT).json()
    assert body["authorization_endpoint"] == emu.base_url + "/connect/oauth2"
    assert body["token_endpoint"] == emu.base_url + "/oauth2/v1/tokens/bearer"
    assert body["revocation_endpoint"] == emu.base_url + "/v2/oauth2/tokens/revoke"
    assert set(body["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
    }


def test_requests_oauthlib_completes_the_flow(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from requests.auth import HTTPBasicAuth
    from requests_oauthlib import OAuth2Session

    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # plain http to loopback, this test only
    session = OAuth2Session(CLIENT_ID, redirect_uri=REDIRECT, scope=[ACCOUNTING], state="s-1")
    url, state = session.authorization_url(emu.base_url + "/connect/oauth2")
    landed = requests.get(url, allow_redirects=False, timeout=TIMEOUT).headers["Location"]
    token = session.fetch_token(
        emu.base_url + "/oauth2/v1/tokens/bearer",
        authorization_response=landed,
        auth=HTTPBasicAuth(CLIENT_ID, SECRET),
        timeout=TIMEOUT,
    )
    assert state == "s-1"
    assert api_status(emu, token["access_token"]) == 200
    assert token["expires_in"] == 3600


def test_no_secret_reaches_the_request_log(emu: Emulator) -> None:
    tokens = exchange(emu, get_code(emu)).json()
    refresh(emu, tokens["refresh_token"])
    # A client that wrongly puts secrets in the query string: the log masks them.
    requests.post(
        emu.base_url + "/oauth2/v1/tokens/bearer",
        params={"client_secret": SECRET, "refresh_token": tokens["refresh_token"]},
        timeout=TIMEOUT,
    )
    logged = repr(emu.requests())
    for secret in (SECRET, tokens["access_token"], tokens["refresh_token"]):
        assert secret not in logged
    assert emu.request_counts()["POST /oauth2/v1/tokens/bearer"] == 3
    assert emu.requests()[-1]["params"] == {"client_secret": "***", "refresh_token": "***"}


@pytest.mark.parametrize("name", ["access_token_ttl", "refresh_grace", "code_ttl"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1.0])
def test_lifetimes_must_be_finite_and_not_negative(name: str, value: float) -> None:
    with pytest.raises(ValueError, match=name):
        Emulator(**{name: value})


@pytest.mark.parametrize(
    ("repeat", "page"),
    [("client_id", True), ("redirect_uri", True), ("scope", False), ("state", False)],
)
def test_authorize_refuses_repeated_parameters(emu: Emulator, repeat: str, page: bool) -> None:
    # RFC 6749 3.1: request parameters MUST NOT be included more than once.
    params = [
        ("client_id", CLIENT_ID),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("scope", ACCOUNTING),
        ("state", "st-123"),
    ]
    params.append(next(pair for pair in params if pair[0] == repeat))
    response = requests.get(
        emu.base_url + "/connect/oauth2", params=params, allow_redirects=False, timeout=TIMEOUT
    )
    if page:
        assert response.status_code == 400 and "Location" not in response.headers
    else:
        query = redirect_query(response)
        assert query["error"] == "invalid_request" and "code" not in query
