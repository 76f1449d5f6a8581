"""The demo's after-export part: the platform voids and edits a few exported invoices, the next
daily run pushes the voids to QBO (and reports the edit), and `qbsync undo` voids the rest of
the export run. Self-contained: it reads the working folder and the emulator only."""

from __future__ import annotations

import csv
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

VOIDED_AT_PLATFORM = 2


def change_invoices(workdir: Path) -> tuple[list[str], str]:
    """Void the first exported-looking pending invoices and edit the next one, in invoices.csv.
    (voided ids, edited id)"""
    path = workdir / "invoices.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        columns = list(reader.fieldnames or [])
        rows = list(reader)
    exported = _exported_ids(workdir)
    wanted = [r["invoice_id"] for r in rows if r["invoice_id"] in exported]
    ids = list(dict.fromkeys(wanted))
    # The last ones: the demo's multi-line invoice (an early one) stays as exported.
    voided, edited = ids[-VOIDED_AT_PLATFORM:], ids[-VOIDED_AT_PLATFORM - 1]
    for row in rows:
        if row["invoice_id"] in voided:
            row["status"] = "void"
    for row in rows:
        if row["invoice_id"] == edited:
            row["quantity"] = str(Decimal(row["quantity"]) + 1)  # a corrected quantity
            break
    _write(path, columns, rows)
    return voided, edited


def add_mistakes(workdir: Path, count: int = 3) -> list[str]:
    """New pending invoices (copies of the first exported one's lines) that a run exports by
    mistake, for `undo` to take back."""
    path = workdir / "invoices.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        columns = list(reader.fieldnames or [])
        rows = list(reader)
    exported = _exported_ids(workdir)
    model = next(r for r in rows if r["invoice_id"] in exported and r["status"] == "pending")
    ids = [f"{model['invoice_id']}-dup{n}" for n in range(1, count + 1)]
    for iid in ids:
        rows.append({**model, "invoice_id": iid, "number": f"{model['number']}-D{iid[-1]}"})
    _write(path, columns, rows)
    return ids


def _write(path: Path, columns: list[str], rows: list[dict[str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def update_on_change(workdir: Path) -> None:
    """``[export] on_change = "update"`` in the demo's config: edits reach QBO too."""
    path = workdir / "config.toml"
    text = path.read_text(encoding="utf-8")
    if "\n[export]\n" in text:
        text = text.replace("\n[export]\n", '\n[export]\non_change = "update"\n', 1)
    else:
        text += '\n[export]\non_change = "update"\n'
    path.write_text(text, encoding="utf-8")


def _exported_ids(workdir: Path) -> set[str]:
    from qbsync.state.db import State

    with State.open(workdir / "data" / "default" / "state.sqlite3") as state:
        return {r.invoice_id for r in state.exports.all() if r.state == "exported"}


def last_export_run(workdir: Path) -> int:
    from qbsync.state.db import State

    with State.open(workdir / "data" / "default" / "state.sqlite3") as state:
        runs = [r.run_id for r in state.exports.all() if r.state == "exported" and r.run_id]
    return max(runs)


def check_voided(invoices: list[dict[str, Any]], workdir: Path, ids: list[str]) -> list[str]:
    """Problems: any of ``ids`` whose QBO invoice is not voided."""
    from qbsync.state.db import State

    with State.open(workdir / "data" / "default" / "state.sqlite3") as state:
        qbo_ids = {i: (state.exports.get(i) or None) for i in ids}
    by_id = {str(i["Id"]): i for i in invoices}
    problems = []
    for iid, record in qbo_ids.items():
        held = by_id.get(str(record.qbo_id)) if record else None
        if held is None or not str(held.get("PrivateNote") or "").startswith("Voided"):
            problems.append(f"invoice {iid} is not voided in QBO")
    return problems


def after_steps(
    workdir: Path,
    as_of: date,
    step: Callable[[str, list[str], int, str], None],
    show: Callable[[str], None],
) -> tuple[list[str], int]:
    """Runs the steps (``step(title, qbsync args, expected exit, note)``); (voided ids, undone
    run)."""
    voided, edited = change_invoices(workdir)
    update_on_change(workdir)
    show("")
    show(f"At the platform: invoices {', '.join(voided)} are voided, {edited} is corrected.")
    show('config.toml: [export] on_change = "update" (corrections reach unpaid QBO invoices)')
    day = (as_of + timedelta(days=1)).isoformat()
    step(
        f"The next daily run ({day}, not an export day): the platform's changes go anyway",
        ["export", "--if-due", "--as-of", day],
        0,
        f"The voids reached QBO, and {edited}'s correction updated its QBO invoice (unpaid, "
        'not emailed). With on_change = "report" (the default) it would be a problem to fix '
        "by hand.",
    )
    mistakes = add_mistakes(workdir)
    show("")
    show(f"By mistake, {len(mistakes)} copies of an invoice are added at the platform and sent:")
    step(
        "Export now, by mistake",
        ["export", "--yes"],
        5,
        "They went (exit 5: the invoice naming an unknown item still fails).",
    )
    run = last_export_run(workdir)
    step(
        f"What undo would do to export run {run}",
        ["undo", str(run), "--dry-run"],
        0,
        "Blockers (a payment applied, a closed period, emailed) would be listed first.",
    )
    step(
        f"Undo export run {run}: its invoices are voided in QBO (never deleted) and held",
        ["undo", str(run), "--yes"],
        0,
        "The next export does not send them again until `qbsync release`.",
    )
    return voided + mistakes, run
