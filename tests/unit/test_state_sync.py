"""state/: links, the member roster, pending creates, the customer cache, exports and runs."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from qbsync.state.customers import CachedCustomer
from qbsync.state.db import State
from qbsync.state.exports import ExportRecord
from qbsync.state.members import MemberRow, PendingCreate
from qbsync.state.migrations import MIGRATIONS, SCHEMA_VERSION, split_sql

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def state(tmp_path: Path) -> State:
    opened = State.open(tmp_path / "data" / "state.sqlite3")
    yield opened  # type: ignore[misc]
    opened.close()


def test_a_v1_database_keeps_its_rows_when_migrated(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    raw = sqlite3.connect(path)
    for statement in split_sql(MIGRATIONS[0]):
        raw.execute(statement)
    raw.execute("INSERT INTO meta VALUES ('realm_id', '4620')")
    raw.execute("INSERT INTO runs (command, started_at, outcome) VALUES ('x', '2026-01-01', 'ok')")
    raw.execute("PRAGMA user_version = 1")
    raw.commit()
    raw.close()
    with State.open(path) as state:
        assert state.schema_version == SCHEMA_VERSION
        assert state.realm_id == "4620"
        assert [r.command for r in state.runs.last()] == ["x"]


def test_manual_link_ends_unlink_and_unlink_remembers(state: State) -> None:
    state.members.link("m1", "10", "auto", now=NOW)
    assert state.members.link_of("m1").how == "auto"  # type: ignore[union-attr]
    old = state.members.unlink("m1", now=NOW)
    assert old is not None and old.customer_id == "10"
    assert state.members.link_of("m1") is None and state.members.unlinked() == {"m1"}
    state.members.link("m1", "11", "manual", now=NOW)
    assert state.members.unlinked() == set()
    assert state.members.links()["m1"].customer_id == "11"
    with pytest.raises(ValueError):
        state.members.link("m2", "12", "guess")


def test_drop_links_to_deleted_customers_keeps_manual_links(state: State) -> None:
    state.members.link("auto-member", "10", "auto", now=NOW)
    state.members.link("manual-member", "10", "manual", now=NOW)
    state.members.set_pushed("auto-member", {"email": "a@x.io"}, now=NOW)
    assert state.members.drop_links_to(["10"]) == ["auto-member"]
    assert set(state.members.links()) == {"manual-member"}
    assert "auto-member" not in state.members.pushed()


def test_roster_find_by_id_or_email_and_counts(state: State) -> None:
    state.members.save_roster(
        [
            MemberRow("m1", "Ada@Example.com", "Ada", True, "linked"),
            MemberRow(
                "m2", "bob@example.com", "Bob", True, "needs_review", "2 customers", ("4", "5")
            ),
            MemberRow("m3", "", "Cy", True, "no_email", "no email"),
        ],
        now=NOW,
    )
    state.members.link("m1", "3", "created", now=NOW)
    assert [r.member_id for r in state.members.find("ada@example.COM ")] == ["m1"]
    assert state.members.find("m2")[0].candidates == ("4", "5")
    assert state.members.counts() == {"created": 1, "needs_review": 1, "no_email": 1}


def test_pending_creates_round_trip(state: State) -> None:
    state.members.add_pending([PendingCreate("m1", "a@x.io", "cus-abc", "b1", NOW)])
    assert state.members.pending() == [PendingCreate("m1", "a@x.io", "cus-abc", "b1", NOW)]
    state.members.clear_pending(["m1"])
    assert state.members.pending() == []


def test_customer_cache_replace_and_incremental(state: State) -> None:
    one = CachedCustomer(
        "1", "Ada", ("ada@x.io", "ops@x.io"), True, "0", "t1", "USD", Decimal("12.50")
    )
    state.customers.replace_all([one], synced_at=NOW)
    assert state.customers.all() == {"1": one}
    assert state.customers.synced_at == NOW and state.customers.cdc_at == NOW
    two = CachedCustomer("2", "Bob", (), False, "3", "t2")
    state.customers.upsert([two])
    state.customers.delete(["1"])
    assert state.customers.all() == {"2": two} and state.customers.count() == 1
    later = NOW + timedelta(hours=1)
    state.customers.mark_synced(later, cdc=False)
    assert state.customers.synced_at == later and state.customers.cdc_at == NOW


def _record(invoice_id: str, **kw: object) -> ExportRecord:
    base: dict[str, object] = dict(
        invoice_id=invoice_id,
        member_id="m1",
        customer_id="3",
        state="exporting",
        number="A-1",
        doc_number="A-1",
        txn_date="2026-11-30",
        marker=f"qbsync:{invoice_id} #A-1",
        request_id="inv-x",
        bid="b1",
        source_total=Decimal("10.05"),
        fingerprint="f",
        run_id=1,
    )
    base.update(kw)
    return ExportRecord(**base)  # type: ignore[arg-type]


def test_export_lifecycle_never_reopens_an_exported_invoice(state: State) -> None:
    state.exports.mark_exporting([_record("i1"), _record("i2")], now=NOW)
    assert state.exports.states() == {"i1": "exporting", "i2": "exporting"}
    state.exports.mark_exported(
        "i1", qbo_id="77", doc_number="A-1", qbo_total=Decimal("10.55"), now=NOW
    )
    state.exports.mark_failed("i2", code="6000", message="bad")
    state.exports.mark_failed("i1", code="x", message="late answer")  # ignored: already exported
    state.exports.mark_exporting([_record("i1", request_id="again")], now=NOW)  # ignored too
    i1 = state.exports.get("i1")
    assert i1 is not None and i1.state == "exported" and i1.qbo_id == "77"
    assert i1.difference == Decimal("0.50")
    assert state.exports.get("i2").error_code == "6000"  # type: ignore[union-attr]
    state.exports.mark_exporting([_record("i2", bid="b9")], now=NOW)  # a failed one is retried
    retried = state.exports.get("i2")
    assert retried is not None and retried.state == "exporting" and retried.error_code is None
    assert state.exports.counts() == {"exported": 1, "exporting": 1}


def test_the_platform_total_is_kept_and_is_what_qbo_is_checked_against(state: State) -> None:
    state.exports.mark_exporting(
        [_record("p", platform_total=Decimal("10.04")), _record("n")], now=NOW
    )
    for invoice_id in ("p", "n"):
        state.exports.mark_exported(
            invoice_id, qbo_id=invoice_id, doc_number=None, qbo_total=Decimal("10.05"), now=NOW
        )
    p, n = state.exports.get("p"), state.exports.get("n")
    assert p is not None and p.platform_total == Decimal("10.04")
    assert p.expected_total == Decimal("10.04") and p.difference == Decimal("0.01")
    assert n is not None and n.platform_total is None and n.difference is None


def test_a_v2_export_row_reads_with_no_platform_total(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    raw = sqlite3.connect(path)
    for script in MIGRATIONS[:2]:
        for statement in split_sql(script):
            raw.execute(statement)
    raw.execute("PRAGMA user_version = 2")
    raw.execute(
        "INSERT INTO exports (invoice_id, member_id, customer_id, state, number, txn_date, "
        "marker, source_total, fingerprint, qbo_total, attempted_at) VALUES ('old', 'm1', '3', "
        "'exported', 'A-1', '2026-11-30', 'qbsync:old #A-1', '10.05', 'f', '10.05', "
        "'2026-11-30T12:00:00+00:00')"
    )
    raw.commit()
    raw.close()
    with State.open(path) as state:
        old = state.exports.get("old")
        assert old is not None and old.platform_total is None and old.difference is None


def test_export_days_served(state: State) -> None:
    assert state.exports.last_served_day() is None
    state.exports.serve_day(date(2026, 11, 30), run_id=1, now=NOW)
    state.exports.serve_day(date(2026, 11, 25), run_id=1, now=NOW)
    assert state.exports.last_served_day() == date(2026, 11, 30)


def test_a_run_left_running_by_a_dead_process_is_closed_as_interrupted(state: State) -> None:
    crashed = state.runs.start("export", now=NOW)
    current = state.runs.start("export", now=NOW + timedelta(minutes=5))
    runs = {r.id: r for r in state.runs.last()}
    assert runs[crashed].outcome == "interrupted" and runs[crashed].finished_at is not None
    assert runs[current].outcome == "running" and runs[current].pid is not None
    state.runs.record(current, "invoice", [("i1", "exported", None), ("i2", "failed", "6000 x")])
    assert [o.record_id for o in state.runs.outcomes(current, only=["failed"])] == ["i2"]


def test_a_day_served_ahead_by_as_of_blocks_only_that_day(state: State) -> None:
    from qbsync.config import ExportConfig
    from qbsync.sync.export_run import due

    state.bind_realm("1", now=datetime(2026, 11, 1, tzinfo=UTC), company_name=None)
    export = ExportConfig(timezone="UTC")
    state.exports.serve_day(date(2027, 3, 5), run_id=1, now=NOW)  # `export --as-of 2027-03-05`
    assert due(state, export, as_of=date(2026, 12, 10)).day == date(2026, 12, 10)
    assert due(state, export, as_of=date(2027, 3, 5)).day is None
    assert state.exports.last_served_day(date(2026, 12, 31)) is None


def test_link_many_is_link_for_each(state: State) -> None:
    state.members.save_roster([MemberRow("m1", "a@x.io", "A", True, "needs_review")], now=NOW)
    state.members.unlink("m2", now=NOW)
    state.members.add_pending([PendingCreate("m1", "a@x.io", "r", "b", NOW)])
    state.members.link_many([("m1", "5", "auto"), ("m2", "6", "created")], now=NOW)
    links = state.members.links()
    assert (links["m1"].customer_id, links["m1"].how, links["m2"].how) == ("5", "auto", "created")
    assert state.members.unlinked() == set() and state.members.pending() == []
    assert state.members.roster()["m1"].status == "linked"
    with pytest.raises(ValueError):
        state.members.link_many([("m3", "7", "guess")])
