"""Shared output helpers for commands: rich for people, one JSON object for scripts.

Results go to stdout; progress, warnings and prompts go to stderr, so ``qbsync status --json``
(or any result) can be piped without noise. Everything printed passes through ``redact`` first:
a secret that slipped into a message is masked rather than shown.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import click

from qbsync.redact import redact

if TYPE_CHECKING:
    from rich.console import Console


def _console(stderr: bool) -> Console:
    from rich.console import Console  # rich costs ~60 ms to import: only when printing

    # highlight=False: rich would colour numbers and dates in ids; plain is easier to read.
    console = Console(stderr=stderr, highlight=False)
    if not console.is_terminal:  # a pipe or a log file: do not wrap lines at 80 columns
        console = Console(stderr=stderr, highlight=False, width=200)
    return console


def stdout_console() -> Console:
    return _console(stderr=False)


def stderr_console() -> Console:
    return _console(stderr=True)


def iso(value: datetime | None) -> str | None:
    """ISO 8601 with offset (UTC), or None."""
    return value.isoformat(timespec="seconds") if value is not None else None


def when(value: datetime | None, now: datetime) -> str:
    """A date-time for people: ``2026-03-01 12:00 UTC (in 93 days)``."""
    if value is None:
        return "-"
    exact = (value - now).total_seconds()
    seconds = int(exact)
    if abs(exact) < 1:
        return f"{value.strftime('%Y-%m-%d %H:%M UTC')} (just now)"
    if abs(seconds) < 120:
        rel = f"{abs(seconds)} s"
    elif abs(seconds) < 2 * 3600:
        rel = f"{abs(seconds) // 60} min"
    elif abs(seconds) < 2 * 86400:
        rel = f"{abs(seconds) // 3600} h"
    else:
        rel = f"{abs(seconds) // 86400} days"
    relative = f"in {rel}" if exact >= 0 else f"{rel} ago"
    return f"{value.strftime('%Y-%m-%d %H:%M UTC')} ({relative})"


def _json_default(value: object) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, Decimal):
        return str(value)
    return str(value)


def _redact_values(value: Any) -> Any:
    # Redact string values, not the serialized text: redact's patterns (e.g. `code: ...`) would
    # otherwise mangle keys such as "exit_code" and break the JSON.
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: _redact_values(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_values(item) for item in value]
    return value


def emit_json(obj: dict[str, Any] | list[dict[str, Any]]) -> None:
    """One JSON document on stdout (an object; a list of records where a command lists them),
    keys sorted so the output is stable."""
    click.echo(json.dumps(_redact_values(obj), sort_keys=True, default=_json_default))


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def info(message: str) -> None:
    stderr_console().print(_escape(redact(message)), soft_wrap=True)


def warn(message: str) -> None:
    """One line, ``warning: ...``: the same shape as the log's warnings at default verbosity."""
    stderr_console().print(f"[yellow]warning:[/yellow] {_escape(redact(message))}", soft_wrap=True)


def result(message: str) -> None:
    stdout_console().print(_escape(redact(message)), soft_wrap=True)


def key_values(title: str | None, rows: Iterable[tuple[str, str]]) -> None:
    """A two-column table of labels and values on stdout.

    On a terminal rich draws it; into a pipe or a file it is plain ``label  value`` lines,
    without rich's padding (no trailing spaces for grep, diff or a cron mail).
    """
    console = stdout_console()
    if not console.is_terminal:
        pairs = [(label, redact(value)) for label, value in rows]
        width = max((len(label) for label, _ in pairs), default=0)
        lines = [title] if title else []
        lines += [f"{label:<{width}}  {value}".rstrip() for label, value in pairs]
        click.echo("\n".join(lines))
        return
    from rich.table import Table

    table = Table(title=title, show_header=False, box=None, pad_edge=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for label, value in rows:
        table.add_row(_escape(label), _escape(redact(value)))
    console.print(table)


TABLE_GAP = 3  # what table() puts between two columns on a terminal


def fit_widths(
    headers: Sequence[str], rows: Sequence[Sequence[str]], room: int
) -> list[int] | None:
    """Column widths that fit ``room`` cells, or None when every cell fits as it is.

    Words come first: every column gets its longest word (an email, a name) while that fits,
    the longest words being shortened equally when they do not; what room is left then goes
    to the columns that wrap (prose), equally. So an email is elided only when the table
    cannot show it whole, and a reason wraps at its spaces instead of squeezing the rest."""
    from rich.cells import cell_len

    columns = [
        [h, *(row[n] if n < len(row) else "" for row in rows)] for n, h in enumerate(headers)
    ]
    natural = [max(cell_len(cell) for cell in column) for column in columns]
    if sum(natural) <= room:
        return None
    words = [max(cell_len(w) for cell in column for w in [*cell.split(), ""]) for column in columns]
    floors = [1] * len(headers)
    if sum(floors) > room:
        return None  # too narrow for any layout: rich does what it can
    widths = _fill(floors, words, room)
    return _fill(widths, natural, room)


def _fill(floors: Sequence[int], caps: Sequence[int], room: int) -> list[int]:
    """Raise every column from its floor towards its cap by one common level, as far as
    ``room`` allows (water filling); what the level leaves goes one cell each, left first."""

    def at(level: int) -> list[int]:
        return [max(f, min(c, level)) for f, c in zip(floors, caps, strict=True)]

    low, high = 0, max(caps, default=0)
    while low < high:  # the highest level that fits
        mid = (low + high + 1) // 2
        if sum(at(mid)) <= room:
            low = mid
        else:
            high = mid - 1
    widths = at(low)
    spare = room - sum(widths)
    for n, (width, cap) in enumerate(zip(widths, caps, strict=True)):
        if spare > 0 and width < cap:
            widths[n] += 1
            spare -= 1
    return widths


def table(title: str | None, headers: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """A table on stdout: rich on a terminal, fitted to its width; into a pipe or a file, plain
    aligned columns, one record a line (a line break inside a cell becomes a space)."""
    rows = [[" ".join(redact(str(cell)).splitlines()) for cell in row] for row in rows]
    console = stdout_console()
    if not console.is_terminal:
        widths = [len(h) for h in headers]
        for row in rows:
            widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=False)]
        lines = [title] if title else []
        for row in [list(headers), *rows]:
            lines.append("  ".join(f"{c:<{w}}" for c, w in zip(row, widths, strict=False)).rstrip())
        click.echo("\n".join(lines))
        return
    from rich import box
    from rich.table import Table

    # A light frame (3 columns between cells, none at the edges) leaves the room to the cells.
    # Each cell wraps at spaces; a word longer than its column (an email, an id) is elided
    # with "…" rather than folded mid-word (`fit_widths` says how wide each column is).
    grid = Table(
        title=title,
        title_justify="left",
        header_style="bold",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        show_edge=False,
    )
    gaps = TABLE_GAP * (len(headers) - 1)
    fitted = fit_widths(headers, rows, console.width - gaps)
    for n, header in enumerate(headers):
        grid.add_column(_escape(header), overflow="ellipsis", width=fitted[n] if fitted else None)
    for row in rows:
        grid.add_row(*(_escape(cell) for cell in row))
    console.print(grid)


class Progress:
    """Progress on stderr: a bar on a terminal; plain lines (about every 10%) otherwise; nothing
    with ``quiet``. Use as a context manager; call ``advance(n, what)`` as records land."""

    def __init__(self, total: int, label: str, *, quiet: bool = False) -> None:
        self.total = max(total, 1)
        self.label = label
        self.quiet = quiet
        self.done = 0
        self._bar: Any = None
        self._task: Any = None
        self._next_line = 0.1

    def __enter__(self) -> Progress:
        if self.quiet:
            return self
        console = stderr_console()
        if console.is_terminal:
            from rich.progress import Progress as Bar

            self._bar = Bar(console=console, transient=True)
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=self.total)
        return self

    def advance(self, n: int, what: str = "") -> None:
        self.done += n
        if self.quiet:
            return
        if self._bar is not None:
            self._bar.update(self._task, advance=n)
            return
        if self.done / self.total >= self._next_line or self.done >= self.total:
            click.echo(f"{self.label}: {self.done}/{self.total} {what}".rstrip(), err=True)
            while self._next_line <= self.done / self.total:
                self._next_line += 0.1

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
