"""`qbsync auth`: connect to a QBO company (the work is in ``qbsync.auth.connect``).

Two ways back from the consent page: a loopback catcher when the app's redirect URI is
``http://localhost:PORT/...`` (sandbox keys allow it), or pasting the address the browser landed
on for an HTTPS redirect (production keys require one). For scripts, ``--print-url`` prints the
URL and remembers the login's ``state`` in the data folder; ``--redirect-url URL`` completes it.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from typing import TYPE_CHECKING

import click

from qbsync.cli.context import CliContext, Session, open_session
from qbsync.cli.options import command, stdin_is_terminal, yes_option
from qbsync.errors import AuthError, ConfigError, OAuthFlowError, QbsyncError, UsageError

if TYPE_CHECKING:
    from qbsync.auth.connect import Connected
    from qbsync.auth.loopback import LoopbackCatcher
    from qbsync.auth.oauth import Callback

log = logging.getLogger(__name__)

PASTE_TRIES = 3
TWO_STEPS = "qbsync auth --print-url, then qbsync auth --redirect-url '<address>'"
NO_TERMINAL = f"no terminal to paste into: use {TWO_STEPS}"
# Without a terminal, how often the wait for the browser looks whether the browser failed.
_POLL = 0.1


@command("auth")
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
@yes_option
def auth_command(
    no_browser: bool,
    timeout: float,
    print_url: bool,
    redirect_url: str | None,
    fresh_state: bool,
    yes: bool,
) -> None:
    """Connect qbsync to a QuickBooks Online company (browser login, once)."""
    from qbsync.auth import connect, oauth, pending
    from qbsync.auth.credentials import resolve_client_secret

    if print_url and redirect_url is not None:
        raise click.UsageError(
            "--print-url starts a login and --redirect-url finishes it: run them one after the "
            "other, not together"
        )
    obj = CliContext.get()
    # The state is opened (and test-written) before the login: an unusable one fails now, not
    # after the operator has logged in.
    with open_session(obj, qbo=False) as session:
        config, state = session.config, session.state
        assert state is not None
        secret = resolve_client_secret(session.store)
        connect.check_login_possible(config, state, starting=redirect_url is None)
        if redirect_url is not None:
            login = pending.read_pending(config.data_dir)
            try:
                callback = oauth.parse_pasted_redirect(redirect_url, login.state)
            except oauth.PastedTextError as exc:
                raise UsageError(
                    f"{exc.message}; the login started with --print-url is still waiting",
                    hint="run `qbsync auth --redirect-url '<full address>'` (quote it: it "
                    "contains &)",
                ) from None
            # Forget the login before the exchange: whatever happens, this code is not sent again.
            pending.clear_pending(config.data_dir)
            done = _connect(obj, session, secret, login.redirect_uri, callback, fresh_state, yes)
            _report(obj, session, *done)
            return
        _say_already_connected(session)
        qbo = config.qbo
        request = oauth.build_authorization_url(
            qbo.endpoints, qbo.client_id, qbo.redirect_uri, qbo.scopes
        )
        if print_url:
            pending.write_pending(
                config.data_dir, pending.PendingLogin(request.state, request.redirect_uri)
            )
            click.echo(request.url)
            return
        if not oauth.is_loopback_redirect(qbo.redirect_uri):
            _show_url(request.url, no_browser, before_prompt=True)
            callback = _prompt_for_redirect(request.state)
            done = _connect(obj, session, secret, qbo.redirect_uri, callback, fresh_state, yes)
            _report(obj, session, *done)
            return
        with contextlib.ExitStack() as stack:
            catcher = _listen(stack, qbo.redirect_uri, request.state)
            opener = _show_url(request.url, no_browser)
            from qbsync.cli import render

            render.info(f"Waiting for the browser on {qbo.redirect_uri} ...")
            query = _wait(catcher, timeout, opener)
            try:
                callback = oauth.check_callback(oauth.query_params(query), request.state)
                done = _connect(obj, session, secret, qbo.redirect_uri, callback, fresh_state, yes)
            except QbsyncError as exc:
                catcher.respond(False, f"{exc.message}. See the terminal for the next step.")
                raise
            name = done[1] or f"company {done[0].realm_id}"
            catcher.respond(True, f"Connected to {name}. You can close this tab.")
        _report(obj, session, *done)


def _say_already_connected(session: Session) -> None:
    from qbsync.auth.connect import current_connection
    from qbsync.cli import render

    assert session.state is not None
    now = current_connection(session.store, session.state)
    if now is None:
        return
    name = now.company_name or "(name unknown)"
    render.info(
        f"Already connected to {name}, company {now.realm_id}. Logging in again replaces the "
        "stored tokens: the same company keeps its links and export history; another company "
        "is refused unless --fresh-state, which deletes them."
    )


def _listen(stack: contextlib.ExitStack, redirect_uri: str, state: str) -> LoopbackCatcher:
    """The loopback catcher, listening; a port it cannot listen on (in use, privileged) is a
    configuration problem (exit 2): `qbsync auth` again would not help."""
    from qbsync.auth.loopback import LoopbackCatcher

    try:
        return stack.enter_context(LoopbackCatcher(redirect_uri, expected_state=state))
    except OAuthFlowError as exc:
        raise ConfigError(exc.message, hint=exc.hint) from None


class _Opener:
    """Opens the browser in a thread: for $BROWSER, webbrowser's GenericBrowser.open runs the
    command and waits for it (CPython Lib/webbrowser.py: `return not p.wait()`), and a command
    that follows the redirect itself would then wait on our catcher, which would wait on us."""

    def __init__(self, url: str) -> None:
        self.failed = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(url,), daemon=True)
        self.thread.start()

    def _run(self, url: str) -> None:
        import webbrowser

        from qbsync.cli import render

        try:
            opened = webbrowser.open(url)
        except Exception as exc:  # a broken $BROWSER must not end the login
            log.warning("could not start a browser: %s", type(exc).__name__)
            opened = False
        if not opened:
            render.info("No browser could be opened; open the address above yourself.")
            self.failed.set()


def _show_url(url: str, no_browser: bool, *, before_prompt: bool = False) -> _Opener | None:
    from qbsync.cli import render

    render.info("Open this address in a browser and connect your QuickBooks company:")
    click.echo(url, err=True)
    if no_browser:
        return None
    opener = _Opener(url)
    if before_prompt:
        # No catcher to deadlock on in the paste flow: let the browser start (or say it could
        # not) before the paste prompt, so its notice does not land on the prompt's line.
        opener.thread.join(timeout=5)
    return opener


def _terminal() -> bool:
    return stdin_is_terminal() or sys.stderr.isatty()


def _wait(catcher: LoopbackCatcher, timeout: float, opener: _Opener | None) -> str:
    """The callback's query. Without a terminal the browser is the only way back: when it could
    not be opened, stop at once with the two-step login instead of waiting out the timeout."""
    from qbsync.cli import render

    if opener is None or _terminal():
        return catcher.wait(timeout, on_stray=render.warn)
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        try:
            return catcher.wait(max(min(_POLL, left), 0.001), on_stray=render.warn)
        except OAuthFlowError as exc:
            if opener.failed.is_set():
                raise UsageError(
                    "no browser could be opened and there is no terminal to open the address "
                    "from; nothing can come back to the login",
                    hint=f"run `{TWO_STEPS.replace(', then ', '`, then `')}`",
                ) from None
            if time.monotonic() >= deadline:
                raise OAuthFlowError(
                    f"no browser came back to {catcher.redirect_uri} within {timeout:g} s",
                    hint=exc.hint,
                ) from None


def _prompt_for_redirect(expected_state: str) -> Callback:
    """Ask for the landing address; text that is not an address is asked for again."""
    from qbsync.auth import oauth
    from qbsync.cli import render

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
    obj: CliContext,
    session: Session,
    secret: str,
    redirect_uri: str,
    callback: Callback,
    fresh_state: bool,
    yes: bool,
) -> tuple[Connected, str | None]:
    """Spend the code, then read the company's name (a failure there is only a warning)."""
    from qbsync.auth import connect
    from qbsync.cli import render

    def confirm(question: str) -> None:
        if not yes:
            click.confirm(question, abort=True, err=True)

    state = session.state
    assert state is not None
    done = connect.connect(
        session.config, session.store, state, secret, redirect_uri, callback,
        fresh_state=fresh_state, confirm=confirm,
    )  # fmt: skip
    try:
        with open_session(obj, state=False) as api:
            assert api.client is not None
            name, problem = connect.record_company_name(api.client, state)
    except AuthError:
        raise  # the company refused this app: say so (tokens and state are kept)
    except QbsyncError as exc:
        name, problem = None, exc
    if problem is not None:
        check = obj.command_line("status", "--check")
        render.warn(
            f"connected, but CompanyInfo could not be read: {obj.localize(problem.message)} "
            f"(`{check}` tries again)"
        )
    return done, name


def _report(obj: CliContext, session: Session, done: Connected, name: str | None) -> None:
    from qbsync.auth.token_endpoint import utcnow
    from qbsync.cli import render

    store = session.store
    render.result(f"Connected to {name or '(company name unknown)'}")
    rows = [
        ("Realm", done.realm_id),
        ("Company", name or "-"),
        ("Enabled at", render.when(done.enabled_at, utcnow()) if done.enabled_at else "-"),
        ("Token store", f"{store.kind} ({store.location})"),
    ]
    if done.replaced:
        rows.append(("Replaced", f"company {done.replaced} (its links and history were deleted)"))
    render.key_values(None, rows)
    if done.config_problem:
        render.warn(f"enabled_at was not written to the config: {done.config_problem}")
    if done.history_missing:
        render.warn(
            "this profile was connected before, but its state holds no export history (deleted, "
            f"or a new data folder); syncing waits until `{obj.command_line('state', 'rebuild')}` "
            "restores it from QBO (or "
            f"`{obj.command_line('state', 'rebuild', '--fresh')}` starts over from now)"
        )
    if store.kind == "keyring":
        # The usual way cron loses access: the job runs outside the desktop session.
        render.info(
            "Tokens are in the desktop keyring. If cron runs qbsync on this machine, check that "
            f"it can reach the keyring (`{obj.command_line('status')}` from cron), or switch to "
            f'the file store (`[tokens] store = "file"`, then `{obj.command_line("auth")}` '
            "again)."
        )


def register(group: click.Group) -> None:
    group.add_command(auth_command)
