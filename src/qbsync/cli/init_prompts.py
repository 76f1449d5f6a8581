"""The prompting helpers of `qbsync init`: each value from its flag, else a prompt (or, with
--yes, the default), the answer checks, the member-source questions and the hidden client-secret
prompt."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from qbsync.auth.credentials import CLIENT_SECRET_ENV
from qbsync.config.checks import SOURCE_TYPES, environment_problem, redirect_uri_problem
from qbsync.errors import ConfigError, UsageError


class Asker:
    """Take each value from its flag, else prompt (or, with --yes, use the default or fail)."""

    def __init__(self, yes: bool, *, why: str = "--yes never prompts") -> None:
        self.yes = yes
        self.why = why  # why a missing value is not asked for

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
                raise UsageError(f"missing {flag}: {self.why}", hint=f"pass {flag}")
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

    def optional(
        self,
        given: str | None,
        *,
        flag: str,
        text: str,
        default: str | None,
        check: Callable[[str], str],
    ) -> str | None:
        """A value that may be left out: empty for none, or '-' to clear the kept ``default``."""
        none = "'-' for none" if default else "empty for none"
        return self.value(
            given, flag=flag, text=f"{text} ({none})", default=default, required=False, check=check
        )

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


def ask_environment(value: str) -> str:
    problem = environment_problem(value)
    if problem:
        raise click.BadParameter(problem)
    return value.strip()


def redirect_checker(environment: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        problem = redirect_uri_problem(value, environment)
        if problem:
            raise click.BadParameter(problem)
        return value.strip()

    return check


def ask_client_id(value: str) -> str:
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


def source_values(
    ask: Asker,
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
        invoices_path = ask.optional(
            invoices,
            flag="--invoices",
            text="Invoices CSV file",
            default=old.get("invoices"),
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
    env_name = ask.optional(
        token_env,
        flag="--token-env",
        text="Name of the env var holding the platform API token",
        default=old.get("token_env"),
        check=_optional,
    )
    if env_name:
        values["token_env"] = env_name
    return values


def ask_client_secret(ask: Asker, *, existing: bool) -> str | None:
    """The secret to store, or None to keep the one already stored."""
    from_env = os.environ.get(CLIENT_SECRET_ENV, "").strip()
    if from_env:
        return from_env
    if ask.yes:
        if existing:
            return None
        raise UsageError(
            f"missing client secret: {ask.why} and {CLIENT_SECRET_ENV} is not set",
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
