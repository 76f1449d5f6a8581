"""The machine's time zone with its DST rules, one zone for reading, eligibility and TxnDate."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from qbsync.config import ExportConfig
from qbsync.config.source import SourceConfig
from qbsync.sources.csv_source import CsvSource
from qbsync.sources.records import Member, SourceInvoice
from qbsync.sync import export_run
from qbsync.sync.eligibility import classify
from qbsync.sync.export_run import export_tz, local_tz
from qbsync.sync.invoice_map import CustomerInfo, Mapped, QboRefs, map_invoice
from qbsync.zones import machine_zone

ZONES = Path("/usr/share/zoneinfo")
REFS = QboRefs({"services": "1"}, {}, "USD", multicurrency=False, custom_txn_numbers=False)
MEMBERS = "id,email\nm1,ann@example.com\n"


@pytest.fixture
def new_york(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process runs with TZ=America/New_York (C library included), restored afterwards."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def _run_on(monkeypatch: pytest.MonkeyPatch, day: datetime) -> None:
    """Make `datetime.now()` in export_run answer ``day`` (naive local time, as the clock does):
    what the old `local_tz` froze its offset from."""

    class Frozen(datetime):
        @classmethod
        def now(cls, tz: object = None) -> Frozen:  # type: ignore[override]
            moment = cls(day.year, day.month, day.day, day.hour, day.minute)
            return moment if tz is None else moment.astimezone(tz)  # type: ignore[arg-type,return-value]

    monkeypatch.setattr(export_run, "datetime", Frozen)


def _csv_invoice(tmp_path: Path, created_at: str, tz: object) -> SourceInvoice:
    (tmp_path / "members.csv").write_text(MEMBERS)
    (tmp_path / "invoices.csv").write_text(
        "invoice_id,member_id,number,created_at,status,quantity,unit_price\n"
        f"i1,m1,N-1,{created_at},pending,1,25.00\n"
    )
    config = SourceConfig(
        type="csv", members=tmp_path / "members.csv", invoices=tmp_path / "invoices.csv"
    )
    read = CsvSource(config, tz=tz).invoices(statuses=["pending"], created_since=None)  # type: ignore[arg-type]
    assert read.problems == [] and len(read.records) == 1
    return read.records[0]


def test_a_naive_time_from_before_the_dst_change_keeps_its_day(
    new_york: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The issue: TZ=America/New_York, run on 2024-11-05 (EST), created_at 2024-11-01T23:30:00
    # (EDT) was read at today's -05:00 and sent as TxnDate 2024-11-02.
    _run_on(monkeypatch, datetime(2024, 11, 5, 9, 0))
    export = ExportConfig()  # [export] timezone unset
    invoice = _csv_invoice(tmp_path, "2024-11-01T23:30:00", local_tz(export))
    assert invoice.created_at.utcoffset() == timedelta(hours=-4)  # EDT on Nov 1
    member = Member("m1", "ann@example.com")
    customer = CustomerInfo("57", True, None, None)
    mapped = map_invoice(invoice, member, customer, export, REFS, export_tz(export))
    assert isinstance(mapped, Mapped)
    assert mapped.body["TxnDate"] == "2024-11-01"


def test_the_same_row_has_the_same_fingerprint_in_summer_and_winter(
    new_york: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Exported in July, read again in November: not "changed since export".
    _run_on(monkeypatch, datetime(2024, 7, 1, 9, 0))
    summer = _csv_invoice(tmp_path, "2024-06-20T10:00:00", local_tz(ExportConfig()))
    _run_on(monkeypatch, datetime(2024, 11, 5, 9, 0))
    winter = _csv_invoice(tmp_path, "2024-06-20T10:00:00", local_tz(ExportConfig()))
    assert summer.fingerprint() == winter.fingerprint()
    assert summer.created_at == datetime(2024, 6, 20, 14, 0, tzinfo=UTC)


def test_eligibility_of_a_naive_time_does_not_shift_by_an_hour(
    new_york: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Enabled at 2024-07-01 12:00 EDT; an invoice from 11:30 that day, read in December: read
    # at December's -05:00 it became 12:30 EDT, after enabling, and would have been exported.
    _run_on(monkeypatch, datetime(2024, 12, 2, 9, 0))
    invoice = _csv_invoice(tmp_path, "2024-07-01T11:30:00", local_tz(ExportConfig()))
    eligible, skipped = classify(
        [invoice],
        enabled_at=datetime(2024, 7, 1, 16, 0, tzinfo=UTC),
        statuses=["pending"],
        settled={},
        links={"m1": "57"},
        member_states={},
        known_members={"m1"},
        tz=export_tz(ExportConfig()),
    )
    assert eligible == [] and [s.reason_code for s in skipped] == ["before_enabled"]


def test_the_configured_zone_wins_over_the_machine(new_york: None) -> None:
    assert export_tz(ExportConfig(timezone="Europe/Paris")) == ZoneInfo("Europe/Paris")
    assert local_tz(ExportConfig()) == ZoneInfo("America/New_York")


@pytest.mark.parametrize(
    ("setting", "zone"),
    [
        ("America/New_York", ZoneInfo("America/New_York")),
        (":Europe/Paris", ZoneInfo("Europe/Paris")),
        ("", UTC),
    ],
)
def test_tz_names_the_zone(setting: str, zone: object) -> None:
    assert machine_zone({"TZ": setting}, Path("/nonexistent")) == zone


def test_tz_may_be_a_zone_file_path() -> None:
    zone = machine_zone({"TZ": str(ZONES / "Asia/Tokyo")}, Path("/nonexistent"))
    assert datetime(2024, 1, 1, tzinfo=zone).utcoffset() == timedelta(hours=9)


def test_etc_localtime_link_names_the_zone(tmp_path: Path) -> None:
    link = tmp_path / "localtime"
    link.symlink_to(ZONES / "Europe/Paris")
    assert machine_zone({}, link) == ZoneInfo("Europe/Paris")


def test_a_copied_localtime_file_keeps_its_dst_rules(tmp_path: Path) -> None:
    copy = tmp_path / "localtime"
    copy.write_bytes((ZONES / "America/New_York").read_bytes())
    zone = machine_zone({}, copy)
    assert datetime(2024, 7, 1, tzinfo=zone).utcoffset() == timedelta(hours=-4)
    assert datetime(2024, 12, 1, tzinfo=zone).utcoffset() == timedelta(hours=-5)


def test_an_unknown_zone_falls_back_to_a_fixed_offset_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="qbsync.zones"):
        zone = machine_zone({"TZ": "EST5EDT4,M3.2.0,M11.1.0"}, Path("/nonexistent"))
    assert isinstance(zone, timezone)
    assert "[export] timezone" in caplog.text


def test_today_is_the_date_in_the_machine_zone(new_york: None) -> None:
    from qbsync.sync.schedule import today_in

    late = datetime(2024, 11, 6, 3, 0, tzinfo=UTC)  # 22:00 on the 5th in New York
    assert today_in(export_tz(ExportConfig()), late) == date(2024, 11, 5)
