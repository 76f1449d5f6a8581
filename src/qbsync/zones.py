"""This machine's time zone as a zoneinfo zone, with its daylight-saving rules.

``datetime.now().astimezone().tzinfo`` is today's fixed UTC offset: a naive time from before a
DST change read with it lands an hour off (New York in November reads 2024-11-01T23:30 as -05:00,
so it becomes 00:30 on 11-02 in EDT), and the same source row gets another instant, hence another
fingerprint, in summer and in winter. The zone is found the way the C library finds it:

1. ``TZ``: empty is UTC; ``:Area/City`` or ``Area/City`` a zone name; an absolute path a zone file.
2. else ``/etc/localtime``: its link target names the zone (``.../zoneinfo/Europe/Paris``); a
   plain file is read as a zone file.
3. else (a POSIX rule string in TZ such as ``EST5EDT4,M3.2.0,M11.1.0``, no zone files) today's
   fixed offset, with a warning naming ``[export] timezone``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

log = logging.getLogger(__name__)

LOCALTIME = Path("/etc/localtime")
_warned: set[str] = set()  # one warning per process for each unusable setting


def machine_zone(environ: Mapping[str, str] | None = None, localtime: Path = LOCALTIME) -> tzinfo:
    """This machine's zone (see the module docstring)."""
    env = os.environ if environ is None else environ
    setting = env.get("TZ")
    if setting is not None:
        zone = _from_tz(setting)
        if zone is not None:
            return zone
        why = f"TZ={setting!r} names no zone this machine knows"
    else:
        zone = _from_localtime(localtime)
        if zone is not None:
            return zone
        why = f"{localtime} names no zone"
    fixed = datetime.now().astimezone().tzinfo or UTC
    if why not in _warned:
        _warned.add(why)
        log.warning(
            "%s; naive times are read at today's UTC offset (%s), which is wrong across a "
            'daylight-saving change: set [export] timezone (e.g. "America/New_York")',
            why,
            fixed,
        )
    return fixed


def _from_tz(setting: str) -> tzinfo | None:
    name = setting.strip().removeprefix(":")
    if not name:
        return UTC  # TZ set but empty: the C library reads UTC
    if name.startswith("/"):
        return _from_file(Path(name))
    return _named(name)


def _from_localtime(path: Path) -> tzinfo | None:
    try:
        target = os.readlink(path)
    except OSError:
        target = ""
    if target:
        resolved = (path.parent / target).resolve().as_posix()
        marker = "/zoneinfo/"
        if marker in resolved:
            zone = _named(resolved.split(marker, 1)[1])
            if zone is not None:
                return zone
    return _from_file(path)  # a copied zone file: its rules, without a name


def _named(name: str) -> tzinfo | None:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError, OSError):  # ZoneInfoNotFoundError is a KeyError
        return None


def _from_file(path: Path) -> tzinfo | None:
    try:
        with path.open("rb") as handle:
            return ZoneInfo.from_file(handle, key=path.name)
    except (OSError, ValueError):
        return None
