"""Views of a run record (sync/runrecord.py) shared by the syncing commands: `-q`'s stderr lines,
previews that never cut silently, progress, and the exit code the record carries."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

import click

from qbsync.cli.context import CliContext

if TYPE_CHECKING:
    from qbsync.config import Config
    from qbsync.errors import QboUnavailableError
    from qbsync.sync.runrecord import RunRecord

SHOWN = 10  # preview rows per kind on a terminal; the rest are counted, --json has all


def shown(rows: Sequence[tuple[str, ...]], limit: int = SHOWN) -> list[tuple[str, ...]]:
    """The first ``limit`` rows, then one row saying how many more (never cut silently)."""
    if len(rows) <= limit:
        return list(rows)
    width = len(rows[0])
    more = ("",) * (width - 1)
    return [*rows[:limit], (f"and {len(rows) - limit} more (--json for all)", *more)]


@contextlib.contextmanager
def progress(
    obj: CliContext, total: int, label: str, *, as_json: bool
) -> Iterator[Callable[[int, str], None]]:
    if total <= 0:

        def nothing(n: int, what: str = "") -> None:
            return None

        yield nothing
        return
    from qbsync.cli import render

    with render.Progress(total, label, quiet=obj.quiet or as_json) as bar:
        yield bar.advance


def quiet_problems(record: RunRecord) -> None:
    """`-q`: each problem on its own stderr line (cron mails them); nothing when there is none."""
    from qbsync.redact import redact
    from qbsync.sync.runrecord import quiet_lines

    obj = CliContext.get()
    for line in quiet_lines(record):
        click.echo(redact(obj.localize(line) or line), err=True)


def with_unavailable_hint(config: Config, exc: QboUnavailableError) -> QboUnavailableError:
    """QBO could not be reached: the same next step `status --check` gives (a running emulator
    that failed is not asked whether it runs)."""
    from qbsync.auth.probe import unavailable_hint
    from qbsync.errors import QboUnavailableError as Unavailable

    if type(exc) is Unavailable and "hint" not in vars(exc):
        hint = unavailable_hint(config.qbo.endpoints, exc)
        if hint is not None:
            exc.hint = hint
    return exc
