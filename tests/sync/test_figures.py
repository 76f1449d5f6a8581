"""status's member and invoice figures, from a state the engine wrote against the emulator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from qbsync.sources.records import InvoiceLine, Member, SourceInvoice
from qbsync.sync.connect import apply_connect, prepare_connect
from qbsync.sync.export_apply import GRACE_ENV
from qbsync.sync.export_run import apply_export, export_summary, plan_export
from qbsync.sync.figures import invoice_figures, member_figures

from .conftest import Rig


def test_figures_count_links_reviews_exports_and_name_the_fix(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(GRACE_ENV, "0")
    for name in ("Twin A", "Twin B"):
        rig.emu.company.create(
            "Customer", {"DisplayName": name, "PrimaryEmailAddr": {"Address": "twins@x.io"}}
        )
    members = [Member("m1", "one@x.io", first_name="One"), Member("m2", "twins@x.io")]
    prepared = prepare_connect(
        members, [], client=rig.client, state=rig.state, config=rig.config, full=False
    )
    apply_connect(prepared, client=rig.client, state=rig.state, config=rig.config, run_id=None)
    now = datetime.now(UTC)
    invoices = [
        SourceInvoice("i1", "m1", "1", now, None, "pending", None,
                      (InvoiceLine("x", Decimal(1), Decimal(5), "Services"),)),
        SourceInvoice("i2", "m1", "2", now, None, "pending", None,
                      (InvoiceLine("x", Decimal(1), Decimal(5), "nope"),)),
    ]  # fmt: skip
    run_id = rig.state.runs.start("export")
    plan = plan_export(invoices, members, [], client=rig.client, state=rig.state,
                       config=rig.config, today=now.date(), export_day=None)  # fmt: skip
    outcome = apply_export(
        plan, client=rig.client, state=rig.state, config=rig.config, run_id=run_id
    )
    rig.state.runs.finish(run_id, "partial", export_summary(plan, outcome))

    members_out = member_figures(rig.state)
    assert members_out["linked"] == 1 and members_out["by_status"]["needs_review"] == 1
    assert "qbsync link MEMBER" in members_out["problems"][0]["fix"]

    changed = [
        SourceInvoice("i1", "m1", "1", now, None, "pending", None,
                      (InvoiceLine("x", Decimal(2), Decimal(5), "Services"),)),
        invoices[1],
    ]  # fmt: skip
    out = invoice_figures(
        rig.state, rig.config, source_invoices=changed, now=now + timedelta(minutes=1)
    )
    assert out["exported"] == 1 and out["refused_last_run"] == 1
    # i2 was refused (item "nope" unmapped): refused, not waiting for the next export day.
    assert out["changed_since_export"] == 1 and out["waiting_for_next_export_day"] == 0
    assert out["by_state"]["refused"] == 1 and out["by_state"]["changed"] == 1
    assert sum(out["by_state"].values()) == 2
    whats = " | ".join(p["what"] for p in out["problems"])
    assert "refused" in whats and "changed at the platform" in whats
    assert "custom transaction numbers are off" in whats
