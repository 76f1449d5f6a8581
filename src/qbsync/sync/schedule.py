"""Export days: which dates serve an export, which one is due now, and "today" in the export zone.

``[export] days`` lists days of the month (1..31). A day past a month's end is served on that
month's last day when ``month_end`` is on (February 28/29 then serves the 29th, 30th and 31st as
one date), and is dropped for that month when it is off.

Due rule (``due_export_day``): the export day to serve is the most recent export day on or before
today. It is due when it is later than the last one served. Export days missed while the machine
was off are not served one by one: the latest one covers them (an export sends every eligible
invoice, whatever day it was created). A failed export day stays due because the caller records
``last_served`` only after a success.

With nothing served yet (``last_served`` None) the choice is:

- ``enabled_on`` given (the date exports were enabled, in the export zone): the latest export day
  is due when it falls on or after ``enabled_on``. So enabling on the 3rd and first running on the
  7th serves the 5th; export days before enabling never count.
- ``enabled_on`` None too: due only when today itself is an export day (nothing is back-filled
  from a history qbsync knows nothing about).

``export --as-of`` a date after today records that export day as served like any other: its
``--if-due`` run will not export again (``served_ahead_note`` says so; `status` lists them).

Pure functions; the clock is the caller's (``today_in(tz, now)`` turns its ``now`` into a date).
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from datetime import date, datetime, tzinfo

# Days 1-28 are in every month and 29-31 are never missing two months in a row, so an export day
# is always within two months; searching 13 months is a generous bound, never reached.
_MONTHS_TO_SEARCH = 13


def export_days_in_month(year: int, month: int, days: Sequence[int], month_end: bool) -> list[date]:
    """The dates that serve exports in ``year``-``month``, sorted and without repeats."""
    _check_days(days)
    last = calendar.monthrange(year, month)[1]
    served: set[date] = set()
    for day in days:
        if day <= last:
            served.add(date(year, month, day))
        elif month_end:
            served.add(date(year, month, last))
    return sorted(served)


def latest_export_day(on_or_before: date, days: Sequence[int], month_end: bool) -> date:
    """The most recent export day on or before ``on_or_before`` (looks back across months)."""
    year, month = on_or_before.year, on_or_before.month
    for _ in range(_MONTHS_TO_SEARCH):
        candidates = [
            d for d in export_days_in_month(year, month, days, month_end) if d <= on_or_before
        ]
        if candidates:
            return candidates[-1]
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    raise ValueError(f"no export day within a year before {on_or_before}")  # pragma: no cover


def next_export_day(after: date, days: Sequence[int], month_end: bool) -> date:
    """The first export day strictly after ``after`` (looks ahead across months)."""
    year, month = after.year, after.month
    for _ in range(_MONTHS_TO_SEARCH):
        candidates = [d for d in export_days_in_month(year, month, days, month_end) if d > after]
        if candidates:
            return candidates[0]
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    raise ValueError(f"no export day within a year after {after}")  # pragma: no cover


def due_export_day(
    today: date,
    last_served: date | None,
    days: Sequence[int],
    month_end: bool,
    enabled_on: date | None = None,
) -> date | None:
    """The export day to serve now, or None when none is due (see the module docstring).

    ``today`` is the date in the export time zone (``today_in``); ``last_served`` the export day
    last served successfully; ``enabled_on`` the date exports were enabled: export days before it
    never count.
    """
    latest = latest_export_day(today, days, month_end)
    if enabled_on is not None and latest < enabled_on:
        return None
    if last_served is not None:
        return latest if latest > last_served else None
    if enabled_on is not None:
        return latest
    return latest if latest == today else None


def served_ahead_note(day: date, today: date) -> str | None:
    """What to say when ``export --as-of`` served ``day`` though it is after ``today``: the
    semantics stay (tests and backfills rely on them) but a trial run must not cancel a real
    export day silently."""
    if day <= today:
        return None
    return f"{day} is after today: it is now served; the run on {day} will not export again"


def today_in(tz: tzinfo | None, now: datetime) -> date:
    """The date ``now`` falls on in ``tz`` (None: the machine's local time zone).

    A naive ``now`` is taken as the machine's local time (``datetime.astimezone``'s rule); pass an
    aware one (``datetime.now(UTC)``).
    """
    return now.astimezone(tz).date()


def _check_days(days: Sequence[int]) -> None:
    if not days:
        raise ValueError("no export days given")
    bad = [day for day in days if isinstance(day, bool) or not 1 <= day <= 31]
    if bad:
        raise ValueError(f"export days must be 1 to 31; got {bad}")
