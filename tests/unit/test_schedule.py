"""Export days: the calendar rules against a brute-force oracle, catch-up, and time zones."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from qbsync.sync.schedule import (
    due_export_day,
    export_days_in_month,
    latest_export_day,
    next_export_day,
    today_in,
)

DEFAULT = (5, 10, 15, 20, 25, 30)
NEW_YORK = ZoneInfo("America/New_York")
DAY_SETS = [
    DEFAULT,
    (1,),
    (31,),
    (29, 30, 31),
    (28, 29),
    (1, 15, 31),
    tuple(range(1, 32)),
]


def _is_export_day(day: date, days: tuple[int, ...], month_end: bool) -> bool:
    """The oracle: one date at a time, straight from the rule's wording."""
    last = calendar.monthrange(day.year, day.month)[1]
    if day.day in days:
        return True
    return month_end and day.day == last and any(d > last for d in days)


def _all_dates(year: int) -> list[date]:
    start = date(year, 1, 1)
    return [start + timedelta(n) for n in range(366 if calendar.isleap(year) else 365)]


def _oracle_latest(on: date, days: tuple[int, ...], month_end: bool) -> date:
    while not _is_export_day(on, days, month_end):
        on -= timedelta(1)
    return on


def _oracle_next(after: date, days: tuple[int, ...], month_end: bool) -> date:
    on = after + timedelta(1)
    while not _is_export_day(on, days, month_end):
        on += timedelta(1)
    return on


@pytest.mark.parametrize("year", [2028, 2027], ids=["leap-2028", "common-2027"])
@pytest.mark.parametrize("month_end", [True, False], ids=["month_end", "no_month_end"])
@pytest.mark.parametrize("days", DAY_SETS, ids=lambda d: ",".join(map(str, d))[:20])
def test_every_day_of_the_year_matches_the_oracle(
    year: int, month_end: bool, days: tuple[int, ...]
) -> None:
    for day in _all_dates(year):
        in_month = export_days_in_month(day.year, day.month, days, month_end)
        assert (day in in_month) == _is_export_day(day, days, month_end), day
        assert latest_export_day(day, days, month_end) == _oracle_latest(day, days, month_end)
        assert next_export_day(day, days, month_end) == _oracle_next(day, days, month_end)


@pytest.mark.parametrize(
    ("year", "month", "expected_last"),
    [(2027, 2, 28), (2028, 2, 29), (2027, 4, 30), (2027, 1, 31)],
    ids=["28-days", "29-days", "30-days", "31-days"],
)
def test_days_past_the_month_end_are_served_on_its_last_day_once(
    year: int, month: int, expected_last: int
) -> None:
    served = export_days_in_month(year, month, (5, 29, 30, 31), month_end=True)
    assert served[0] == date(year, month, 5)
    assert served[-1] == date(year, month, expected_last)
    assert len(served) == len(set(served))  # Feb 28 serves the 29th, 30th and 31st as one date
    assert served == sorted(served)


def test_default_days_in_february() -> None:
    assert export_days_in_month(2027, 2, DEFAULT, True)[-1] == date(2027, 2, 28)
    assert export_days_in_month(2028, 2, DEFAULT, True)[-1] == date(2028, 2, 29)
    assert export_days_in_month(2027, 2, DEFAULT, False)[-1] == date(2027, 2, 25)


def test_without_month_end_a_missing_day_is_dropped() -> None:
    assert export_days_in_month(2027, 2, (30, 31), month_end=False) == []
    assert export_days_in_month(2027, 4, (30, 31), month_end=False) == [date(2027, 4, 30)]
    # ... and the search looks over the gap
    assert next_export_day(date(2027, 1, 31), (31,), False) == date(2027, 3, 31)
    assert latest_export_day(date(2027, 3, 30), (31,), False) == date(2027, 1, 31)


def test_unsorted_repeated_days_are_fine() -> None:
    assert export_days_in_month(2027, 6, (20, 5, 20, 31, 30), True) == [
        date(2027, 6, 5),
        date(2027, 6, 20),
        date(2027, 6, 30),
    ]


@pytest.mark.parametrize("days", [(), (0,), (32,), (True,)])
def test_bad_days_are_refused(days: tuple[int, ...]) -> None:
    with pytest.raises(ValueError):
        export_days_in_month(2027, 1, days, True)


def test_latest_and_next_cross_years() -> None:
    assert latest_export_day(date(2027, 1, 3), DEFAULT, True) == date(2026, 12, 30)
    assert next_export_day(date(2026, 12, 30), DEFAULT, True) == date(2027, 1, 5)
    assert next_export_day(date(2027, 1, 4), DEFAULT, True) == date(2027, 1, 5)
    assert latest_export_day(date(2027, 1, 5), DEFAULT, True) == date(2027, 1, 5)


# -- due_export_day ------------------------------------------------------------------------


def _run_daily(
    start: date,
    end: date,
    *,
    last_served: date | None,
    enabled_on: date | None = None,
    off: tuple[date, date] | None = None,
    fails: frozenset[date] = frozenset(),
) -> list[tuple[date, date]]:
    """Simulate a daily cron: (run date, export day served) for every successful export."""
    served: list[tuple[date, date]] = []
    today = start
    while today <= end:
        if off is None or not off[0] <= today <= off[1]:
            due = due_export_day(today, last_served, DEFAULT, True, enabled_on)
            if due is not None and today not in fails:
                served.append((today, due))
                last_served = due
        today += timedelta(1)
    return served


def test_a_daily_cron_serves_each_export_day_once_on_the_day() -> None:
    served = _run_daily(date(2027, 1, 1), date(2027, 3, 31), last_served=date(2026, 12, 30))
    assert all(run == day for run, day in served)
    expected = [d for m in (1, 2, 3) for d in export_days_in_month(2027, m, DEFAULT, True)]
    assert [day for _, day in served] == expected


def test_catch_up_after_the_machine_was_off_serves_the_latest_day_once() -> None:
    # Off from the 9th to the 16th: the 10th and 15th were missed; on the 16th the 15th is due.
    served = _run_daily(
        date(2027, 3, 1),
        date(2027, 3, 19),
        last_served=date(2027, 2, 25),
        off=(date(2027, 3, 9), date(2027, 3, 15)),
    )
    assert served == [
        (date(2027, 3, 1), date(2027, 2, 28)),
        (date(2027, 3, 5), date(2027, 3, 5)),
        (date(2027, 3, 16), date(2027, 3, 15)),
    ]


def test_catch_up_on_the_16th_directly() -> None:
    assert due_export_day(date(2027, 3, 16), date(2027, 3, 5), DEFAULT, True) == date(2027, 3, 15)
    assert due_export_day(date(2027, 3, 16), date(2027, 3, 15), DEFAULT, True) is None


def test_a_served_day_is_not_due_again_the_same_day() -> None:
    today = date(2027, 3, 10)
    assert due_export_day(today, date(2027, 3, 5), DEFAULT, True) == today
    assert due_export_day(today, today, DEFAULT, True) is None  # the second run of the day
    assert due_export_day(today + timedelta(1), today, DEFAULT, True) is None


def test_a_failed_export_day_stays_due_until_served() -> None:
    served = _run_daily(
        date(2027, 3, 9),
        date(2027, 3, 14),
        last_served=date(2027, 3, 5),
        fails=frozenset({date(2027, 3, 10), date(2027, 3, 11)}),
    )
    assert served == [(date(2027, 3, 12), date(2027, 3, 10))]


def test_not_due_between_export_days() -> None:
    assert due_export_day(date(2027, 3, 7), date(2027, 3, 5), DEFAULT, True) is None


def test_a_clock_set_back_is_not_due() -> None:
    assert due_export_day(date(2027, 3, 12), date(2027, 3, 15), DEFAULT, True) is None


def test_never_served_and_no_enabled_date_is_due_only_on_an_export_day() -> None:
    assert due_export_day(date(2027, 3, 10), None, DEFAULT, True) == date(2027, 3, 10)
    assert due_export_day(date(2027, 3, 11), None, DEFAULT, True) is None


def test_never_served_with_enabled_date_serves_the_first_export_day_after_enabling() -> None:
    enabled = date(2027, 3, 3)
    assert due_export_day(date(2027, 3, 4), None, DEFAULT, True, enabled) is None
    # the 5th was missed (machine off): still due on the 7th
    assert due_export_day(date(2027, 3, 7), None, DEFAULT, True, enabled) == date(2027, 3, 5)


def test_enabling_on_an_export_day_counts_that_day() -> None:
    enabled = date(2027, 3, 5)
    assert due_export_day(date(2027, 3, 5), None, DEFAULT, True, enabled) == date(2027, 3, 5)
    assert due_export_day(date(2027, 3, 6), None, DEFAULT, True, enabled) == date(2027, 3, 5)


def test_export_days_before_enabling_never_count() -> None:
    enabled = date(2027, 3, 6)
    assert due_export_day(date(2027, 3, 9), None, DEFAULT, True, enabled) is None
    # even with an older last_served (exports re-enabled later)
    assert due_export_day(date(2027, 3, 9), date(2027, 1, 5), DEFAULT, True, enabled) is None
    assert due_export_day(date(2027, 3, 10), date(2027, 1, 5), DEFAULT, True, enabled) == date(
        2027, 3, 10
    )


def test_enabled_on_as_keyword() -> None:
    due = due_export_day(date(2027, 3, 10), None, DEFAULT, month_end=True, enabled_on=None)
    assert due == date(2027, 3, 10)


def test_month_end_catch_up_in_february() -> None:
    # days 30 and 31 are served on Feb 28; the run on March 2nd serves it.
    assert due_export_day(date(2027, 3, 2), date(2027, 2, 25), DEFAULT, True) == date(2027, 2, 28)
    assert due_export_day(date(2027, 3, 2), date(2027, 2, 25), DEFAULT, False) is None


# -- today_in --------------------------------------------------------------------------------


def _local(y: int, m: int, d: int, hh: int, mm: int, fold: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=NEW_YORK, fold=fold).astimezone(UTC)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # spring forward, 2026-03-08 02:00 EST -> 03:00 EDT
        (_local(2026, 3, 7, 23, 30), date(2026, 3, 7)),  # 04:30 UTC on the 8th
        (_local(2026, 3, 8, 0, 30), date(2026, 3, 8)),
        (_local(2026, 3, 8, 23, 30), date(2026, 3, 8)),  # 03:30 UTC on the 9th
        (_local(2026, 3, 9, 0, 30), date(2026, 3, 9)),
        # fall back, 2026-11-01 02:00 EDT -> 01:00 EST
        (_local(2026, 10, 31, 23, 30), date(2026, 10, 31)),  # 03:30 UTC on Nov 1st
        (_local(2026, 11, 1, 0, 30), date(2026, 11, 1)),
        (_local(2026, 11, 1, 1, 30, fold=1), date(2026, 11, 1)),  # the second 01:30
        (_local(2026, 11, 1, 23, 30), date(2026, 11, 1)),  # 04:30 UTC on the 2nd
        (_local(2026, 11, 2, 0, 30), date(2026, 11, 2)),
    ],
    ids=lambda v: v.isoformat() if isinstance(v, datetime | date) else str(v),
)
def test_today_in_new_york_around_dst_changes(now: datetime, expected: date) -> None:
    assert now.tzinfo is UTC
    assert today_in(NEW_YORK, now) == expected


def test_today_in_differs_from_the_utc_date_late_in_the_evening() -> None:
    now = datetime(2026, 11, 2, 4, 30, tzinfo=UTC)  # 23:30 EST on Nov 1st
    assert now.date() == date(2026, 11, 2)
    assert today_in(NEW_YORK, now) == date(2026, 11, 1)
    assert today_in(UTC, now) == date(2026, 11, 2)


def test_today_in_none_uses_the_machine_zone() -> None:
    now = datetime(2026, 3, 8, 4, 30, tzinfo=UTC)
    assert today_in(None, now) == now.astimezone().date()


def test_an_export_day_in_new_york_is_due_by_its_local_date() -> None:
    # 2026-03-10 at 23:30 EDT is already the 11th in UTC: the 10th is still the day served.
    now = _local(2026, 3, 10, 23, 30)
    today = today_in(NEW_YORK, now)
    assert due_export_day(today, date(2026, 3, 5), DEFAULT, True) == date(2026, 3, 10)
    assert (
        due_export_day(
            today_in(NEW_YORK, _local(2026, 3, 9, 23, 30)), date(2026, 3, 5), DEFAULT, True
        )
        is None
    )
