"""QBO's query language, second half: checking a parsed query against an entity's fields, and
running it over stored rows (pure: no store, no HTTP). The parser is in query.py.

Literals are read strictly (ASCII digits, finite plain decimals, ``YYYY-MM-DD`` dates): a
value QBO would refuse is refused here with the QueryValidationError fault rather than being
coerced into something that happens to match, and no literal can make the emulator do unbounded
work (``Id = '1e999999999'`` would otherwise build a billion-digit integer under the company lock).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from qbsync.emulator.query import (
    BOOL,
    DATE,
    DATETIME,
    DECIMAL,
    EMAIL,
    ID,
    REF,
    STR,
    Condition,
    FieldSpec,
    Query,
    QueryError,
)


def validate(query: Query, spec: FieldSpec, selectable: Collection[str] | None = None) -> None:
    """Refuse fields that are unknown or not filterable/sortable for the entity (QBO: 4001).

    ``selectable``: the entity's property names, which a select list may name (any property,
    filterable or not); None accepts any name."""
    for name in query.fields:
        if name != "*" and selectable is not None and name.split(".")[0] not in selectable:
            raise QueryError(
                f"QueryValidationError: property '{name}' is not a property of {query.entity}",
                name,
            )
    for cond in query.where:
        kind = spec.get(cond.field)
        if kind is None:
            raise not_queryable(cond.field, query.entity)
        for value in cond.values:
            coerce(kind, value, cond.field)
        if cond.op == "LIKE" and kind not in (STR, EMAIL):
            raise QueryError(
                f"QueryValidationError: LIKE is not supported on property {cond.field}", cond.field
            )
    for name, _ in query.order_by:
        if name not in spec:
            raise not_queryable(name, query.entity)


def not_queryable(name: str, entity: str) -> QueryError:
    return QueryError(
        # QBO's words, code 4001 (ruckus/quickbooks-ruby issue 403).
        f"QueryValidationError: property '{name}' is not queryable",
        name,
    )


def _parse_datetime(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        # QBO reads an offset-less time in the company's zone; the emulator's zone is UTC here
        # unless the value carries one. Clients should always send an offset.
        value = value.replace(tzinfo=UTC)
    return value


# What QBO's literals look like. ASCII only: Python's \d and int() also take other scripts'
# digits, and a plain decimal has no exponent ('1e999999999' is junk, and costly to expand).
_DECIMAL_TEXT = re.compile(r"-?[0-9]{1,20}(?:\.[0-9]{1,10})?")
_ID_TEXT = re.compile(r"-?[0-9]{1,20}")  # Ids are integers: '1.5' or '1e3' is no Id
_DATE_TEXT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATETIME_TEXT = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"(?:T[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?(?:Z|[+-][0-9]{2}:[0-9]{2})?)?"
)


def _text(value: Any, pattern: re.Pattern[str]) -> str:
    text = str(value)
    if pattern.fullmatch(text) is None:
        raise ValueError(text)
    return text


def coerce(kind: str, value: Any, name: str = "") -> Any:
    """Turn a query literal or a stored value into something comparable for ``kind``."""
    try:
        if kind == BOOL:
            if isinstance(value, bool):
                return value
            raise ValueError
        if isinstance(value, bool):
            raise ValueError
        if kind == DECIMAL and isinstance(value, Decimal) and value.is_finite():
            return value  # a stored amount, or a literal the tokenizer already read
        if kind == DECIMAL:
            # No NaN or Infinity: ordering against NaN raises, and QBO has no such amount.
            return Decimal(_text(value, _DECIMAL_TEXT))
        if kind in (ID, REF):
            return int(_text(value, _ID_TEXT))
        if kind == DATETIME:
            return _parse_datetime(_text(value, _DATETIME_TEXT))
        if kind == DATE:
            return date.fromisoformat(_text(value, _DATE_TEXT))
        if not isinstance(value, str):
            raise ValueError
        return value
    except (ValueError, InvalidOperation, TypeError) as exc:
        raise QueryError(
            f"QueryValidationError: value {value!r} is not valid for property {name}", name
        ) from exc


def field_value(row: Mapping[str, Any], path: str, kind: str) -> Any:
    """The stored value a query field refers to, or None when the record has none."""
    current: Any = row
    for part in path.split("."):
        if not isinstance(current, Mapping):
            return None
        current = current.get(part)
    if kind == REF and isinstance(current, Mapping):
        current = current.get("value")
    if kind == EMAIL and isinstance(current, Mapping):
        # `PrimaryEmailAddr = '...'` compares the address (qbo-facts.md).
        current = current.get("Address")
    if current is None:
        return None
    return coerce(kind, current, path)


def like_matcher(pattern: str) -> Callable[[str], bool]:
    """LIKE with ``%`` as the only wildcard (qbo-facts.md; ``_`` is literal), case-insensitive.

    Matched piece by piece with ``str.find``, never with a backtracking regex: a regex such as
    ``.*a.*a.*a.*b`` against a 400-character name took seconds per row (exponentially more per
    ``%``) while holding the company lock, freezing the whole emulator.
    """
    parts = pattern.casefold().split("%")
    if len(parts) == 1:
        return lambda value: value.casefold() == parts[0]
    first, *middle, last = parts

    def test(value: str) -> bool:
        text = value.casefold()
        if not text.startswith(first):
            return False
        pos = len(first)
        for part in middle:  # leftmost matches leave the most room for what follows
            found = text.find(part, pos)
            if found < 0:
                return False
            pos = found + len(part)
        return len(text) - len(last) >= pos and text.endswith(last)

    return test


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "<": lambda a, b: a < b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    ">=": lambda a, b: a >= b,
}


def predicate(cond: Condition, spec: FieldSpec) -> Callable[[Mapping[str, Any]], bool]:
    """A test for one condition, with its literals converted once (queries scan every row)."""
    kind = spec[cond.field]
    name = cond.field
    if cond.op == "LIKE":
        like_test = like_matcher(cond.values[0])

        def like(row: Mapping[str, Any]) -> bool:
            actual = field_value(row, name, kind)
            return actual is not None and like_test(actual)

        return like
    wanted = [coerce(kind, v, name) for v in cond.values]
    if cond.op in ("=", "IN"):
        # String `=` is case-sensitive here (stricter than QBO may be; docs/emulator-rules.md).
        def equal(row: Mapping[str, Any]) -> bool:
            actual = field_value(row, name, kind)
            return actual is not None and actual in wanted

        return equal
    compare, target = _COMPARE[cond.op], wanted[0]

    def ordered(row: Mapping[str, Any]) -> bool:
        actual = field_value(row, name, kind)
        return actual is not None and compare(actual, target)

    return ordered


def matches(row: Mapping[str, Any], cond: Condition, spec: FieldSpec) -> bool:
    return predicate(cond, spec)(row)


def run(query: Query, rows: Iterable[Mapping[str, Any]], spec: FieldSpec) -> tuple[list[Any], int]:
    """Filter, sort and page ``rows``; returns (page, total matching before paging)."""
    tests = [predicate(c, spec) for c in query.where]
    selected = [r for r in rows if all(test(r) for test in tests)]
    # Default order: by Id, as QBO's results usually come (unverified; clients must not rely on it).
    keys = query.order_by or (("Id", False),)
    for name, desc in reversed(keys):
        kind = spec.get(name, STR)
        present = [r for r in selected if field_value(r, name, kind) is not None]
        missing = [r for r in selected if field_value(r, name, kind) is None]
        present.sort(key=_sort_key(name, kind), reverse=desc)
        selected = present + missing
    total = len(selected)
    start = query.start_position - 1
    return selected[start : start + query.max_results], total


def _sort_key(name: str, kind: str) -> Callable[[Mapping[str, Any]], Any]:
    def key(row: Mapping[str, Any]) -> Any:
        return field_value(row, name, kind)

    return key


def project(row: Mapping[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """Apply a select list: ``*`` keeps everything; named fields keep those plus Id."""
    if "*" in fields:
        return dict(row)
    kept = {"Id", "domain", *fields}
    out = {k: v for k, v in row.items() if k in kept}
    out["sparse"] = True
    return out
