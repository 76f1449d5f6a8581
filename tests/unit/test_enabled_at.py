"""`[export] enabled_at`: validated on load, written into the operator's file without losing its
comments, kept by `init --force`; and the pure part of `qbsync state rebuild` (markers, plan)."""

from __future__ import annotations

import tomllib
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from qbsync.config import load_config
from qbsync.config.enabled import write_enabled_at
from qbsync.config.write import existing_values
from qbsync.errors import ConfigError
from qbsync.sources.records import InvoiceLine, SourceInvoice
from qbsync.sync.invoice_map import marker
from qbsync.sync.rebuild import parse_marker, plan_rebuild

GOOD = """\
# the operator's notes
[qbo]
environment = "sandbox"  # sandbox first
client_id = "ABc123"

[source]
type = "csv"
members = "members.csv"
"""
WHEN = datetime(2026, 11, 3, 10, 15, 0, 123456, tzinfo=UTC)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def _load(path: Path) -> Any:
    return load_config(path, profile="default", data_dir=path.parent / "data")


# -- validation ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ['"2026-11-03T10:15:00.123456+00:00"', '"2026-11-03T11:15:00.123456+01:00"',
     "2026-11-03T10:15:00.123456Z"],
)  # fmt: skip
def test_enabled_at_is_read_as_an_aware_time(tmp_path: Path, value: str) -> None:
    config = _load(_write(tmp_path, GOOD + f"\n[export]\nenabled_at = {value}\n"))
    assert config.export.enabled_at == WHEN


@pytest.mark.parametrize(
    ("value", "expectation"),
    [
        ('"2026-11-03T10:15:00"', "WITH its offset"),
        ("2026-11-03T10:15:00", "WITH its offset"),  # a TOML local date-time
        ('"next tuesday"', "expected a date and time"),
        ("5", "got an integer"),
    ],
)
def test_a_bad_enabled_at_names_file_table_and_key(
    tmp_path: Path, value: str, expectation: str
) -> None:
    path = _write(tmp_path, GOOD + f"\n[export]\nenabled_at = {value}\n")
    with pytest.raises(ConfigError) as info:
        _load(path)
    assert f"{path}: [export] enabled_at:" in info.value.message
    assert expectation in info.value.message


def test_no_enabled_at_is_none(tmp_path: Path) -> None:
    assert _load(_write(tmp_path, GOOD)).export.enabled_at is None


# -- writing -------------------------------------------------------------------------------------


def test_written_into_a_file_without_export_table_keeping_comments(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD)
    write_enabled_at(path, WHEN)
    text = path.read_text()
    assert text.startswith(GOOD)  # everything kept as it was, comments included
    assert _load(path).export.enabled_at == WHEN


def test_written_under_the_export_header_and_replacing_an_old_value(tmp_path: Path) -> None:
    body = GOOD + '\n[export]  # when\ndays = [5]\nenabled_at = "2020-01-01T00:00:00+00:00"\n'
    body += '\n[export.items]\nmailbox = "Mailbox rental"\n'
    path = _write(tmp_path, body)
    write_enabled_at(path, WHEN)
    doc = tomllib.loads(path.read_text())
    assert doc["export"]["enabled_at"] == WHEN.isoformat()
    assert doc["export"]["days"] == [5] and doc["export"]["items"] == {"mailbox": "Mailbox rental"}
    assert "# when" in path.read_text() and path.read_text().count("enabled_at") == 1


def test_an_inline_export_table_is_written_again_with_its_values(tmp_path: Path) -> None:
    path = _write(tmp_path, "export = { days = [10] }\n" + GOOD)
    write_enabled_at(path, WHEN)
    config = _load(path)
    assert config.export.enabled_at == WHEN and config.export.days == (10,)


def test_a_symlinked_config_is_written_where_it_lives(tmp_path: Path) -> None:
    real = _write(tmp_path, GOOD)
    link = tmp_path / "link.toml"
    link.symlink_to(real)
    write_enabled_at(link, WHEN)
    assert link.is_symlink() and _load(real).export.enabled_at == WHEN


def test_init_force_keeps_enabled_at(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD + f'\n[export]\nenabled_at = "{WHEN.isoformat()}"\n')
    assert existing_values(path)["export"]["enabled_at"] == WHEN.isoformat()


# -- markers -------------------------------------------------------------------------------------


def _invoice(iid: str, member: str, number: str) -> SourceInvoice:
    line = InvoiceLine("Mailbox", Decimal(1), Decimal("25.00"), "Mailbox Rental", None)
    created = datetime(2026, 11, 4, tzinfo=UTC)
    return SourceInvoice(iid, member, number, created, None, "pending", None, (line,))


KNOWN = {"A": _invoice("A", "m1", "1"), "B #2": _invoice("B #2", "m2", "7")}


@pytest.mark.parametrize(
    ("note", "invoice_id", "number", "confirmed"),
    [
        ("qbsync:A #1", "A", "1", True),
        ("qbsync:A #1;", "A", "1", True),  # a terminator after the number
        ("qbsync:A #1 | paid by check", "A", "1", True),  # a person's words after it
        ("qbsync:A #1\nsecond line", "A", "1", True),
        ("qbsync:B #2 #7", "B #2", "7", True),  # an id holding " #"
        ("qbsync:Z 9 #44.", "Z 9", "44", False),  # not in the source: up to the last " #"
    ],
)
def test_markers_are_read_in_the_current_and_terminated_formats(
    note: str, invoice_id: str, number: str, confirmed: bool
) -> None:
    ref = parse_marker(note, KNOWN)
    assert ref is not None
    assert (ref.invoice_id, ref.number, ref.confirmed) == (invoice_id, number, confirmed)


@pytest.mark.parametrize("note", ["", "paid by check", "qbsync:", "qbsync:A", "QBSYNC:A #1"])
def test_notes_without_a_marker(note: str) -> None:
    assert parse_marker(note, KNOWN) is None


def test_this_versions_escaped_markers_name_ids_holding_hash_and_semicolon() -> None:
    """invoice_map.marker escapes '%', '#', ';' in ids: rebuild reads them back exactly, and an
    invoice whose id starts like another's is never taken for it."""
    tricky = _invoice("A #1 x", "m3", "2")
    plain = _invoice("A", "m1", "1")
    odd = _invoice("C;1%", "m4", "5#")
    known = {inv.id: inv for inv in (tricky, plain, odd)}
    by_marker = {marker(inv): inv for inv in known.values()}
    for inv in known.values():
        ref = parse_marker(marker(inv) + " paid by check", known, by_marker)
        assert ref is not None
        assert (ref.invoice_id, ref.number, ref.confirmed) == (inv.id, inv.number, True)
        ref = parse_marker(marker(inv), known)  # without the marker index: unescaped
        assert ref is not None and (ref.invoice_id, ref.number) == (inv.id, inv.number)
    gone = parse_marker("qbsync:Z %231 #9;", known, by_marker)  # not in the source any more
    assert gone is not None and (gone.invoice_id, gone.number, gone.confirmed) == (
        "Z #1",
        "9",
        False,
    )


def test_a_marker_naming_another_number_is_not_confirmed() -> None:
    ref = parse_marker("qbsync:A #12", KNOWN)  # A's number is 1: not this invoice's marker
    assert ref is not None and not ref.confirmed


# -- plan ----------------------------------------------------------------------------------------


def _qbo(ident: str, note: str, customer: str, minutes: int) -> dict[str, Any]:
    created = datetime(2026, 11, 5, tzinfo=UTC) + timedelta(minutes=minutes)
    return {
        "Id": ident,
        "PrivateNote": note,
        "CustomerRef": {"value": customer},
        "TxnDate": date(2026, 11, 5).isoformat(),
        "TotalAmt": 25.0,
        "MetaData": {"CreateTime": created.isoformat()},
    }


def test_plan_restores_each_marker_once_and_links_to_the_newest_customer() -> None:
    source = [_invoice("A", "m1", "1"), _invoice("C", "m1", "3"), _invoice("D", "m3", "4")]
    qbo = [
        _qbo("10", "qbsync:A #1", "c1", 1),
        _qbo("11", "qbsync:C #3", "c9", 5),  # m1's newer invoice went to c9
        _qbo("12", "qbsync:A #1", "c1", 7),  # a second invoice with A's marker
        _qbo("13", "typed by hand", "c1", 8),
        _qbo("14", "qbsync:D #4", "c4", 9),
        _qbo("15", "qbsync:E #5", "c5", 9),  # not in the source now
    ]
    plan = plan_rebuild(
        qbo, source, enabled_at=WHEN, exported={"D": "exported"}, links=(), unlinked=(),
        now=datetime.now(UTC),
    )  # fmt: skip
    assert [r.invoice_id for r in plan.restore] == ["A", "C", "E"]
    assert {r.state for r in plan.restore} == {"exported"}
    a = plan.restore[0]
    assert (a.qbo_id, a.customer_id, a.member_id, a.source_total) == (
        "10",
        "c1",
        "m1",
        Decimal("25.00"),
    )
    assert plan.restore[2].member_id == "" and plan.member_unknown == ["E"]
    assert plan.duplicates == ["12"] and plan.already_exported == ["D"]
    assert plan.links == [("m1", "c9")] and plan.link_conflicts == ["m1"]
    assert plan.read == 6


def test_plan_keeps_existing_and_unlinked_members_as_they_are() -> None:
    source = [_invoice("A", "m1", "1"), _invoice("B", "m2", "2")]
    qbo = [_qbo("10", "qbsync:A #1", "c1", 1), _qbo("11", "qbsync:B #2", "c2", 2)]
    plan = plan_rebuild(
        qbo, source, enabled_at=WHEN, exported={}, links={"m1"}, unlinked={"m2"},
        now=datetime.now(UTC),
    )  # fmt: skip
    assert plan.links == [] and sorted(plan.kept_links) == ["m1", "m2"]
    assert len(plan.restore) == 2
