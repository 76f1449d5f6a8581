"""Load the emulator's seed: the packaged ``default_seed.json``, with a user's seed on top.

A seed is one JSON object. Its top-level keys replace the default's whole (a seed with
``"Customer": [...]`` replaces every default customer, and keeps the default items, clients...).
This module checks the keys the server owns (``realm_id``, ``clients``); the company data is
checked by ``store.Company``. Errors are ``ConfigError``s naming the file and the key.
"""

from __future__ import annotations

import copy
import json
from importlib import resources
from pathlib import Path
from typing import Any

from qbsync.emulator.oauth import OAuthClient
from qbsync.errors import ConfigError

DEFAULT_SEED_NAME = "default_seed.json"


def default_seed() -> dict[str, Any]:
    text = resources.files("qbsync.emulator").joinpath(DEFAULT_SEED_NAME).read_text("utf-8")
    data = json.loads(text)
    if not isinstance(data, dict):  # pragma: no cover - a packaging mistake
        raise ConfigError(f"{DEFAULT_SEED_NAME}: the seed must be a JSON object")
    return data


def load_seed(seed: dict[str, Any] | str | Path | None) -> tuple[dict[str, Any], str]:
    """The merged seed and a label for messages (the file name, or "seed")."""
    base = default_seed()
    if seed is None:
        return base, DEFAULT_SEED_NAME
    if isinstance(seed, dict):
        overrides, label = copy.deepcopy(seed), "seed"
    else:
        path = Path(seed)
        label = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"seed file {label}: cannot be read ({exc.strerror})") from exc
        try:
            overrides = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"seed file {label}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
            ) from exc
        except (RecursionError, ValueError) as exc:  # nested too deep; an integer too long
            raise ConfigError(f"seed file {label}: not valid JSON ({exc})") from exc
        if not isinstance(overrides, dict):
            raise ConfigError(f"seed file {label}: must be a JSON object with keys like 'clients'")
    base.update(overrides)
    return base, label


def check_shape(seed: dict[str, Any], label: str) -> None:
    """Top-level types, so a wrong one is named here rather than failing deep in the store."""
    if "company" in seed and not isinstance(seed["company"], dict):
        raise ConfigError(f"{label}: key 'company' must be an object")
    if "utc_offset" in seed and not isinstance(seed["utc_offset"], str):
        raise ConfigError(f"{label}: key 'utc_offset' must be a string like \"-08:00\"")


def realm_id_of(seed: dict[str, Any], label: str) -> str:
    realm = seed.get("realm_id")
    if not isinstance(realm, str) or not realm.isdigit():
        raise ConfigError(
            f"{label}: key 'realm_id' must be a string of digits, like \"9130357992221046\""
        )
    return realm


def clients_of(seed: dict[str, Any], label: str) -> list[OAuthClient]:
    raw = seed.get("clients", [])
    if not isinstance(raw, list):
        raise ConfigError(f"{label}: key 'clients' must be a list of objects")
    clients = []
    for index, entry in enumerate(raw):
        key = f"clients[{index}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{label}: key '{key}' must be an object")
        for name in ("client_id", "client_secret"):
            if not isinstance(entry.get(name), str) or not entry[name]:
                raise ConfigError(f"{label}: key '{key}.{name}' must be a non-empty string")
        uris = entry.get("redirect_uris")
        if (
            not isinstance(uris, list)
            or not uris
            or not all(isinstance(u, str) and u for u in uris)
        ):
            raise ConfigError(
                f"{label}: key '{key}.redirect_uris' must be a non-empty list of URLs"
            )
        for uri in uris:
            if not uri.startswith(("http://", "https://")):
                raise ConfigError(
                    f"{label}: key '{key}.redirect_uris' holds {uri!r}, not an http(s) URL"
                )
        deny = entry.get("deny", False)
        if not isinstance(deny, bool):
            raise ConfigError(f"{label}: key '{key}.deny' must be true or false")
        unknown = set(entry) - {"client_id", "client_secret", "redirect_uris", "deny"}
        if unknown:
            raise ConfigError(
                f"{label}: key '{key}' has unknown fields: {', '.join(sorted(unknown))}"
            )
        clients.append(OAuthClient(entry["client_id"], entry["client_secret"], tuple(uris), deny))
    return clients
