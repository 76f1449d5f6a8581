"""`qbsync init`: write the config file and put the client secret in the credential store.

Interactive by default (a prompt for each value not given as a flag); ``--yes`` never prompts,
for scripts and CI. The client secret comes from ``QBSYNC_CLIENT_SECRET`` or a hidden prompt and
goes only to the credential store, never to the config file or the terminal. The config is
validated (written to a temp file in the same folder and loaded with ``load_config``) before the
real file is touched, so a bad answer never replaces a working config.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from qbsync.cli.hints import command_line
from qbsync.cli.main import CliContext
from qbsync.config import Config, load_config, write_config
from qbsync.config_check import (
    DEFAULT_ENVIRONMENT,
    DEFAULT_EXPORT_DAYS,
    DEFAULT_REDIRECT_URI,
    DEFAULT_SCOPES,
    SOURCE_TYPES,
    TOKEN_STORES,
    environment_problem,
    redirect_uri_problem,
)
from qbsync.config_update import DroppedValue, dropped_values, existing_values
from qbsync.credentials import (
    CLIENT_SECRET_ENV,
    CredentialStore,
    keyring_service,
    keyring_usable,
    open_store,
)
from qbsync.errors import ConfigError, CredentialStoreError, UsageError


class _Asker:
    """Take each value from its flag, else prompt (or, with --yes, use the default or fail)."""

    def __init__(self, yes: bool) -> None:
        self.yes = yes

    def value(
        self,
        given: str | None,
        *,
        flag: str,
        text: str,
        default: str | None = None,
        required: bool = True,
        check: Callable[[str], str] | None = None,
        choices: tuple[str, ...] | None = None,
    ) -> str | None:
        if given is not None:
            return _checked(given, flag, check)
        if self.yes:
            if default is None and required:
                raise UsageError(f"missing {flag}: --yes never prompts", hint=f"pass {flag}")
            return default
        prompt_default = default if (default is not None or required) else ""
        answer: str = click.prompt(
            text,
            default=prompt_default,
            show_default=bool(prompt_default),
            type=click.Choice(choices) if choices else str,
            # click.prompt re-asks when value_proc raises click.BadParameter (a UsageError).
            value_proc=check,
        )
        answer = answer.strip()
        return answer or None

    def choice(
        self, given: str | None, allowed: tuple[str, ...], *, flag: str, text: str, default: str
    ) -> str:
        """One of ``allowed``: from its flag, else a prompt listing them, else the default."""
        chosen = self.value(
            given,
            flag=flag,
            text=text,
            default=default,
            check=_choice(allowed),
            choices=None if given else allowed,
        )
        return chosen or default


def _checked(value: str, flag: str, check: Callable[[str], str] | None) -> str:
    if check is None:
        return value.strip()
    try:
        return check(value)
    except click.BadParameter as exc:
        raise ConfigError(f"{flag}: {exc.message}") from None


def _environment(value: str) -> str:
    problem = environment_problem(value)
    if problem:
        raise click.BadParameter(problem)
    return value.strip()


def _redirect_checker(environment: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        problem = redirect_uri_problem(value, environment)
        if problem:
            raise click.BadParameter(problem)
        return value.strip()

    return check


def _client_id(value: str) -> str:
    value = value.strip()
    if not value or any(ch.isspace() for ch in value):
        raise click.BadParameter("expected your Intuit app's client ID (no spaces)")
    return value


def _file_path(value: str) -> str:
    # The operator types a path relative to where they are; the config resolves relative paths
    # against its own folder, so write it absolute. Empty or "-" = "none" for the optional invoices.
    if _optional(value) == "":
        return ""
    return str(Path(value.strip()).expanduser().absolute())


def _optional(value: str) -> str:
    """An optional answer: "-" clears a value kept from the existing config."""
    value = value.strip()
    return "" if value == "-" else value


def _choice(allowed: tuple[str, ...]) -> Callable[[str], str]:
    def check(value: str) -> str:
        if value.strip() not in allowed:
            raise click.BadParameter(f"expected one of {', '.join(allowed)}")
        return value.strip()

    return check


@click.command("init")
@click.option(
    "--environment",
    metavar="sandbox|production|URL",
    help="Intuit sandbox, production, or an emulator base URL.",
)
@click.option("--client-id", metavar="ID", help="Your Intuit app's client ID.")
@click.option("--redirect-uri", metavar="URI", help="Redirect URI registered in your Intuit app.")
@click.option(
    "--token-store",
    type=click.Choice(TOKEN_STORES),
    help="Where the secret and tokens live: auto (keyring if it works, else file).",
)
@click.option(
    "--source", "source_type", type=click.Choice(SOURCE_TYPES), help="Where members come from."
)
@click.option("--members", metavar="FILE", help="csv: the members CSV file.")
@click.option("--invoices", metavar="FILE", help="csv: the invoices CSV file (optional).")
@click.option("--base-url", metavar="URL", help="http: the membership platform's API base URL.")
@click.option(
    "--token-env", metavar="NAME", help="http: the env var holding the platform's API token."
)
@click.option("--yes", "-y", is_flag=True, help="Never prompt; take every value from flags/env.")
@click.option("--force", is_flag=True, help="Overwrite an existing config file.")
def init_command(
    environment: str | None,
    client_id: str | None,
    redirect_uri: str | None,
    token_store: str | None,
    source_type: str | None,
    members: str | None,
    invoices: str | None,
    base_url: str | None,
    token_env: str | None,
    yes: bool,
    force: bool,
) -> None:
    """Create the config file and store your Intuit app's client secret.

    The client secret is read from QBSYNC_CLIENT_SECRET or asked for (hidden); it is kept in the
    credential store (keyring or a 0600 file), never in the config file.
    """
    obj = CliContext.get()
    path = obj.config_path
    if path.exists() and not force:  # before any prompt: do not waste the operator's answers
        raise UsageError(
            f"config file {path} already exists",
            hint="pass --force to change it (current values become the defaults)",
        )

    # --force starts from the file's own values (those that are still valid): they are the
    # prompts' defaults and what --yes takes, so `init --force --token-store file` changes only
    # the store. Flags given on the command line win.
    old = existing_values(path) if path.exists() else {}
    dropped = dropped_values(path) if path.exists() else []
    old_qbo, old_source = old.get("qbo", {}), old.get("source", {})
    ask = _Asker(yes)
    if old and not yes:
        click.echo(f"Starting from {path}: press Enter to keep each current value.")
    default_env = old_qbo.get("environment", DEFAULT_ENVIRONMENT)
    env = (
        ask.value(
            environment,
            flag="--environment",
            text="QBO environment (sandbox, production or an emulator URL)",
            default=default_env,
            check=_environment,
        )
        or default_env
    )
    old_redirect = old_qbo.get("redirect_uri")
    bad_redirect = None  # the file's redirect URI, when it does not work with this environment
    if old_redirect is not None and redirect_uri_problem(old_redirect, env):
        bad_redirect, old_redirect = old_redirect, None
    if old_redirect is None and env != "production":
        old_redirect = DEFAULT_REDIRECT_URI
    if bad_redirect and redirect_uri is None and old_redirect is None:  # production: no default
        not_allowed = (
            f"the current redirect_uri {bad_redirect} is not allowed with {env} (https with a "
            "host name)"
        )
        if yes:
            raise UsageError(
                f"{not_allowed}; pass --redirect-uri https://...",
                hint="pass --redirect-uri with the https redirect URI registered in your Intuit app",
            )
        click.echo(f"Note: {not_allowed}.")
    values: dict[str, Any] = {
        "qbo": {
            "environment": env,
            "client_id": ask.value(
                client_id,
                flag="--client-id",
                text="Intuit app client ID",
                default=old_qbo.get("client_id"),
                check=_client_id,
            ),
            "redirect_uri": ask.value(
                redirect_uri,
                flag="--redirect-uri",
                text="Redirect URI (as registered in your Intuit app)",
                default=old_redirect,
                check=_redirect_checker(env),
            ),
            "scopes": old_qbo.get("scopes", list(DEFAULT_SCOPES)),
            "minor_version": old_qbo.get("minor_version"),
            "timeout_seconds": old_qbo.get("timeout_seconds"),
        },
        "tokens": {
            "store": ask.choice(
                token_store,
                TOKEN_STORES,
                flag="--token-store",
                text="Token store",
                default=old.get("tokens", {}).get("store", "auto"),
            )
        },
        "source": _source_values(
            ask, old_source, source_type, members, invoices, base_url, token_env
        ),
        "export": {"days": old.get("export", {}).get("days", list(DEFAULT_EXPORT_DAYS))},
    }

    _validate(values, path, obj)
    store = _open_store(values["tokens"]["store"], obj)
    secret = _client_secret(ask, existing=_has_secret(store))
    from_env = bool(os.environ.get(CLIENT_SECRET_ENV, "").strip())

    # Secret first: if the store fails, no config is left behind that `auth` would then find
    # without a secret (and that a plain `qbsync init` would refuse to overwrite).
    if secret is not None:
        store.save_client_secret(secret)
    write_config(path, values, force=force)
    config = load_config(path, profile=obj.profile, data_dir=obj.data_dir)
    note = (
        "kept the stored client secret"
        if secret is None
        else f"client secret from {CLIENT_SECRET_ENV} stored"
        if from_env
        else "client secret stored"
    )
    notes = [_dropped_note(item, values) for item in dropped]
    if bad_redirect and redirect_uri is None and values["qbo"]["redirect_uri"] != bad_redirect:
        notes.append(
            f"[qbo] redirect_uri {bad_redirect} is not allowed with {env}; "
            f"using {values['qbo']['redirect_uri']}"
        )
    _report(config, store.kind, store.location, secret_note=note, obj=obj, notes=notes)


def _source_values(
    ask: _Asker,
    old: dict[str, Any],
    source_type: str | None,
    members: str | None,
    invoices: str | None,
    base_url: str | None,
    token_env: str | None,
) -> dict[str, Any]:
    kind = ask.choice(
        source_type,
        SOURCE_TYPES,
        flag="--source",
        text="Member source",
        default=old.get("type", "csv"),
    )
    if old.get("type") != kind:
        old = {}  # the other type's keys are no defaults for this one
    given_csv = [flag for flag, v in (("--members", members), ("--invoices", invoices)) if v]
    given_http = [flag for flag, v in (("--base-url", base_url), ("--token-env", token_env)) if v]
    wrong = given_http if kind == "csv" else given_csv
    if wrong:
        raise UsageError(f"{wrong[0]} does not apply to --source {kind}")
    if kind == "csv":
        values = {
            "type": "csv",
            "members": ask.value(
                members,
                flag="--members",
                text="Members CSV file",
                default=old.get("members"),
                check=_file_path,
            ),
        }
        invoices_path = ask.value(
            invoices,
            flag="--invoices",
            text="Invoices CSV file ("
            + ("'-' for none)" if old.get("invoices") else "empty for none)"),
            default=old.get("invoices"),
            required=False,
            check=_file_path,
        )
        if invoices_path:
            values["invoices"] = invoices_path
        return values
    values = {
        "type": "http",
        "base_url": ask.value(
            base_url,
            flag="--base-url",
            text="Platform API base URL",
            default=old.get("base_url"),
        ),
    }
    env_name = ask.value(
        token_env,
        flag="--token-env",
        text="Name of the env var holding the platform API token ("
        + ("'-' for none)" if old.get("token_env") else "empty for none)"),
        default=old.get("token_env"),
        required=False,
        check=_optional,
    )
    if env_name:
        values["token_env"] = env_name
    return values


def _validate(values: dict[str, Any], path: Path, obj: CliContext) -> None:
    """Load ``values`` through ``load_config`` from a temp file next to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".init-", suffix=".toml", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write_config(tmp, values, force=True)
        try:
            load_config(tmp, profile=obj.profile, data_dir=obj.data_dir)
        except ConfigError as exc:
            # Name the real file, not our temp copy; the fix is a different answer, not an edit.
            raise ConfigError(
                exc.message.replace(str(tmp), str(path)),
                hint=f"run this init again with a different value for {_flag_in(exc.message)}",
            ) from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


# The flag that sets each config key (the keys without one are kept from the old file as is).
_FLAGS = {
    "[qbo] environment": "--environment",
    "[qbo] client_id": "--client-id",
    "[qbo] redirect_uri": "--redirect-uri",
    "[tokens] store": "--token-store",
    "[source] type": "--source",
    "[source] members": "--members",
    "[source] invoices": "--invoices",
    "[source] base_url": "--base-url",
    "[source] token_env": "--token-env",
}


def _flag_in(message: str) -> str:
    """The flag for the `[table] key` a config error names ("it" when there is none)."""
    for where, flag in _FLAGS.items():
        if f": {where}:" in message or f": {where} " in message:
            return flag
    return "it"


def _open_store(setting: str, obj: CliContext) -> CredentialStore:
    """The chosen store; one that cannot work here is a configuration problem (exit 2)."""
    if setting == "keyring" and not keyring_usable(keyring_service(obj.profile)):
        raise ConfigError(
            "token store 'keyring': no working keyring is reachable from this session (cron "
            "and SSH sessions usually cannot open a desktop keyring); nothing was written",
            hint="run this init again with --token-store file (or auto)",
        )
    try:
        return open_store(setting, profile=obj.profile, data_dir=obj.data_dir)
    except CredentialStoreError as exc:  # auto, pinned to a keyring that is unreachable now
        raise ConfigError(
            f"{exc.message}; nothing was written",
            hint="run this init again with --token-store file",
        ) from None


def _has_secret(store: CredentialStore) -> bool:
    try:
        return store.load_client_secret() is not None
    except Exception:  # an unreadable old entry: ask for a new secret
        return False


def _client_secret(ask: _Asker, *, existing: bool) -> str | None:
    """The secret to store, or None to keep the one already stored."""
    from_env = os.environ.get(CLIENT_SECRET_ENV, "").strip()
    if from_env:
        return from_env
    if ask.yes:
        if existing:
            return None
        raise UsageError(
            f"missing client secret: --yes never prompts and {CLIENT_SECRET_ENV} is not set",
            hint=f"set {CLIENT_SECRET_ENV} for this command",
        )
    text = "Intuit app client secret (input hidden"
    text += "; Enter keeps the stored one)" if existing else ")"
    # Not click's confirmation_prompt: it asks "Repeat for confirmation" after an empty answer
    # too, so Enter ("keep the stored one") would need a second Enter. Confirm only a new secret.
    while True:
        answer: str = click.prompt(
            text,
            hide_input=True,
            default="" if existing else None,
            show_default=False,
        )
        answer = answer.strip()
        if not answer:
            if existing:
                return None
            click.echo("The client secret is required.", err=True)
            continue
        again: str = click.prompt("Repeat for confirmation", hide_input=True, show_default=False)
        if again.strip() == answer:
            return answer
        click.echo("Error: The two entered values do not match.", err=True)


def _dropped_note(item: DroppedValue, values: dict[str, Any]) -> str:
    """What became of a value of the old file that is not in the new one (never a secret)."""
    if item.reason == "secret":
        return f"removed {item.key} from the config; rotate that secret if the file was ever shared"
    if item.reason == "unknown":
        return f"removed {item.where}: not a key qbsync reads"
    now = values.get(item.table or "", {}).get(item.key)
    what = f"{item.where} {item.shown}" if item.shown else item.where
    if now is None:
        return f"{what} was not valid; left out (the default applies)"
    if isinstance(now, list):
        now = ", ".join(str(part) for part in now)
    return f"{what} was not valid; using {now}"


def _report(
    config: Config,
    kind: str,
    location: str,
    *,
    secret_note: str,
    obj: CliContext,
    notes: Sequence[str] = (),
) -> None:
    rows = [
        ("Config written", str(config.path)),
        ("Environment", config.qbo.environment),
        ("Token store", f"{kind} ({location}); {secret_note}"),
    ]
    rows += [("Note", note) for note in notes]
    if kind == "keyring":
        rows.append(
            (
                "Note",
                "a desktop keyring is often unreachable from cron or SSH. If cron will run "
                "qbsync, re-run `qbsync init --force --token-store file`.",
            )
        )
    if config.source.type == "csv" and config.source.members and not config.source.members.exists():
        rows.append(("Note", f"{config.source.members} does not exist yet."))
    rows.append(("Next step", command_line(obj, "auth")))
    for label, text in rows:
        click.echo(f"{label + ':':<16}{text}")


def register(group: click.Group) -> None:
    group.add_command(init_command)
