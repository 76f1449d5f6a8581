"""QBO query text: quoting values, and the paged statements ``QboClient.query`` sends. Pure.

QBO's query language takes string values in single quotes; a quote inside is written ``\\'``
(qbo-facts.md "Query"; python-quickbooks's ``build_where_clause`` does the same). A backslash is
the escape character, so a literal backslash is written ``\\\\``: without that, a value ending in a
backslash would swallow the closing quote. How QBO itself reads ``\\\\`` is unverified (no capture);
names with a backslash are rare, and the caller should match on the rows it reads back anyway.

Control characters (tab, newline, NUL...) are refused: QBO names cannot contain a tab or newline
(Intuit Customer reference), so such a value can never match, and a newline in a query is a way to
smuggle in another clause.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime

from qbsync.errors import QboInvalidRequestError

PAGE_SIZE = 1000  # QBO's MAXRESULTS maximum

# A quoted value, with backslash escapes inside: what to skip when reading a statement's words.
_QUOTED = re.compile(r"'(?:\\.|[^'\\])*'")


def quote(value: str) -> str:
    """``value`` as a QBO query string literal: ``O'Brien`` -> ``'O\\'Brien'``.

    Raises ``QboInvalidRequestError`` (a ``ValueError``) for a non-string or a value holding a
    control character (Unicode category Cc: tab, newline, NUL, DEL...). Everything else (colons,
    ``%``, emoji, right-to-left text, combining marks) goes through unchanged. ``%`` is LIKE's
    wildcard: escape nothing there, since QBO documents no escape for it.
    """
    if not isinstance(value, str):
        raise QboInvalidRequestError(f"quote() takes a str, not {type(value).__name__}")
    bad = sorted({f"U+{ord(c):04X}" for c in value if unicodedata.category(c) == "Cc"})
    if bad:
        raise QboInvalidRequestError(
            f"a QBO query value cannot hold control characters ({', '.join(bad)})"
        )
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def paged_statement(sql: str) -> str:
    """The statement to page through: checked, with ``ORDERBY Id`` added unless it orders or counts.

    QBO promises no order without ORDERBY, and pages of an unordered result can skip or repeat
    rows; Id is sortable on every entity qbsync reads.
    """
    bare = _QUOTED.sub("''", sql)  # the statement outside its values ('Maxresults Ltd' is a name)
    if re.search(r"(?i)\b(startposition|maxresults)\b", bare):
        raise QboInvalidRequestError("query() pages by itself: leave STARTPOSITION/MAXRESULTS out")
    statement = sql.strip()
    if not re.search(r"(?i)\borderby\b", bare) and not re.search(r"(?i)\bcount\s*\(", bare):
        statement += " ORDERBY Id"
    return statement


def page_of(statement: str, start: int, page_size: int) -> str:
    """One page of a paged statement; STARTPOSITION is 1-based."""
    return f"{statement} STARTPOSITION {start} MAXRESULTS {page_size}"


def check_page_size(page_size: int) -> None:
    if not isinstance(page_size, int) or not 0 < page_size <= PAGE_SIZE:
        raise QboInvalidRequestError(f"page_size must be 1 to {PAGE_SIZE}, not {page_size!r}")


def parse_qbo_time(text: object) -> datetime | None:
    """A QBO time (``2015-07-28T11:03:32.640-07:00``, an answer's ``time`` or a record's
    ``MetaData.LastUpdatedTime``) as an aware datetime; None when it is not one."""
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None
