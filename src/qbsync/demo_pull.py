"""The demo's pull phase: the accountant pays, voids and deletes a few exported invoices in the
emulator, and `qbsync pull` brings it back to the platform (qbo-events.csv beside invoices.csv).
Self-contained: demo.py calls ``pull_phase`` once after the export steps."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qbsync.demo import Step
    from qbsync.emulator import Emulator


def accountant_acts(emu: Emulator, show: Callable[[str], None]) -> dict[str, str]:
    """Pay one exported invoice in full, one in part, void one, delete one: {QBO Id: what}."""
    exported = [
        i
        for i in emu.company.dump().get("Invoice", [])
        if str(i.get("PrivateNote") or "").startswith("qbsync:")
    ][:4]
    done: dict[str, str] = {}
    if len(exported) < 4:
        return done
    full, part, void, gone = exported
    emu.record_payment({full["Id"]: full["Balance"]}, method="1", reference="CHK-2001")
    done[full["Id"]] = f"paid in full ({full['Balance']})"
    emu.record_payment({part["Id"]: "5.00"}, reference="CASH")
    done[part["Id"]] = "paid 5.00 of it"
    emu.void_invoice(void["Id"])
    done[void["Id"]] = "voided"
    emu.delete_invoice(gone["Id"])
    done[gone["Id"]] = "deleted"
    show("The accountant works in QBO:")
    for ident, what in done.items():
        show(f"  invoice {ident}: {what}")
    return done


def pull_steps(qbsync: Callable[..., list[str]], step: type[Step]) -> list[Step]:
    return [
        step(
            "Bring QBO's side back: qbsync pull",
            qbsync("pull"),
            expect_exit=5,
            note="Exit 5: the deleted invoice, and the one voided while the platform still has "
            "it pending, need the operator. The payments are events, not problems; all went to "
            "qbo-events.csv beside invoices.csv, once.",
        ),
        step(
            "Nothing new in QBO: one CDC request",
            qbsync("pull"),
            note="Exit 0: nothing changed since the last pull, nothing delivered twice.",
        ),
    ]


def check_events(workdir: Path, done: dict[str, str]) -> list[str]:
    """Problems with qbo-events.csv after the pull: every action there, nothing twice."""
    path = workdir / "qbo-events.csv"
    if not path.exists():
        return ["qbo-events.csv was not written"]
    with path.open(encoding="utf-8", newline="") as handle:
        rows: list[dict[str, Any]] = list(csv.DictReader(handle))
    problems = []
    ids = [r["event_id"] for r in rows]
    if len(ids) != len(set(ids)):
        problems.append("an event is in qbo-events.csv twice")
    seen = {(r["qbo_invoice_id"], r["event"]) for r in rows}
    wanted = {"paid in": "paid", "paid 5": "partly-paid", "voided": "voided", "deleted": "deleted"}
    for ident, what in done.items():
        kind = next(v for k, v in wanted.items() if what.startswith(k))
        if (ident, kind) not in seen:
            problems.append(f"no {kind} event for QBO invoice {ident}")
    return problems
