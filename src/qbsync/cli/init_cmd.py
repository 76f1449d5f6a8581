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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from qbsync.auth.credentials import (
    CLIENT_SECRET_ENV,
    CredentialStore,
    keyring_service,
    keyring_usable,
    open_store,
)
from qbsync.cli.context import CliContext
from qbsync.cli.init_prompts import (
    Asker,
    ask_client_id,
    ask_client_secret,
    ask_environment,
    redirect_checker,
    source_values,
)
from qbsync.cli.options import command, stdin_is_terminal, yes_option
from qbsync.config import Config, load_config, write_config
from qbsync.config.checks import (
    DEFAULT_ENVIRONMENT,
    DEFAULT_EXPORT_DAYS,
    DEFAULT_REDIRECT_URI,
    DEFAULT_SCOPES,
    SOURCE_TYPES,
    TOKEN_STORES,
    redirect_uri_problem,
)
from qbsync.config.write import DroppedValue, dropped_values, existing_values
from qbsync.errors import ConfigError, CredentialStoreError, UsageError
from qbsync.paths import ensure_dir


@command("init")
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
@yes_option(help="Never prompt; take every value from flags/env.")
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
    given = (environment, client_id, redirect_uri, token_store, source_type, members, invoices)
    # `init --force --token-store file`: change what the options say, keep the rest as it is,
    # without a question (cron and scripts have no terminal to answer one).
    keep = bool(old) and not yes and any(v is not None for v in (*given, base_url, token_env))
    ask = Asker(yes or keep, why=KEEP_WHY if keep else "--yes never prompts")
    if old and not yes and not keep:
        click.echo(f"Starting from {path}: press Enter to keep each current value.")
    default_env = old_qbo.get("environment", DEFAULT_ENVIRONMENT)
    env = (
        ask.value(
            environment,
            flag="--environment",
            text="QBO environment (sandbox, production or an emulator URL)",
            default=default_env,
            check=ask_environment,
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
                text="Intuit app client ID (Keys & credentials page of your app at developer.intuit.com)",
                default=old_qbo.get("client_id"),
                check=ask_client_id,
            ),
            "redirect_uri": ask.value(
                redirect_uri,
                flag="--redirect-uri",
                text="Redirect URI (as registered in your Intuit app)",
                default=old_redirect,
                check=redirect_checker(env),
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
        "source": source_values(
            ask, old_source, source_type, members, invoices, base_url, token_env
        ),
        "export": {"days": old.get("export", {}).get("days", list(DEFAULT_EXPORT_DAYS))},
    }
    if "enabled_at" in old.get("export", {}):  # the integration's history: never dropped
        values["export"]["enabled_at"] = old["export"]["enabled_at"]
    _keep_the_rest(values, old)

    _validate(values, path, obj)
    store = _open_store(values["tokens"]["store"], obj)
    existing = _has_secret(store)
    secret: str | None = None
    moved = False
    if keep and not existing and not os.environ.get(CLIENT_SECRET_ENV, "").strip():
        # A new store: the secret moves over from the old one when that can still be read,
        # else it is asked for (on a terminal) like any new secret.
        secret = _secret_from(old.get("tokens", {}).get("store"), obj)
        moved = secret is not None
        if secret is None and stdin_is_terminal():
            ask = Asker(False)
    if secret is None:
        secret = ask_client_secret(ask, existing=existing)
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
        else f"moved the client secret to the {store.kind} store"
        if moved
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


def _keep_the_rest(values: dict[str, Any], old: dict[str, Any]) -> None:
    """Add the old file's valid keys that init does not ask for (``[members]``, ``[export]``
    beyond days, ``[qbo] batch_size``...) to ``values``: `init --force` keeps every key the
    config schema knows (README). A ``[source.<type>]`` table stays only with its type."""
    for table, body in old.items():
        target = values.setdefault(table, {})
        for key, value in body.items():
            if key in target or f"[{table}] {key}" in _FLAGS:  # init's own: the answer wins
                continue
            if table == "source" and isinstance(value, dict) and key != target.get("type"):
                continue  # the options of a source that is no longer in use
            target[key] = value


def _validate(values: dict[str, Any], path: Path, obj: CliContext) -> None:
    """Load ``values`` through ``load_config`` from a temp file next to ``path``."""
    try:
        ensure_dir(path.parent)  # 0755 at most whatever the umask: others must not swap the config
    except OSError as exc:
        raise ConfigError(
            f"cannot create the folder of {path}: {exc.strerror or exc}",
            hint=f"check that {path.parent} can be created (a file in the way, permissions)",
        ) from None
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


KEEP_WHY = (
    "init --force with options changes only what they set, and the existing config has no "
    "valid value for this one"
)


def _secret_from(setting: str | None, obj: CliContext) -> str | None:
    """The client secret in the store an old config named, when it can be read here."""
    try:
        old = open_store(setting or "auto", profile=obj.profile, data_dir=obj.data_dir)
        return old.load_client_secret()
    except Exception:  # unreachable keyring, unreadable file: ask for it instead
        return None


def _has_secret(store: CredentialStore) -> bool:
    try:
        return store.load_client_secret() is not None
    except Exception:  # an unreadable old entry: ask for a new secret
        return False


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
    rows.append(("Next step", obj.command_line("auth")))
    for label, text in rows:
        click.echo(f"{label + ':':<16}{text}")


def register(group: click.Group) -> None:
    group.add_command(init_command)
