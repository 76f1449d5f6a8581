"""The PrivateNote marker: exact for this version's ``;``-ended markers, whatever the id holds,
and safe for the rows older versions recorded without the end."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from itertools import permutations

from qbsync.sources.records import InvoiceLine, SourceInvoice
from qbsync.sync.export_adopt import marker_keys
from qbsync.sync.export_apply import carries_marker
from qbsync.sync.invoice_map import marker


def _m(iid: str, number: str) -> str:
    return marker(
        SourceInvoice(
            id=iid,
            member_id="m1",
            number=number,
            created_at=datetime(2026, 3, 5, tzinfo=UTC),
            due_date=None,
            status="pending",
            currency=None,
            lines=(InvoiceLine("x", Decimal(1), Decimal(1)),),
        )
    )


def test_an_id_holding_space_hash_is_not_another_invoices_marker() -> None:
    a, other = _m("A", "1"), _m("A #1 x", "2")
    assert a == "qbsync:A #1;" and other == "qbsync:A %231 x #2;"
    assert not carries_marker(other, a) and not carries_marker(a, other)
    assert carries_marker(a, a) and carries_marker(a + " paid by check", a)


def test_no_marker_is_a_prefix_of_another_whatever_the_characters() -> None:
    tricky = ["A", "A;", "A #1", "A #1;", "A%3B", "A%", "A\n#1", "A #1 x", "1", "#", ";", "%"]
    made = {(i, n): _m(i, n) for i in tricky for n in ["1", "1;", "1 #2", "2"]}
    assert len(set(made.values())) == len(made)  # one marker per (id, number)
    for (one, m1), (two, m2) in permutations(made.items(), 2):
        assert not carries_marker(m2 + " note", m1), (one, two)
    for m in made.values():
        assert m.count(";") == 1 and m.endswith(";") and "\n" not in m
        assert marker_keys(m + " (paid)")[0] == m


def test_rows_recorded_with_the_old_marker_still_settle_and_only_on_their_own() -> None:
    old = "qbsync:A #1"  # stored in exports.marker by an older version
    assert carries_marker("qbsync:A #1", old)
    assert carries_marker("qbsync:A #1\npaid by check", old)
    assert not carries_marker("qbsync:A #1 x #2", old)  # another old invoice's
    assert not carries_marker("qbsync:A #12", old)
