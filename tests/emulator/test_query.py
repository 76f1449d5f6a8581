"""The QBO query language: parsing, escapes, errors and evaluation (pure, no company)."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from qbsync.emulator import query as q
from qbsync.emulator import query_eval as qe

SPEC = {
    "Id": q.ID,
    "DisplayName": q.STR,
    "PrimaryEmailAddr": q.EMAIL,
    "Active": q.BOOL,
    "Balance": q.DECIMAL,
    "TxnDate": q.DATE,
    "CustomerRef": q.REF,
    "MetaData.LastUpdatedTime": q.DATETIME,
}

ROWS = [
    {
        "Id": "1",
        "DisplayName": "Emily Platt",
        "PrimaryEmailAddr": {"Address": "Emily@Example.com"},
        "Active": True,
        "Balance": Decimal("10.00"),
        "TxnDate": "2026-01-05",
        "CustomerRef": {"value": "9"},
        "MetaData": {"LastUpdatedTime": "2026-01-05T10:00:00-08:00"},
    },
    {
        "Id": "2",
        "DisplayName": "O'Brien Tools",
        "Active": False,
        "Balance": Decimal("0.30"),
        "TxnDate": "2026-02-01",
        "CustomerRef": {"value": "10"},
        "MetaData": {"LastUpdatedTime": "2026-01-05T19:00:00+00:00"},
    },
    {
        "Id": "10",
        "DisplayName": "emily platt",
        "Active": True,
        "Balance": Decimal("250"),
        "TxnDate": "2026-03-01",
        "CustomerRef": {"value": "9"},
        "MetaData": {"LastUpdatedTime": "2026-01-06T00:00:00+00:00"},
    },
]


def ids(text: str, rows: list[dict] | None = None) -> list[str]:
    parsed = q.parse(text)
    qe.validate(parsed, SPEC)
    page, _ = qe.run(parsed, ROWS if rows is None else rows, SPEC)
    return [r["Id"] for r in page]


def test_parse_full_statement_case_insensitive_keywords() -> None:
    parsed = q.parse(
        "SeLeCt * FROM Customer wHeRe Active = true AnD DisplayName LIKE 'E%' "
        "ORDERBY DisplayName DESC StartPosition 2 MAXRESULTS 5"
    )
    assert parsed.entity == "Customer"
    assert not parsed.count
    assert parsed.where == (
        q.Condition("Active", "=", (True,)),
        q.Condition("DisplayName", "LIKE", ("E%",)),
    )
    assert parsed.order_by == (("DisplayName", True),)
    assert (parsed.start_position, parsed.max_results) == (2, 5)


def test_parse_defaults_count_and_select_list() -> None:
    assert q.parse("select * from Item").max_results == 100
    assert q.parse("select * from Item").start_position == 1
    assert q.parse("SELECT COUNT(*) FROM Customer").count
    assert q.parse("SELECT *, Sku FROM Item").fields == ("*", "Sku")
    assert q.parse("select Id, DisplayName from Customer order by Id").order_by == (("Id", False),)


def test_escaped_quote_inside_value() -> None:
    parsed = q.parse(r"select * from Customer where DisplayName = 'O\'Brien Tools'")
    assert parsed.where[0].values == ("O'Brien Tools",)
    assert ids(r"select * from Customer where DisplayName = 'O\'Brien Tools'") == ["2"]


def test_in_list_and_booleans_any_case() -> None:
    parsed = q.parse("select * from Customer where Active IN (True, false)")
    assert parsed.where[0] == q.Condition("Active", "IN", (True, False))
    assert ids("select * from Customer where Id in ('1', '10')") == ["1", "10"]


@pytest.mark.parametrize(
    "text",
    [
        "select * from Customer where DisplayName = 'a' OR Id = '1'",
        "select * from Customer where DisplayName = 'unterminated",
        "select * Customer",
        "select * from Customer where",
        "select * from Customer maxresults 1001",
        "select * from Customer maxresults 0",
        "select * from Customer startposition 0",
        "select * from Customer where Id != '1'",
        "select * from Customer limit 5",
        "delete from Customer",
        "",
    ],
)
def test_parse_errors(text: str) -> None:
    with pytest.raises(q.QueryError):
        q.parse(text)


def test_or_is_a_parse_error_not_an_empty_result() -> None:
    with pytest.raises(q.QueryError, match="OR"):
        q.parse("select * from Customer where Id = '1' or Id = '2'")


@pytest.mark.parametrize(
    ("text", "element"),
    [
        ("select * from Customer where Notes = 'x'", "Notes"),
        (
            "select * from Customer where PrimaryEmailAddr.Address = 'a@b.c'",
            "PrimaryEmailAddr.Address",
        ),
        ("select * from Customer orderby Notes", "Notes"),
    ],
)
def test_unknown_or_non_filterable_field_is_named(text: str, element: str) -> None:
    with pytest.raises(q.QueryError) as info:
        qe.validate(q.parse(text), SPEC)
    assert info.value.element == element
    assert element in info.value.detail


def test_wrong_value_types_are_refused() -> None:
    for text in (
        "select * from Customer where Active = 'yes'",
        "select * from Customer where Balance > 'lots'",
        "select * from Customer where MetaData.LastUpdatedTime > 'yesterday'",
        "select * from Customer where Active LIKE 'tr%'",
    ):
        with pytest.raises(q.QueryError):
            qe.validate(q.parse(text), SPEC)


def test_string_equality_is_case_sensitive_like_is_not() -> None:
    assert ids("select * from Customer where DisplayName = 'Emily Platt'") == ["1"]
    assert ids("select * from Customer where DisplayName LIKE 'EMILY%'") == ["1", "10"]
    assert ids("select * from Customer where DisplayName LIKE '%platt'") == ["1", "10"]
    assert ids("select * from Customer where DisplayName LIKE '%Brien%'") == ["2"]


def test_like_treats_underscore_literally() -> None:
    assert ids("select * from Customer where DisplayName LIKE 'Emily_Platt'") == []


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("%", "", True),
        ("a%c", "ac", True),
        ("a%c", "abc", True),
        ("ab%bc", "abc", False),  # the pieces may not overlap
        ("ab%bc", "abbc", True),
        ("%a%a%", "a", False),
        ("%abc", "xabcabc", True),
        ("ABC", "abc", True),
        ("a_c", "abc", False),
        ("abc", "abcd", False),
    ],
)
def test_like_matching(pattern: str, value: str, expected: bool) -> None:
    assert qe.like_matcher(pattern)(value) is expected


def test_like_with_many_wildcards_takes_no_time() -> None:
    # A backtracking regex took seconds for 3 wildcards and hung for 5, holding the company lock.
    started = time.monotonic()
    assert not qe.like_matcher("%a" * 200 + "%b")("a" * 500)
    assert time.monotonic() - started < 0.1


def test_email_field_compares_the_address_case_sensitively() -> None:
    assert ids("select * from Customer where PrimaryEmailAddr = 'Emily@Example.com'") == ["1"]
    assert ids("select * from Customer where PrimaryEmailAddr = 'emily@example.com'") == []


def test_numeric_decimal_date_ref_and_datetime_comparisons() -> None:
    assert ids("select * from Customer where Balance > '0.3'") == ["1", "10"]
    assert ids("select * from Customer where Balance >= 0.30") == ["1", "2", "10"]
    assert ids("select * from Customer where Id > '2'") == ["10"]  # numeric, not "10" < "2"
    assert ids("select * from Customer where TxnDate <= '2026-02-01'") == ["1", "2"]
    assert ids("select * from Customer where CustomerRef = '9'") == ["1", "10"]
    # 10:00-08:00 is 18:00 UTC: earlier than 19:00+00:00 although the text sorts later.
    assert ids(
        "select * from Customer where MetaData.LastUpdatedTime > '2026-01-05T18:30:00Z'"
    ) == ["2", "10"]


def test_ordering_and_paging() -> None:
    assert ids("select * from Customer") == ["1", "2", "10"]  # default by numeric Id
    assert ids("select * from Customer orderby Balance desc") == ["10", "1", "2"]
    assert ids("select * from Customer orderby Id startposition 2 maxresults 1") == ["2"]
    parsed = q.parse("select * from Customer startposition 3 maxresults 5")
    page, total = qe.run(parsed, ROWS, SPEC)
    assert [r["Id"] for r in page] == ["10"]
    assert total == 3


def test_project_keeps_named_fields_and_id() -> None:
    row = ROWS[0]
    assert qe.project(row, ("*",)) == row
    assert qe.project(row, ("DisplayName",)) == {
        "Id": "1",
        "DisplayName": "Emily Platt",
        "sparse": True,
    }
