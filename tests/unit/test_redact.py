"""redact.py, and the CLI's two ways out (expected error, unexpected exception) never showing a
secret: not in the message, not in a QBSYNC_DEBUG traceback, not in a log line with exc_info."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from qbsync.cli.main import _setup_logging, cli
from qbsync.errors import AuthError
from qbsync.redact import redact, register_secret


def test_registered_secret_is_masked_also_url_encoded() -> None:
    register_secret("Ab+cd/ef=gh-secret")
    text = redact(
        "body=Ab%2Bcd%2Fef%3Dgh-secret form=Ab%2Bcd%2Fef%3Dgh-secret raw=Ab+cd/ef=gh-secret"
    )
    assert "gh-secret" not in text and "Ab" not in text


@pytest.mark.parametrize(
    "text",
    [
        "grant_type=refresh_token&refresh_token=RT-not-registered-1",
        '{"access_token": "AT-not-registered-1", "expires_in": 3600}',
        "{'refresh_token': 'RT-not-registered-1'}",
        "GET /callback?state=s1&code=AB11-not-registered-1&realmId=9130",
        "Authorization: Bearer eyJhbGciOi.not-registered-1",
        "Authorization: Basic Y2lkOmNzZWNyZXQtbm90LXJlZ2lzdGVyZWQtMQ==",
        "client_secret=cs-not-registered-1",
        "id_token=IT-not-registered-1",
    ],
)
def test_unregistered_oauth_values_are_masked(text: str) -> None:
    out = redact(text)
    assert "not-registered-1" not in out
    assert "Y2lkOmNzZWNyZXQ" not in out


@pytest.mark.parametrize(
    "text",
    [
        "message=AuthenticationFailed; errorCode=003200; statusCode=401",
        '{"Fault": {"Error": [{"code": "6240", "Message": "Duplicate Name Exists Error"}]}}',
        '<Error code="3001"><Message>ThrottleExceeded</Message></Error>',
        "exit_code: 3",
    ],
)
def test_qbo_error_codes_stay_readable(text: str) -> None:
    assert redact(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "client_secret: the config file must not hold secrets",
        "token: expired",
        "refresh_token: the stored one is past its rolling expiry; run `qbsync auth`",
        "[qbo] client_secret: the config file must not hold secrets; expected the client secret "
        "in the credential store",
        "access_token: none stored yet",
        "code: the authorization code was already used",
        "[source] token_env: expected the NAME of an environment variable",
        '{"token_env": "MEMBERS_API_TOKEN", "store": "file"}',
    ],
)
def test_prose_about_a_secret_stays_readable(text: str) -> None:
    assert redact(text) == text


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("refresh_token: RT-not-registered-1-abcdefgh", "refresh_token: ***"),
        ("token:AB12cd34EF56gh78IJ90xyz-not-registered-1", "token:***"),
        ('client_secret: "not-registered-1"', 'client_secret: "***"'),
        ("client_secret = 'not-registered-1'", "client_secret = '***'"),
        ('{"client_secret":"not-registered-1"}', '{"client_secret":"***"}'),
        ("{'csrf_token': not-registered-1}", "{'csrf_token': ***}"),
        ("access_token=not-registered-1&x=1", "access_token=***&x=1"),
        ("code: AB11-not-registered-1-abcdef", "code: ***"),
        ('{"auth_code": "not-registered-1"}', '{"auth_code": "***"}'),
    ],
)
def test_secret_values_are_still_masked(text: str, kept: str) -> None:
    out = redact(text)
    assert "not-registered-1" not in out
    assert out == kept


def test_config_secret_error_reads_whole_on_the_terminal(isolated_env: Path) -> None:
    """The redactor used to turn this message into `client_secret: *** config file must...`."""
    path = isolated_env / ".config" / "qbsync" / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_text('[qbo]\nclient_id = "x"\nclient_secret = "hunter2-very-secret"\n')
    result = CliRunner().invoke(cli, ["status"])
    assert result.exit_code == 2, result.output
    assert f"Error: {path}: [qbo] client_secret: the config file must not hold secrets;" in (
        result.stderr
    )
    assert "***" not in result.stderr and "hunter2" not in result.output


@pytest.fixture
def boom_command() -> Iterator[None]:
    """A command that fails the way a library might: a token in the message and its cause."""

    @click.command("boom-test")
    @click.option("--expected", is_flag=True)
    def boom(expected: bool) -> None:
        logging.getLogger("qbsync.test").debug("debug line refresh_token=RT-log-line-1234")
        try:
            raise ValueError('token response {"access_token": "AT-in-cause-1234"}')
        except ValueError as cause:
            try:
                raise KeyError("ctx") from cause
            except KeyError:
                logging.getLogger("qbsync.test").warning("with exc_info", exc_info=True)
            if expected:
                raise AuthError("refused refresh_token=RT-in-message-1234") from cause
            raise RuntimeError(
                "POST http://127.0.0.1:1/oauth2/v1/tokens/bearer failed: "
                "grant_type=refresh_token&refresh_token=RT-in-message-1234 "
                "headers={'Authorization': 'Basic Y2lkOnNlY3JldC12YWx1ZQ=='}"
            ) from cause

    cli.add_command(boom)
    try:
        yield
    finally:
        cli.commands.pop("boom-test", None)
        _setup_logging(0)


@pytest.mark.parametrize("expected", [False, True])
def test_no_secret_in_errors_debug_tracebacks_or_logs(
    boom_command: None, monkeypatch: pytest.MonkeyPatch, expected: bool
) -> None:
    monkeypatch.setenv("QBSYNC_DEBUG", "1")
    args = ["-vv", "boom-test"] + (["--expected"] if expected else [])
    result = CliRunner().invoke(cli, args)
    output = result.stdout + result.stderr
    assert result.exit_code == (3 if expected else 1), output
    assert "Error:" in result.stderr
    if not expected:
        assert "Traceback" in result.stderr  # the debug traceback was printed, redacted
    assert "with exc_info" in result.stderr and "debug line" in result.stderr
    for secret in ("RT-log-line", "AT-in-cause", "RT-in-message", "Y2lkOnNlY3JldC12YWx1ZQ"):
        assert secret not in output
