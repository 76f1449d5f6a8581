"""`qbsync auth` (connect to a QBO company); `qbsync disconnect` is in ``disconnect_cmd``.

Two ways back from Intuit's consent page: a loopback catcher when the app's redirect URI is
``http://localhost:PORT/...`` (sandbox keys allow it), or pasting the address the browser landed
on for an HTTPS redirect (production keys require one). For scripts, ``--print-url`` prints the
URL and remembers the login's ``state`` in the data folder; ``--redirect-url URL`` completes it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import webbrowser
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from qbsync.auth import oauth, probe, token_endpoint
from qbsync.auth.credentials import (
    CredentialStore,
    resolve_client_secret,
    token_lock,
)
from qbsync.auth.loopback import LoopbackCatcher
from qbsync.auth.tokens import record_issuer, token_manager_for
from qbsync.cli import render
from qbsync.cli.context import CliContext
from qbsync.cli.hints import command_line, localize
from qbsync.config import Config
from qbsync.errors import (
    AuthError,
    OAuthFlowError,
    QbsyncError,
    StateError,
    UsageError,
)
from qbsync.files import atomic_write
from qbsync.locks import run_lock
from qbsync.paths import ensure_private_dir
from qbsync.qbo.client import QboClient
from qbsync.state.db import State

log = logging.getLogger(__name__)

PENDING_FILE = "auth-pending.json"
PENDING_MAX_AGE = timedelta(hours=1)
PASTE_TRIES = 3
NO_TERMINAL = (
    "no terminal to paste into: use qbsync auth --print-url, then "
    "qbsync auth --redirect-url '<address>'"
)


@contextlib.contextmanager
def next_steps(obj: CliContext) -> Iterator[None]:
    """Errors leave with their `qbsync ...` next steps naming this invocation's profile/config."""
    try:
        yield
    except QbsyncError as exc:
        exc.message = localize(obj, exc.message) or exc.message
        if exc.hint:
            exc.hint = localize(obj, exc.hint)
        raise


@dataclass(frozen=True)
class Connected:
    realm_id: str
    company_name: str | None
    enabled_at: datetime
    store: CredentialStore


def _open_browser(url: str) -> threading.Thread:
    # In a thread: for $BROWSER, webbrowser's GenericBrowser.open runs the command and waits for it
    # to exit (CPython Lib/webbrowser.py: `return not p.wait()`), and a command that follows the
    # redirect itself would then wait on our catcher, which would be waiting on us.
    def run() -> None:
        try:
            if not webbrowser.open(url):
                render.info("No browser could be opened; open the address above yourself.")
        except Exception as exc:  # a broken $BROWSER must not end the login
            log.warning("could not start a browser: %s", type(exc).__name__)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _show_url(url: str, no_browser: bool, *, before_prompt: bool = False) -> None:
    render.info("Open this address in a browser and connect your QuickBooks company:")
    click.echo(url, err=True)
    if not no_browser:
        opener = _open_browser(url)
        if before_prompt:
            # No catcher to deadlock on in the paste flow: let the browser start (or say it could
            # not) before the paste prompt, so its notice does not land on the prompt's line.
            opener.join(timeout=5)


@click.command("auth")
@click.option("--no-browser", is_flag=True, help="Only print the authorization URL.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=300.0,
    show_default=True,
    help="Seconds to wait for the browser to come back (loopback redirect).",
)
@click.option(
    "--print-url",
    is_flag=True,
    help="Print the authorization URL on stdout and exit; finish later with --redirect-url.",
)
@click.option(
    "--redirect-url",
    metavar="URL",
    default=None,
    help="The address the browser landed on, for the login started by --print-url.",
)
@click.option(
    "--fresh-state",
    is_flag=True,
    help="Connecting another company: delete this profile's links and history first.",
)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def auth_command(
    no_browser: bool,
    timeout: float,
    print_url: bool,
    redirect_url: str | None,
    fresh_state: bool,
    yes: bool,
) -> None:
    """Connect qbsync to a QuickBooks Online company (browser login, once)."""
    obj = CliContext.get()
    with next_steps(obj):
        _auth(obj, no_browser, timeout, print_url, redirect_url, fresh_state, yes)


def _auth(
    obj: CliContext,
    no_browser: bool,
    timeout: float,
    print_url: bool,
    redirect_url: str | None,
    fresh_state: bool,
    yes: bool,
) -> None:
    if print_url and redirect_url is not None:
        raise click.UsageError(
            "--print-url starts a login and --redirect-url finishes it: run them one after the "
            "other, not together"
        )
    config, store = obj.load()
    secret = resolve_client_secret(store)
    qbo = config.qbo
    # An unusable state database (a folder, another program's file, a newer schema) is found
    # now, not after the operator has logged in.
    ensure_private_dir(config.data_dir)
    State.open(config.state_path).close()
    # An emulator that is not running would leave the login waiting for a browser that can never
    # come back (or spend a pasted code on nothing): find out now. Intuit is never probed. A new
    # login also asks the emulator's authorize page whether it knows this client and redirect
    # URI: otherwise the browser would show an error page while we wait for the timeout.
    starting = redirect_url is None
    probe.probe_emulator(
        qbo.endpoints,
        client_id=qbo.client_id if starting else None,
        redirect_uri=qbo.redirect_uri if starting else None,
        scopes=qbo.scopes,
    )
    if redirect_url is not None:
        pending = _read_pending(config)
        try:
            callback = oauth.parse_pasted_redirect(redirect_url, pending["state"])
        except oauth.PastedTextError as exc:
            raise UsageError(
                f"{exc.message}; the login started with --print-url is still waiting",
                hint="run `qbsync auth --redirect-url '<full address>'` (quote it: it contains &)",
            ) from None
        # Forget the login before the exchange: whatever happens, this code is not sent again.
        clear_pending(config)
        done = _connect(config, store, secret, pending["redirect_uri"], callback, fresh_state, yes)
        _report(done)
        return
    request = oauth.build_authorization_url(
        qbo.endpoints, qbo.client_id, qbo.redirect_uri, qbo.scopes
    )
    if print_url:
        _write_pending(config, request)
        click.echo(request.url)
        return
    if oauth.is_loopback_redirect(qbo.redirect_uri):
        with LoopbackCatcher(qbo.redirect_uri, expected_state=request.state) as catcher:
            _show_url(request.url, no_browser)
            render.info(f"Waiting for the browser on {qbo.redirect_uri} ...")
            query = catcher.wait(timeout, on_stray=render.warn)
            try:
                callback = oauth.check_callback(oauth.query_params(query), request.state)
                done = _connect(config, store, secret, qbo.redirect_uri, callback, fresh_state, yes)
            except QbsyncError as exc:
                catcher.respond(False, f"{exc.message}. See the terminal for the next step.")
                raise
            name = done.company_name or f"company {done.realm_id}"
            catcher.respond(True, f"Connected to {name}. You can close this tab.")
    else:
        _show_url(request.url, no_browser, before_prompt=True)
        callback = _prompt_for_redirect(request.state)
        done = _connect(config, store, secret, qbo.redirect_uri, callback, fresh_state, yes)
    _report(done)


def _prompt_for_redirect(expected_state: str) -> oauth.Callback:
    """Ask for the landing address; text that is not an address is asked for again."""
    for attempt in range(1, PASTE_TRIES + 1):
        try:
            text = click.prompt(
                "Paste the full address your browser landed on", err=True, show_default=False
            )
        except click.Abort as exc:
            if isinstance(exc.__context__, EOFError):  # stdin closed: cron, a pipe, nohup
                raise UsageError(NO_TERMINAL) from None
            raise
        try:
            return oauth.parse_pasted_redirect(text, expected_state)
        except oauth.PastedTextError as exc:
            if attempt == PASTE_TRIES:
                raise UsageError(
                    exc.message,
                    hint="run `qbsync auth` again, or `qbsync auth --print-url` and then "
                    "`qbsync auth --redirect-url '<address>'`",
                ) from None
            render.warn(f"{exc.message}; try again")
    raise AssertionError("unreachable")  # pragma: no cover


def _connect(
    config: Config,
    store: CredentialStore,
    secret: str,
    redirect_uri: str,
    callback: oauth.Callback,
    fresh_state: bool,
    yes: bool,
) -> Connected:
    """Exchange the code, store the tokens, read CompanyInfo, bind the state to the company."""
    ensure_private_dir(config.data_dir)
    with State.open(config.state_path) as state, contextlib.ExitStack() as held:
        bound = state.realm_id
        switching = bound is not None and bound != callback.realm_id
        # Refuse another company before the code is exchanged, so the working connection's
        # tokens are never replaced by tokens whose company the state does not belong to.
        if switching and not fresh_state:
            name = state.company_name
            raise StateError(
                f"this profile is connected to QBO company {bound}"
                + (f" ({name})" if name else "")
                + f", not {callback.realm_id}; its links point into that company's books",
                hint="run `qbsync auth --fresh-state` to start this profile over for the new "
                "company, or use another --profile",
            )
        if switching:
            # Emptying the state under a running sync would leave it recording into nothing.
            held.enter_context(run_lock(config.data_dir))
        if switching and not yes:
            click.confirm(
                f"Delete this profile's links and export history for company {bound} and "
                f"connect company {callback.realm_id}?",
                abort=True,
                err=True,
            )
        # A code can be spent only once: make sure the state can be written (another process may
        # hold it for longer than the busy timeout) before spending it, not after.
        with state.transaction():
            pass
        now = token_endpoint.utcnow()
        tokens = token_endpoint.exchange_code(
            config.qbo.endpoints,
            config.qbo.client_id,
            secret,
            redirect_uri,
            callback,
            now=now,
            timeout=config.qbo.timeout_seconds,
        )
        if switching:
            state.reset_for_new_realm()
        with token_lock(config.data_dir):
            store.save_tokens(tokens)
            # Which server issued them: no later run sends them to another one.
            record_issuer(state, config.qbo.endpoints)
        manager = token_manager_for(config, store=store)
        # Bind before the first API call: whatever CompanyInfo does, the stored tokens and the
        # state agree on the company, and enabled_at is the moment of this first connection.
        enabled_at = state.bind_realm(tokens.realm_id, now=now, company_name=None)
        company_name: str | None = None
        try:
            info = QboClient(config.qbo, manager).company_info()
            company_name = str(info.get("CompanyName") or "") or None
        except AuthError:
            raise  # the company refused this app: say so (tokens and state are kept)
        except QbsyncError as exc:  # connected all the same; status --check can retry later
            check = command_line(CliContext.get(), "status", "--check")
            render.warn(
                f"connected, but CompanyInfo could not be read: {exc.message} "
                f"(`{check}` tries again)"
            )
        if company_name:
            state.set_meta("company_name", company_name)
        return Connected(tokens.realm_id, company_name, enabled_at, store)


def _report(done: Connected) -> None:
    render.result(f"Connected to {done.company_name or '(company name unknown)'}")
    render.key_values(
        None,
        [
            ("Realm", done.realm_id),
            ("Company", done.company_name or "-"),
            ("Enabled at", render.when(done.enabled_at, token_endpoint.utcnow())),
            ("Token store", f"{done.store.kind} ({done.store.location})"),
        ],
    )
    if done.store.kind == "keyring":
        # The usual way cron loses access: the job runs outside the desktop session.
        obj = CliContext.get()
        render.info(
            "Tokens are in the desktop keyring. If cron runs qbsync on this machine, check that "
            f"it can reach the keyring (`{command_line(obj, 'status')}` from cron), or switch to "
            f'the file store (`[tokens] store = "file"`, then `{command_line(obj, "auth")}` '
            "again)."
        )


# -- pending login for --print-url / --redirect-url ---------------------------------------------


def _pending_path(config: Config) -> Path:
    return config.data_dir / PENDING_FILE


def _write_pending(config: Config, request: oauth.AuthorizationRequest) -> None:
    ensure_private_dir(config.data_dir)
    data = {
        "state": request.state,
        "redirect_uri": request.redirect_uri,
        "created_at": token_endpoint.utcnow().isoformat(),
    }
    atomic_write(_pending_path(config), json.dumps(data).encode(), mode=0o600)


def _read_pending(config: Config) -> dict[str, str]:
    missing = OAuthFlowError(
        "no login is waiting for --redirect-url in this profile",
        hint="run `qbsync auth --print-url`, open that address, then pass the address the "
        "browser landed on with --redirect-url (within an hour)",
    )
    try:
        data = json.loads(_pending_path(config).read_text(encoding="utf-8"))
        created = datetime.fromisoformat(data["created_at"])
        state, redirect_uri = str(data["state"]), str(data["redirect_uri"])
    except (OSError, ValueError, KeyError, TypeError):
        raise missing from None
    if token_endpoint.utcnow() - created.astimezone(UTC) > PENDING_MAX_AGE:
        clear_pending(config)
        raise missing
    return {"state": state, "redirect_uri": redirect_uri}


def clear_pending(config: Config) -> None:
    with contextlib.suppress(FileNotFoundError):
        _pending_path(config).unlink()


def register(group: click.Group) -> None:
    group.add_command(auth_command)
