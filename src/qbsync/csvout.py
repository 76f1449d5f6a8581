"""CSV files qbsync writes for people (reports, event logs): safe to open in a spreadsheet.

A cell starting with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return, which some
spreadsheets skip before reading one of those) is read by Excel, LibreOffice and Google Sheets
as a formula: a member named ``=HYPERLINK(...)`` would become a live link or a command (OWASP,
"CSV Injection"). Such cells are written with a leading ``'``, which spreadsheets show as text and
hide. Numbers stay numbers: a Decimal is written in plain digits (``-12.50``, never ``-1.25E+1``)
and is never prefixed, nor is text that is a plain decimal number.

What qbsync sends to QBO is not touched (QBO shows text as text); only CSV output goes through
here. The demo's sample members.csv / invoices.csv are source data, not output, and do not.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path

from qbsync.exactjson import plain
from qbsync.files import atomic_write

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?")


def safe_cell(value: object) -> str:
    """The text of one cell: None is empty, a Decimal plain digits, formula-like text quoted."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return plain(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    text = str(value)
    if text.startswith(FORMULA_STARTS) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def to_csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """The CSV text (RFC 4180 quoting, CRLF line ends) of ``header`` and ``rows``, every cell
    through ``safe_cell`` (the header too: it may carry a source's column names)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([safe_cell(h) for h in header])
    for row in rows:
        writer.writerow([safe_cell(cell) for cell in row])
    return buffer.getvalue()


def write_csv(
    path: Path, header: Sequence[str], rows: Iterable[Sequence[object]], *, mode: int = 0o600
) -> None:
    """Write ``to_csv(header, rows)`` to ``path`` atomically (UTF-8 with a BOM, which Excel
    needs to read UTF-8; mode 0600: reports name members)."""
    atomic_write(path, ("\ufeff" + to_csv(header, rows)).encode("utf-8"), mode=mode)


def csv_rows(rows: Iterable[Sequence[object]]) -> str:
    """CSV lines (no header) for appending to a file ``to_csv`` began, cells as ``safe_cell``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow([safe_cell(cell) for cell in row])
    return buffer.getvalue()
