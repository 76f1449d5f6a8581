"""quote(): QBO query literals, checked as text and against the emulator's query parser over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from qbsync.emulator import Emulator
from qbsync.errors import QboInvalidRequestError
from qbsync.qbo.client import QboClient
from qbsync.qbo.query import paged_statement, quote
from testkit import connect_client


@pytest.mark.parametrize(
    ("value", "quoted"),
    [
        ("Acme", "'Acme'"),
        ("", "''"),
        ("O'Brien", r"'O\'Brien'"),
        ("''", r"'\'\''"),
        ("Back\\slash", r"'Back\\slash'"),
        ("Trail\\", r"'Trail\\'"),  # the closing quote is not swallowed
        ("x\\'y", r"'x\\\'y'"),
        ("Ratio: 3:1", "'Ratio: 3:1'"),
        ("50% off", "'50% off'"),
        ("Café 🎉", "'Café 🎉'"),
        ("مكتبة الشروق\u200f", "'مكتبة الشروق\u200f'"),  # right-to-left text and mark
        ("' OR Id > '0", r"'\' OR Id > \'0'"),
    ],
)
def test_quote_wraps_and_escapes_quotes_and_backslashes(value: str, quoted: str) -> None:
    assert quote(value) == quoted


@pytest.mark.parametrize("value", ["a\tb", "a\nb", "a\rb", "nul\x00", "del\x7f", "c1\x85"])
def test_quote_refuses_control_characters(value: str) -> None:
    with pytest.raises(QboInvalidRequestError, match="control characters") as info:
        quote(value)
    assert isinstance(info.value, ValueError)


def test_quote_refuses_what_is_not_a_string() -> None:
    with pytest.raises(QboInvalidRequestError):
        quote(7)  # type: ignore[arg-type]


def test_a_quoted_value_never_looks_like_paging_to_the_client() -> None:
    value = quote("Maxresults 'Startposition' Ltd")
    sql = f"select * from Customer where CompanyName = {value}"
    assert paged_statement(sql) == f"{sql} ORDERBY Id"


# --- against the emulator's parser, over real HTTP --------------------------------------------

FOUND = [
    "O'Brien & Sons",
    "It's 'quoted' twice",
    "Ratio: 3:1 Co",
    "Café 🎉 Club",
    "مكتبة الشروق\u200f",
    "עמותת הספר",
    "50% Off Ltd",
]
# The emulator reads only \' inside a value and keeps every other backslash as it is, so \\ stays
# two characters there; quote() writes a backslash as \\ so that a value ending in one cannot
# swallow the closing quote. How QBO reads \\ is unverified (qbo-facts.md has no capture).
BACKSLASHED = ["Back\\slash Co", "Trailing \\", "x\\'y Co"]


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Emulator, QboClient]]:
    with Emulator(limits=False) as emu:
        for i, name in enumerate(FOUND + BACKSLASHED):
            emu.company.create("Customer", {"DisplayName": f"Quote Test {i}", "CompanyName": name})
        yield emu, connect_client(emu, Path(tmp_path_factory.mktemp("quote")))


@pytest.mark.parametrize("name", FOUND)
def test_the_emulator_parses_the_quoted_value_and_finds_the_record(
    emulator: tuple[Emulator, QboClient], name: str
) -> None:
    _, client = emulator
    rows = client.query(f"select * from Customer where CompanyName = {quote(name)}")
    assert [r["CompanyName"] for r in rows] == [name]


@pytest.mark.parametrize("name", BACKSLASHED)
def test_the_emulator_parses_a_quoted_backslash_without_error(
    emulator: tuple[Emulator, QboClient], name: str
) -> None:
    _, client = emulator
    # A parse error would be a 4000 fault (QboValidationError); a query answered is accepted.
    assert isinstance(
        client.query(f"select * from Customer where CompanyName = {quote(name)}"), list
    )


@pytest.mark.parametrize("name", BACKSLASHED)
def test_the_emulator_finds_a_record_named_with_a_backslash(
    emulator: tuple[Emulator, QboClient], name: str
) -> None:
    _, client = emulator
    rows = client.query(f"select * from Customer where CompanyName = {quote(name)}")
    assert [r["CompanyName"] for r in rows] == [name]


def test_like_with_a_quoted_prefix_finds_the_record(emulator: tuple[Emulator, QboClient]) -> None:
    _, client = emulator
    pattern = quote("O'Brien%")
    rows = client.query(f"select * from Customer where CompanyName like {pattern}")
    assert [r["CompanyName"] for r in rows] == ["O'Brien & Sons"]
