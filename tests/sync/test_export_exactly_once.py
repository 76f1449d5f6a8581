"""Exactly once, whatever happens: unclear outcomes stay in flight, the grace counts from the
last attempt, a state behind QBO adopts what QBO holds, and a marker matches only its invoice.
Against the emulator over real HTTP; faults it cannot make (a cut-off 200) come from an adapter
between the client and the emulator."""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter

from qbsync.qbo.session import RetryPolicy
from qbsync.sources.records import InvoiceLine, Member, SourceInvoice
from qbsync.state.db import State
from qbsync.sync.connect import apply_connect, prepare_connect
from qbsync.sync.export_apply import GRACE_ENV, MIN_GRACE, settle_grace, settle_in_flight
from qbsync.sync.export_run import ExportPlan, apply_export, plan_export

from .conftest import Rig

MEMBERS = [Member("m1", "emily.platt@example.com", first_name="Emily", last_name="Platt")]


@pytest.fixture(autouse=True)
def no_grace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(GRACE_ENV, "0")  # honoured as given against the emulator


@pytest.fixture
def fast(rig: Rig) -> Rig:
    rig.client.session.retry = RetryPolicy(base_delay=0.01, max_delay=0.02)
    return rig


def _invoice(iid: str, number: str | None = None) -> SourceInvoice:
    return SourceInvoice(
        id=iid,
        member_id="m1",
        number=number or f"N-{iid}",
        created_at=datetime.now(UTC) - timedelta(hours=12),
        due_date=None,
        status="pending",
        currency=None,
        lines=(InvoiceLine("Mailbox", Decimal("1"), Decimal("25.00"), "Mailbox Rental"),),
    )


def _connect(rig: Rig) -> None:
    prepared = prepare_connect(
        MEMBERS, [], client=rig.client, state=rig.state, config=rig.config, full=False
    )
    apply_connect(prepared, client=rig.client, state=rig.state, config=rig.config, run_id=None)


def _export(
    rig: Rig, invoices: list[SourceInvoice], now: Callable[[], datetime] | None = None
) -> tuple[ExportPlan, Any]:
    plan = plan_export(
        invoices, MEMBERS, [], client=rig.client, state=rig.state, config=rig.config,
        today=date.today(), export_day=None,
    )  # fmt: skip
    kwargs: dict[str, Any] = {} if now is None else {"now": now}
    outcome = apply_export(
        plan, client=rig.client, state=rig.state, config=rig.config, run_id=None, **kwargs
    )
    return plan, outcome


def _notes(rig: Rig) -> Counter[str]:
    return Counter(str(i.get("PrivateNote", "")) for i in rig.invoices())


class CutOffBatchAnswer(HTTPAdapter):
    """Passes requests to the emulator; the first batch's 200 answer arrives cut in half."""

    def __init__(self) -> None:
        super().__init__()
        self.cut = 0

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        resp = super().send(request, **kwargs)
        if "/batch" in (request.url or "") and self.cut == 0 and resp.status_code == 200:
            self.cut += 1
            resp._content = resp.content[: len(resp.content) // 2]
        return resp


# -- 1. an unclear outcome is never `failed` ---------------------------------------------------


def test_a_cut_off_200_answer_to_an_invoice_batch_is_unclear_not_failed(rig: Rig) -> None:
    _connect(rig)
    adapter = CutOffBatchAnswer()
    rig.client.session.mount("http://", adapter)
    invoices = [_invoice(f"c{i}") for i in range(10)]
    _export(rig, invoices)
    assert adapter.cut == 1
    states = rig.state.exports.states()
    assert "failed" not in states.values() and len(states) == 10
    _export(rig, invoices)  # the next run looks in QBO first: nothing sent twice
    notes = _notes(rig)
    assert len(notes) == 10 and set(notes.values()) == {1}
    assert set(rig.state.exports.states().values()) == {"exported"}


@pytest.mark.parametrize("custom_numbers", [False, True])
def test_a_lost_answer_then_401_then_a_failing_refresh_is_unclear_not_failed(
    rig: Rig, custom_numbers: bool
) -> None:
    _connect(rig)
    rig.emu.set_preferences(custom_txn_numbers=custom_numbers)
    rig.emu.inject_fault("/batch", "lose_response")  # QBO made them; the answer never came
    rig.emu.inject_fault("/batch", "error", status=401)  # the retry: token refused
    rig.emu.inject_fault("/oauth2/v1/tokens/bearer", "error", status=503)  # refresh fails
    invoices = [_invoice(f"t{i}", number=f"70{i}") for i in range(4)]
    _export(rig, invoices)
    assert "failed" not in rig.state.exports.states().values()
    _, again = _export(rig, invoices)
    assert again.failed == []  # with custom numbers a resend would be refused 6140
    notes = _notes(rig)
    assert len(notes) == 4 and set(notes.values()) == {1}
    assert set(rig.state.exports.states().values()) == {"exported"}


def test_a_clear_refusal_of_the_whole_batch_is_failed(rig: Rig) -> None:
    _connect(rig)
    rig.emu.inject_fault("/batch", "error", status=400)
    _export(rig, [_invoice("r1")])
    record = rig.state.exports.get("r1")
    assert record is not None and record.state == "failed"
    assert rig.invoices() == []


# -- 2. the grace counts from the last attempt ---------------------------------------------------


def test_settle_grace_is_at_least_qbos_request_timeout_except_against_the_emulator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(GRACE_ENV, "0")
    assert settle_grace() == MIN_GRACE == timedelta(seconds=120)
    assert settle_grace(emulator=True) == timedelta(0)
    monkeypatch.setenv(GRACE_ENV, "600")
    assert settle_grace() == timedelta(seconds=600)
    monkeypatch.delenv(GRACE_ENV)
    assert settle_grace() == timedelta(seconds=150)


def test_the_grace_counts_from_the_last_attempt_not_the_first(fast: Rig) -> None:
    rig = fast
    _connect(rig)
    start = datetime.now(UTC)
    ticks: list[datetime] = []

    def clock() -> datetime:  # each look at the clock is 100 s later: slow retries
        ticks.append(start + timedelta(seconds=100 * len(ticks)))
        return ticks[-1]

    rig.emu.inject_fault("/batch", "drop", count=5)  # every attempt lost, nothing made
    _, outcome = _export(rig, [_invoice("g1")], now=clock)
    assert outcome.in_flight == ["g1"]
    record = rig.state.exports.get("g1")
    assert record is not None and record.state == "exporting"
    assert record.attempted_at == ticks[-1] >= start + timedelta(seconds=500)
    # A run a minute after the last attempt: QBO may still be working on it. Not sent again.
    later = settle_in_flight(
        rig.client, rig.state, now=ticks[-1] + timedelta(seconds=60), grace=timedelta(seconds=150)
    )
    assert later.in_flight == ["g1"] and later.resend == []
    assert rig.state.exports.get("g1").state == "exporting"  # type: ignore[union-attr]


# -- 4. a state older than QBO ---------------------------------------------------------------


def _reopen(rig: Rig, restore_from: Path | None = None) -> None:
    rig.state.close()  # closing twice is harmless
    path = rig.config.state_path
    if restore_from is not None:
        for suffix in ("-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        shutil.copy(restore_from, path)
    rig.state = State.open(path)


def test_a_state_restored_from_a_backup_adopts_what_qbo_holds(rig: Rig, tmp_path: Path) -> None:
    _connect(rig)
    _export(rig, [_invoice("early")])  # the backup knows this export
    rig.state.close()  # the last connection closing checkpoints the WAL: one file holds it all
    backup = tmp_path / "backup.sqlite3"
    shutil.copy(rig.config.state_path, backup)
    _reopen(rig)
    invoices = [_invoice("early"), *(_invoice(f"s{i}") for i in range(20))]
    _export(rig, invoices)
    assert len(rig.invoices()) == 21
    _reopen(rig, restore_from=backup)  # the state file from before those 20
    requests_before = rig.emu.request_count("/v3/company/*/query")
    plan, outcome = _export(rig, invoices)
    assert plan.to_send == [] and sorted(plan.settled.adopted) == sorted(f"s{i}" for i in range(20))
    notes = _notes(rig)
    assert len(notes) == 21 and set(notes.values()) == {1}
    by_note = {str(i["PrivateNote"]): str(i["Id"]) for i in rig.invoices()}
    for record in rig.state.exports.all():
        assert record.state == "exported"
        assert by_note[record.marker] == record.qbo_id
    assert outcome.exported == []
    assert rig.emu.request_count("/v3/company/*/query") - requests_before >= 1


def test_the_created_since_read_sees_only_newer_invoices(rig: Rig) -> None:
    _connect(rig)
    _export(rig, [_invoice("x1")])
    future = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0).isoformat()
    past = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0).isoformat()
    query = "select * from Invoice where MetaData.CreateTime >= '{}'"
    assert rig.client.query(query.format(future)) == []
    assert len(rig.client.query(query.format(past))) == 1


# -- 5. a marker matches only its own invoice -------------------------------------------------


def test_an_id_holding_space_hash_never_settles_on_another_invoice(fast: Rig) -> None:
    rig = fast
    _connect(rig)
    _export(rig, [_invoice("A #1 x", number="2")])
    rig.emu.inject_fault("/batch", "drop", count=5)  # A's batch: no answer, nothing made
    _, outcome = _export(rig, [_invoice("A", number="1")])
    assert outcome.in_flight == ["A"] and outcome.exported == []
    plan, _ = _export(rig, [_invoice("A", number="1")])  # grace 0: not in QBO, sent again
    assert plan.settled.settled == [] and plan.settled.resend == ["A"]
    a, other = rig.state.exports.get("A"), rig.state.exports.get("A #1 x")
    assert a is not None and other is not None and a.state == "exported"
    assert a.qbo_id != other.qbo_id and len(rig.invoices()) == 2
