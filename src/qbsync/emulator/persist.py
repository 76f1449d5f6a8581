"""``serve --data FILE``: keep the emulator's state across restarts.

What is kept: the company (every entity, deleted-invoice tombstones, the Id and DocNumber
sequences, CompanyInfo, Preferences), the requestid replies, the OAuth clients, codes and grants
(access and refresh tokens), and the clock offset. What is not: the request log, pending faults and
rate-limit windows (a restarted QBO forgets nothing of the first kind and the rest is per process).

The file is JSON holding live tokens, so it is written mode 0600, atomically (a temporary file in
the same folder, fsync, ``os.replace``, fsync of the folder): a crash leaves the old file or the new
one, never half of one. It is written after each request that may change state (skipped when
nothing changed) and when the emulator stops. Money stays exact: a Decimal is written as
``{"$decimal": "25.00"}``.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qbsync.emulator.api import ApiResult
from qbsync.errors import ConfigError

if TYPE_CHECKING:
    from qbsync.emulator.server import Emulator

FORMAT = "qbsync-emulator-data"
VERSION = 1
_DECIMAL = "$decimal"


def _encode(value: Any) -> Any:
    if isinstance(value, Decimal):
        return {_DECIMAL: str(value)}
    if isinstance(value, ApiResult):
        return {"status": value.status, "body": value.body}
    raise TypeError(f"cannot save a {type(value).__name__}")


def _decode(obj: dict[str, Any]) -> Any:
    if len(obj) == 1 and isinstance(obj.get(_DECIMAL), str):
        return Decimal(obj[_DECIMAL])
    return obj


def snapshot(emu: Emulator) -> bytes:
    """The whole state as JSON bytes (company lock, then OAuth lock; both briefly)."""
    state = {
        "format": FORMAT,
        "version": VERSION,
        "clock_offset": emu.clock.offset,
        "company": emu.company.export_state(),
        "oauth": emu.oauth.export_state(),
    }
    return json.dumps(state, default=_encode, sort_keys=True).encode("utf-8")


def restore(emu: Emulator, data: bytes, label: str) -> None:
    """Load a snapshot into a fresh emulator; ConfigError naming the file when it is not one."""
    try:
        state = json.loads(data.decode("utf-8"), object_hook=_decode)
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise ValueError("not an emulator data file")
        if state.get("version") != VERSION:
            raise ValueError(f"version {state.get('version')!r}, this emulator reads {VERSION}")
        company = state["company"]
        company["requestids"] = {
            key: ApiResult(int(value["status"]), value["body"])
            for key, value in company["requestids"].items()
        }
        emu.company.import_state(company)
        emu.oauth.import_state(state["oauth"])
        offset = float(state["clock_offset"])
        if offset > emu.clock.offset:
            emu.clock.advance(offset - emu.clock.offset)
    except (UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(
            f"data file {label}: cannot be loaded ({exc})",
            hint="move it away to start again from the seed",
        ) from exc


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``: temp file (0600) + fsync + os.replace + fsync of the folder."""
    folder = path.parent
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # not every platform can open a folder
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


class DataFile:
    """Where an emulator keeps its state; ``save`` is cheap when nothing changed."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._last: bytes | None = None

    def load_into(self, emu: Emulator) -> bool:
        """Restore from the file if it exists; True when it did."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise ConfigError(f"data file {self.path}: cannot be read ({exc.strerror})") from exc
        restore(emu, data, str(self.path))
        self._last = data
        return True

    def save(self, emu: Emulator) -> None:
        # One writer at a time, snapshot and write together, so an older state never lands
        # after a newer one.
        with self._lock:
            data = snapshot(emu)
            if data == self._last:
                return
            write_atomic(self.path, data)
            self._last = data
