"""oauth.py and loopback.py: URL building, redirect checks, token endpoint calls, the catcher."""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from qbsync.auth import oauth, probe, token_endpoint
from qbsync.auth.credentials import TokenSet
from qbsync.auth.loopback import LoopbackCatcher
from qbsync.config.endpoints import endpoints_for
from qbsync.errors import AuthError, ConfigError, OAuthFlowError, QboUnavailableError
from qbsync.hosts import free_loopback_port

NOW = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
SANDBOX = endpoints_for("sandbox")
EMU = endpoints_for("http://127.0.0.1:4999")
CLIENT_ID = "client-abc"
CLIENT_SECRET = "s3cret-client-value"


def _tokens(**kw: object) -> TokenSet:
    values: dict[str, object] = {
        "realm_id": "9130",
        "access_token": "access-old-123",
        "refresh_token": "refresh-old-123",
        "access_expires_at": NOW + timedelta(hours=1),
        "refresh_expires_at": NOW + timedelta(days=100),
        "refresh_hard_expires_at": NOW + timedelta(days=1000),
        "obtained_at": NOW,
    }
    values.update(kw)
    return TokenSet(**values)  # type: ignore[arg-type]


# -- authorization URL ---------------------------------------------------------------------


def test_authorization_url_carries_client_scopes_redirect_and_random_state() -> None:
    req = oauth.build_authorization_url(
        SANDBOX, CLIENT_ID, "http://localhost:8765/callback", probe.DEFAULT_SCOPES
    )
    parts = urlsplit(req.url)
    q = parse_qs(parts.query)
    assert (
        f"{parts.scheme}://{parts.netloc}{parts.path}"
        == "https://appcenter.intuit.com/connect/oauth2"
    )
    assert q["client_id"] == [CLIENT_ID]
    assert q["response_type"] == ["code"]
    assert q["redirect_uri"] == ["http://localhost:8765/callback"]
    assert q["scope"] == ["com.intuit.quickbooks.accounting com.intuit.quickbooks.payment"]
    assert q["state"] == [req.state]
    assert len(req.state) >= 24
    other = oauth.build_authorization_url(SANDBOX, CLIENT_ID, req.redirect_uri, ["x"])
    assert other.state != req.state


def test_plain_http_allowed_for_loopback_emulator_only_during_the_call() -> None:
    assert "OAUTHLIB_INSECURE_TRANSPORT" not in os.environ
    req = oauth.build_authorization_url(EMU, CLIENT_ID, "http://localhost:1/cb", ["a"])
    assert req.url.startswith("http://127.0.0.1:4999/connect/oauth2?")
    assert "OAUTHLIB_INSECURE_TRANSPORT" not in os.environ


def test_insecure_transport_restores_a_previous_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "0")
    with oauth.allow_insecure_transport(EMU):
        assert os.environ["OAUTHLIB_INSECURE_TRANSPORT"] == "1"
    assert os.environ["OAUTHLIB_INSECURE_TRANSPORT"] == "0"
    with oauth.allow_insecure_transport(SANDBOX):
        assert os.environ["OAUTHLIB_INSECURE_TRANSPORT"] == "0"


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("http://localhost:8765/callback", True),
        ("http://127.0.0.1:9/cb", True),
        ("http://[::1]:9/cb", True),
        ("https://localhost:8765/callback", False),
        ("https://example.com/callback", False),
        ("http://example.com/callback", False),
    ],
)
def test_is_loopback_redirect(uri: str, expected: bool) -> None:
    assert oauth.is_loopback_redirect(uri) is expected


# -- redirect checks -------------------------------------------------------------------------


def test_check_callback_accepts_matching_state() -> None:
    cb = oauth.check_callback({"code": "C0DE-xyz", "state": "st", "realmId": "9130"}, "st")
    assert (cb.code, cb.realm_id) == ("C0DE-xyz", "9130")
    assert "C0DE-xyz" not in repr(cb)


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"code": "c", "state": "evil", "realmId": "1"}, "state does not match"),
        ({"code": "c", "realmId": "1"}, "state does not match"),
        ({"error": "access_denied", "state": "st"}, "declined"),
        ({"error": "invalid_scope", "state": "st"}, "invalid_scope"),
        ({"error": "access_denied"}, "declined"),  # an error without state is still shown
        ({"error": "access_denied", "state": "another-login"}, "state does not match"),
        ({"state": "st", "realmId": "1"}, "no authorization code"),
        ({"code": "c", "state": "st"}, "no realmId"),
    ],
)
def test_check_callback_rejections(params: dict[str, str], needle: str) -> None:
    with pytest.raises(OAuthFlowError) as info:
        oauth.check_callback(params, "st")
    assert needle in info.value.message
    assert info.value.hint
    assert int(info.value.exit_code) == 3


def test_parse_pasted_redirect_full_url_and_bare_query() -> None:
    url = "https://developer.intuit.com/v2/OAuth2Playground/RedirectUrl?code=AB&state=st&realmId=42"
    assert oauth.parse_pasted_redirect(f"  {url}\n", "st").realm_id == "42"
    assert oauth.parse_pasted_redirect("?code=AB&state=st&realmId=43", "st").realm_id == "43"
    assert oauth.parse_pasted_redirect("code=AB&state=st&realmId=44", "st").code == "AB"
    with pytest.raises(OAuthFlowError, match="state"):
        oauth.parse_pasted_redirect(url.replace("state=st", "state=zz"), "st")


@pytest.mark.parametrize(
    "text", ["   ", "not a url", "AB11-the-code-only", "https://example.com/cb"]
)
def test_pasted_text_that_is_not_an_address_is_a_usage_error_not_csrf(text: str) -> None:
    with pytest.raises(oauth.PastedTextError) as caught:
        oauth.parse_pasted_redirect(text, "st")
    assert caught.value.exit_code == 2
    assert "not the whole address" in caught.value.message
    assert "state does not match" not in caught.value.message


# -- token endpoint --------------------------------------------------------------------------


def _basic(request: requests.PreparedRequest) -> str:
    header = request.headers["Authorization"]
    assert header.startswith("Basic ")
    return base64.b64decode(header[6:]).decode()


@responses.activate
def test_exchange_code_posts_once_with_basic_auth_and_hard_expiry_header() -> None:
    responses.post(
        SANDBOX.token_url,
        json={
            "access_token": "acc-new-0001",
            "refresh_token": "ref-new-0001",
            "expires_in": 3600,
            "x_refresh_token_expires_in": 8726400,
            "x_refresh_token_hard_expires_in": 157680000,
            "token_type": "bearer",
        },
    )
    cb = oauth.Callback(code="the-code-1", realm_id="9130")
    tokens = token_endpoint.exchange_code(
        SANDBOX, CLIENT_ID, CLIENT_SECRET, "http://localhost:8765/callback", cb, now=NOW
    )
    assert len(responses.calls) == 1
    req = responses.calls[0].request
    assert _basic(req) == f"{CLIENT_ID}:{CLIENT_SECRET}"
    assert req.headers["x-include-refresh-token-hard-expires-in"] == "true"
    form = parse_qs(str(req.body))
    assert form == {
        "grant_type": ["authorization_code"],
        "code": ["the-code-1"],
        "redirect_uri": ["http://localhost:8765/callback"],
    }
    assert req.req_kwargs["timeout"] == token_endpoint.HTTP_TIMEOUT  # type: ignore[attr-defined]
    assert tokens.realm_id == "9130"
    assert tokens.access_token == "acc-new-0001"
    assert tokens.refresh_token == "ref-new-0001"
    assert tokens.access_expires_at == NOW + timedelta(hours=1)
    assert tokens.refresh_expires_at == NOW + timedelta(seconds=8726400)
    assert tokens.refresh_hard_expires_at == NOW + timedelta(seconds=157680000)
    assert tokens.obtained_at == NOW


@responses.activate
@pytest.mark.parametrize(
    ("status", "body", "exc", "needle"),
    [
        (400, {"error": "invalid_grant"}, OAuthFlowError, "invalid_grant"),
        (
            401,
            {"error": "invalid_client"},
            ConfigError,
            "secret is wrong (the secret is the stored",
        ),
        (500, {"error": "server_error"}, QboUnavailableError, "server_error"),
        (400, {"error": "unsupported_grant_type"}, OAuthFlowError, "unsupported_grant_type"),
    ],
)
def test_exchange_code_failures_are_never_retried(
    status: int, body: dict[str, str], exc: type[Exception], needle: str
) -> None:
    responses.post(SANDBOX.token_url, status=status, json=body)
    cb = oauth.Callback(code="code-used-once", realm_id="1")
    with pytest.raises(exc) as info:  # type: ignore[call-overload]
        token_endpoint.exchange_code(SANDBOX, CLIENT_ID, CLIENT_SECRET, "https://x/cb", cb, now=NOW)
    assert needle in str(info.value)
    assert CLIENT_SECRET not in str(info.value)
    assert len(responses.calls) == 1


@responses.activate
def test_exchange_code_network_error() -> None:
    responses.post(SANDBOX.token_url, body=requests.ConnectionError("boom"))
    with pytest.raises(QboUnavailableError, match="token endpoint"):
        token_endpoint.exchange_code(
            SANDBOX, CLIENT_ID, CLIENT_SECRET, "https://x/cb", oauth.Callback("c", "1"), now=NOW
        )
    assert len(responses.calls) == 1


@responses.activate
def test_refresh_keeps_previous_hard_expiry_and_caps_rolling_expiry() -> None:
    responses.post(
        SANDBOX.token_url,
        json={"access_token": "acc-2", "refresh_token": "ref-2", "expires_in": 3600,
              "x_refresh_token_expires_in": 8726400},
    )  # fmt: skip
    old = _tokens(refresh_hard_expires_at=NOW + timedelta(days=3))
    new = token_endpoint.refresh_tokens(SANDBOX, CLIENT_ID, CLIENT_SECRET, old, now=NOW)
    form = parse_qs(str(responses.calls[0].request.body))
    assert form == {"grant_type": ["refresh_token"], "refresh_token": ["refresh-old-123"]}
    assert new.refresh_token == "ref-2"
    assert new.refresh_hard_expires_at == NOW + timedelta(days=3)
    assert new.refresh_expires_at == NOW + timedelta(days=3)  # never beyond the hard limit
    assert new.realm_id == old.realm_id


@responses.activate
def test_refresh_invalid_grant_says_run_auth() -> None:
    responses.post(SANDBOX.token_url, status=400, json={"error": "invalid_grant"})
    with pytest.raises(AuthError) as info:
        token_endpoint.refresh_tokens(SANDBOX, CLIENT_ID, CLIENT_SECRET, _tokens(), now=NOW)
    assert "qbsync auth" not in info.value.message  # said once, as the next step
    assert info.value.hint == "run `qbsync auth`"
    assert "refresh-old-123" not in info.value.message


@responses.activate
def test_revoke_posts_json_token_with_basic_auth() -> None:
    responses.post(SANDBOX.revoke_url, status=200)
    token_endpoint.revoke(SANDBOX, CLIENT_ID, CLIENT_SECRET, "refresh-xyz")
    req = responses.calls[0].request
    assert json.loads(req.body or b"") == {"token": "refresh-xyz"}
    assert _basic(req) == f"{CLIENT_ID}:{CLIENT_SECRET}"


@responses.activate
def test_revoke_already_revoked_is_fine_but_outage_raises() -> None:
    responses.post(SANDBOX.revoke_url, status=400, json={"error": "invalid_token"})
    token_endpoint.revoke(SANDBOX, CLIENT_ID, CLIENT_SECRET, "t")
    responses.replace(responses.POST, SANDBOX.revoke_url, status=503)
    with pytest.raises(QboUnavailableError):
        token_endpoint.revoke(SANDBOX, CLIENT_ID, CLIENT_SECRET, "t")


# -- loopback catcher ----------------------------------------------------------------------


def test_catcher_ignores_other_paths_and_answers_the_callback_with_the_result() -> None:
    port = free_loopback_port()
    base = f"http://127.0.0.1:{port}"
    pages: list[requests.Response] = []
    with LoopbackCatcher(f"http://localhost:{port}/callback") as catcher:
        assert requests.get(f"{base}/favicon.ico", timeout=5).status_code == 404

        def browser() -> None:
            pages.append(requests.get(f"{base}/callback?code=a&state=b&realmId=1", timeout=5))

        thread = threading.Thread(target=browser)
        thread.start()
        assert catcher.wait(5) == "code=a&state=b&realmId=1"
        catcher.respond(True, "Connected to Acme <Inc>. You can close this tab.")
        thread.join(5)
    assert pages[0].status_code == 200
    assert "Connected to Acme &lt;Inc&gt;" in pages[0].text
    with pytest.raises(requests.ConnectionError):  # stopped: the port is free again
        requests.get(f"{base}/callback", timeout=1)


def test_catcher_port_in_use_names_the_port() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(OAuthFlowError) as info, LoopbackCatcher(f"http://localhost:{port}/cb"):
            pass
    assert str(port) in info.value.message
    assert "in use" in info.value.message
    assert info.value.hint and str(port) in info.value.hint


def test_catcher_timeout() -> None:
    with (
        LoopbackCatcher(f"http://127.0.0.1:{free_loopback_port()}/cb") as catcher,
        pytest.raises(OAuthFlowError, match=r"within 0\.05 s"),
    ):
        catcher.wait(0.05)


def test_catcher_on_ipv6_loopback() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
            port = s.getsockname()[1]
    except OSError:
        pytest.skip("no IPv6 loopback")
    with LoopbackCatcher(f"http://[::1]:{port}/cb") as catcher:
        thread = threading.Thread(
            target=lambda: requests.get(f"http://[::1]:{port}/cb?code=x", timeout=5)
        )
        thread.start()
        assert catcher.wait(5) == "code=x"
        catcher.respond(True, "ok")
        thread.join(5)


def test_a_second_callback_is_not_handed_over_twice() -> None:
    port = free_loopback_port()
    with LoopbackCatcher(f"http://127.0.0.1:{port}/cb") as catcher:
        first = threading.Thread(
            target=lambda: requests.get(f"http://127.0.0.1:{port}/cb?code=1", timeout=5)
        )
        first.start()
        assert catcher.wait(5) == "code=1"
        again = requests.get(f"http://127.0.0.1:{port}/cb?code=2", timeout=5)
        assert again.status_code == 409
        catcher.respond(True, "ok")
        first.join(5)
        with pytest.raises(OAuthFlowError):
            catcher.wait(0.05)  # the second code was never queued


# -- answers that are not Intuit's OAuth answers ----------------------------------------------


@responses.activate
@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_token_and_revoke_posts_never_follow_a_redirect(status: int) -> None:
    # requests re-sends the body on 307/308: following would hand the code or refresh token to
    # whatever the Location names (here a plain-HTTP remote host).
    elsewhere = "http://collector.example/steal"
    for url in (EMU.token_url, EMU.revoke_url):
        responses.post(url, status=status, headers={"Location": elsewhere})
    responses.post(elsewhere, json={"access_token": "stolen-a", "refresh_token": "stolen-r"})
    responses.get(elsewhere, json={"access_token": "stolen-a", "refresh_token": "stolen-r"})
    cb = oauth.Callback(code="code-once-123", realm_id="1")
    with pytest.raises(QboUnavailableError, match="redirect") as info:
        token_endpoint.exchange_code(
            EMU, CLIENT_ID, CLIENT_SECRET, "http://localhost:1/cb", cb, now=NOW
        )
    assert int(info.value.exit_code) == 1
    with pytest.raises(QboUnavailableError, match="redirect"):
        token_endpoint.refresh_tokens(EMU, CLIENT_ID, CLIENT_SECRET, _tokens(), now=NOW)
    with pytest.raises(QboUnavailableError, match="redirect"):
        token_endpoint.revoke(EMU, CLIENT_ID, CLIENT_SECRET, "refresh-old-123")
    assert [call.request.url for call in responses.calls] == [
        EMU.token_url,
        EMU.token_url,
        EMU.revoke_url,
    ]


@responses.activate
@pytest.mark.parametrize(
    ("status", "kwargs"),
    [
        (200, {"body": "<html>Scheduled maintenance</html>", "content_type": "text/html"}),
        (403, {"body": "<html>Blocked by proxy</html>", "content_type": "text/html"}),
        (404, {"body": "Not Found", "content_type": "text/plain"}),
        (200, {"json": {"token_type": "bearer"}}),  # 200 without tokens
        (400, {"json": ["not", "an", "object"]}),
    ],
)
def test_refresh_answered_with_something_else_is_not_run_auth(
    status: int, kwargs: dict[str, object]
) -> None:
    # Nothing says the grant is bad: exit 1 ("try again"), never exit 3 ("run qbsync auth"),
    # which would send an operator to reconnect a connection that still works.
    responses.post(SANDBOX.token_url, status=status, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(QboUnavailableError, match="unexpected answer") as info:
        token_endpoint.refresh_tokens(SANDBOX, CLIENT_ID, CLIENT_SECRET, _tokens(), now=NOW)
    assert int(info.value.exit_code) == 1
    assert f"HTTP {status}" in info.value.message
    assert "refresh-old-123" not in info.value.message


@responses.activate
def test_refresh_timeout_is_unavailable_and_names_the_token_endpoint() -> None:
    responses.post(SANDBOX.token_url, body=requests.ReadTimeout("read timed out"))
    with pytest.raises(
        QboUnavailableError, match=r"token endpoint did not answer the token refresh within 30 s"
    ) as info:
        token_endpoint.refresh_tokens(SANDBOX, CLIENT_ID, CLIENT_SECRET, _tokens(), now=NOW)
    assert int(info.value.exit_code) == 1
    assert len(responses.calls) == 1  # never retried within the run


EMULATOR = endpoints_for("http://127.0.0.1:4116")


@responses.activate
def test_fix8_a_hung_emulator_is_not_asked_whether_it_runs() -> None:
    """A read timeout came from a server that took the request: it is running."""
    responses.post(EMULATOR.token_url, body=requests.ReadTimeout("read timed out"))
    with pytest.raises(QboUnavailableError) as info:
        token_endpoint.refresh_tokens(EMULATOR, CLIENT_ID, CLIENT_SECRET, _tokens(), now=NOW)
    assert "did not answer the token refresh" in info.value.message
    assert "emulator serve" not in (info.value.hint or "")
    assert "running" not in (info.value.hint or "")


@responses.activate
def test_fix8_a_refused_refresh_token_names_the_emulator_not_intuit() -> None:
    responses.post(EMULATOR.token_url, status=400, json={"error": "invalid_grant"})
    with pytest.raises(AuthError) as info:
        token_endpoint.refresh_tokens(EMULATOR, CLIENT_ID, CLIENT_SECRET, _tokens(), now=NOW)
    assert info.value.message.startswith(
        "The QBO emulator at http://127.0.0.1:4116 refused the stored refresh token"
    )
    assert "Intuit" not in info.value.message


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "http://0.0.0.0:8765/callback",
        "http://192.168.1.5:8765/callback",
        "http://example.com:8765/callback",
        "http://[::]:8765/callback",
        "https://localhost:8765/callback",
    ],
)
def test_catcher_refuses_to_listen_beyond_loopback(redirect_uri: str) -> None:
    with pytest.raises(OAuthFlowError, match="loopback"):
        LoopbackCatcher(redirect_uri)


def test_catcher_for_localhost_binds_the_ipv4_loopback_only() -> None:
    port = free_loopback_port()
    with LoopbackCatcher(f"http://localhost:{port}/cb") as catcher:
        assert catcher._server is not None
        assert catcher._server.server_address == ("127.0.0.1", port)


def test_a_browser_leaving_early_prints_no_traceback(capfd: pytest.CaptureFixture[str]) -> None:
    port = free_loopback_port()
    with LoopbackCatcher(f"http://127.0.0.1:{port}/cb") as catcher:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(b"GET /cb?code=early-code-123&state=s HTTP/1.1\r\nHost: x\r\n\r\n")
            assert catcher.wait(5) == "code=early-code-123&state=s"
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST
        catcher.respond(True, "x" * 200_000)  # a page too big to vanish into socket buffers
    err = capfd.readouterr().err
    assert "Traceback" not in err and "early-code-123" not in err


# -- invalid_client names where the secret came from ------------------------------------------


@responses.activate
@pytest.mark.parametrize(
    ("from_env", "said", "hint"),
    [
        (
            True,
            f"client_id {CLIENT_ID!r} or the client secret is wrong (the secret came from "
            "QBSYNC_CLIENT_SECRET, which overrides the stored one), or they belong to the other "
            "environment (sandbox vs production)",
            "unset",
        ),
        (
            False,
            f"client_id {CLIENT_ID!r} or the client secret is wrong (the secret is the stored "
            "one), or they belong",
            "qbsync init --force",
        ),
    ],
)
def test_invalid_client_says_where_the_secret_came_from(
    monkeypatch: pytest.MonkeyPatch, from_env: bool, said: str, hint: str
) -> None:
    if from_env:
        monkeypatch.setenv("QBSYNC_CLIENT_SECRET", CLIENT_SECRET)
    responses.post(SANDBOX.token_url, status=401, json={"error": "invalid_client"})
    with pytest.raises(ConfigError) as info:
        token_endpoint.refresh_tokens(SANDBOX, CLIENT_ID, CLIENT_SECRET, _tokens(), now=NOW)
    assert said in info.value.message
    assert hint in (info.value.hint or "")
    assert CLIENT_SECRET not in info.value.message + (info.value.hint or "")


# -- probing an emulator before a login --------------------------------------------------------


def test_probe_emulator_fails_fast_naming_the_url_and_how_to_start_it() -> None:
    port = free_loopback_port()  # nothing listens there
    endpoints = endpoints_for(f"http://127.0.0.1:{port}")
    with pytest.raises(QboUnavailableError) as info:
        probe.probe_emulator(endpoints, timeout=2)
    assert info.value.exit_code == 1
    assert info.value.message == f"the QBO emulator at http://127.0.0.1:{port} is not answering"
    assert f"qbsync emulator serve --port {port}" in (info.value.hint or "")


def test_probe_emulator_passes_for_a_running_emulator_and_never_probes_intuit(
    emulator: object,
) -> None:
    probe.probe_emulator(endpoints_for(emulator.base_url))  # type: ignore[attr-defined]
    # Intuit is never probed: the network guard would refuse the connection if it were.
    probe.probe_emulator(SANDBOX)
    probe.probe_emulator(endpoints_for("production"))


def test_probe_emulator_refuses_a_server_that_is_not_an_emulator() -> None:
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class NotEmulator(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return

    server = HTTPServer(("127.0.0.1", 0), NotEmulator)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        with pytest.raises(QboUnavailableError, match="not as a QBO emulator"):
            probe.probe_emulator(endpoints_for(base))
    finally:
        server.shutdown()
        server.server_close()


def test_catcher_answers_a_stray_state_with_an_error_page_and_keeps_waiting() -> None:
    port = free_loopback_port()
    base = f"http://127.0.0.1:{port}"
    strays: list[str] = []
    pages: list[requests.Response] = []
    redirect = f"http://localhost:{port}/callback"
    with LoopbackCatcher(redirect, expected_state="right-state") as catcher:

        def browser() -> None:
            for query in ("code=old&state=stale&realmId=1", "code=x&realmId=1", "error=x"):
                pages.append(requests.get(f"{base}/callback?{query}", timeout=5))
            pages.append(
                requests.get(f"{base}/callback?code=a&state=right-state&realmId=1", timeout=5)
            )

        thread = threading.Thread(target=browser)
        thread.start()
        assert catcher.wait(5, on_stray=strays.append) == "code=a&state=right-state&realmId=1"
        catcher.respond(True, "Connected.")
        thread.join(5)
    assert [p.status_code for p in pages] == [400, 400, 400, 200]
    assert "still waiting" in pages[0].text
    assert len(strays) == 3 and all(redirect in line for line in strays)


def test_catcher_with_a_state_still_times_out_after_stray_hits() -> None:
    port = free_loopback_port()
    with LoopbackCatcher(f"http://127.0.0.1:{port}/cb", expected_state="s") as catcher:
        assert requests.get(f"http://127.0.0.1:{port}/cb?state=t", timeout=5).status_code == 400
        with pytest.raises(
            OAuthFlowError, match=rf"no browser came back to http://127.0.0.1:{port}/cb"
        ):
            catcher.wait(0.3, on_stray=lambda line: None)


def test_probe_emulator_refuses_an_unregistered_redirect_uri_or_client(emulator: Any) -> None:
    endpoints = endpoints_for(emulator.base_url)
    emulator.add_client("probe-client", "probe-secret-123456", ["http://localhost:8765/callback"])
    with pytest.raises(ConfigError) as info:
        probe.probe_emulator(
            endpoints, client_id="probe-client", redirect_uri="http://localhost:8799/callback"
        )
    assert info.value.exit_code == 2
    assert info.value.message.endswith(
        "refuses this login: redirect_uri http://localhost:8799/callback is not registered "
        "for client 'probe-client'"
    )
    assert "client_id and redirect_uri" in (info.value.hint or "")
    with pytest.raises(ConfigError, match="client_id 'nobody' is not registered"):
        probe.probe_emulator(
            endpoints, client_id="nobody", redirect_uri="http://localhost:8765/callback"
        )
    # A registered pair passes, and the probe neither issues a code nor spends a denial.
    emulator.deny_next_authorization()
    probe.probe_emulator(
        endpoints, client_id="probe-client", redirect_uri="http://localhost:8765/callback"
    )
    assert emulator.oauth._codes == {}
    assert emulator.oauth._deny_next is True
