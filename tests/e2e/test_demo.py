"""`qbsync demo` runs end to end as a real process, leaves a connected profile behind, and leaves
QBO (the emulator's saved state) holding exactly what the demo's data says it should."""

from __future__ import annotations

import csv
import json
import re
import stat
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from qbsync.demo import DEMO_CLIENT_SECRET, EMULATOR_FILE, demo_export_day
from qbsync.demo_data import write_invoices
from qbsync.emulator import Emulator
from qbsync.state.db import State
from qbsync.sync.invoice_map import line_amount

pytestmark = pytest.mark.e2e

LINKED_AUTO = {"m-001", "m-004", "m-007"}  # Emily (email case), Gary (reactivated), Acme (list)
LINKED_CREATED = {"m-002", "m-006"} | {f"m-{n:03}" for n in range(10, 20)}
NOT_LINKED = {"m-003": "needs_review", "m-005": "no_email", "m-008": "inactive"}


def _demo_keeping(keep: Path, *, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qbsync", "demo", "--keep", str(keep)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """One demo run, shared by the tests that read what it left (it takes a few seconds)."""
    keep = tmp_path_factory.mktemp("demo") / "kept"
    return keep, _demo_keeping(keep, timeout=180)


def _qbo(keep: Path) -> dict[str, list[dict[str, Any]]]:
    """What the demo's emulator held when it stopped (restored from the file the demo kept)."""
    return Emulator(data=keep / EMULATOR_FILE).company.dump()


def _expected_exports(keep: Path, enabled_at: datetime) -> dict[str, tuple[str, Decimal]]:
    """invoice id -> (member id, total), worked out from the demo's invoices.csv on its own."""
    lines: dict[str, list[dict[str, str]]] = defaultdict(list)
    with (keep / "invoices.csv").open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            lines[row["invoice_id"]].append(row)
    expected = {}
    for invoice_id, rows in lines.items():
        head = rows[0]
        if "-dup" in invoice_id:  # copies exported by mistake, then undone (demo_after.py)
            continue
        if (
            head["status"] in ("pending", "void")  # void: voided at the platform after export
            and datetime.fromisoformat(head["created_at"]) >= enabled_at
            and head["member_id"] in LINKED_AUTO | LINKED_CREATED
            and all(r["item_code"] != "LOCKER-XL" for r in rows)
        ):
            total = sum(
                (line_amount(Decimal(r["quantity"]), Decimal(r["unit_price"])) for r in rows),
                Decimal("0"),
            )
            expected[invoice_id] = (head["member_id"], total)
    return expected


def _csv_ids(keep: Path) -> list[str]:
    with (keep / "invoices.csv").open(encoding="utf-8", newline="") as handle:
        return sorted({row["invoice_id"] for row in csv.DictReader(handle)})


def test_demo_runs_every_step_and_connects(
    demo: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    keep, done = demo
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Demo finished: 17 commands ran" in done.stdout
    assert "Connected to Sunrise Mailbox Co (emulated)" in done.stdout
    for command in ("connect-members --yes", "links", "export --if-due --as-of", "runs", "report"):
        assert f"$ qbsync {command}" in done.stdout
    # The expected failure is shown with its reason; the checks against QBO ran.
    assert 'item code "LOCKER-XL" is not mapped to a QBO item' in done.stdout
    assert (
        done.stdout.count("Checked in the emulator:") == 6
    )  # + the pull phase and the after-export phase
    # The pull phase: the accountant's payments, void and delete came back to the platform once.
    assert "$ qbsync pull" in done.stdout
    with (keep / "qbo-events.csv").open(encoding="utf-8", newline="") as handle:
        events = [row["event"] for row in csv.DictReader(handle)]
    assert sorted(events) == sorted(
        ["payment", "paid", "payment", "partly-paid", "voided", "deleted"]
    )
    # State: the connection was recorded, with the time the integration was enabled.
    with State.open(keep / "data" / "default" / "state.sqlite3") as state:
        assert state.realm_id == "9341455130166501"
        assert state.enabled_at is not None
    # The token file exists, is private, and holds tokens that never reached the output.
    token_file = keep / "data" / "default" / "tokens.json"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((keep / EMULATOR_FILE).stat().st_mode) == 0o600
    stored = json.loads(token_file.read_text())
    secrets = [DEMO_CLIENT_SECRET]
    secrets += [v for k, v in stored.get("tokens", {}).items() if k.endswith("_token")]
    assert len(secrets) >= 3
    for secret in secrets:
        assert secret not in done.stdout
        assert secret not in done.stderr
    assert "qbsync-demo-secret" not in (keep / "config.toml").read_text()


def test_demo_connects_each_member_as_its_case_says(
    demo: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    keep, done = demo
    assert done.returncode == 0, done.stdout + done.stderr
    with State.open(keep / "data" / "default" / "state.sqlite3") as state:
        links = state.members.links()
        roster = state.members.roster()
    assert {m for m, link in links.items() if link.how == "auto"} == LINKED_AUTO
    assert {m for m, link in links.items() if link.how == "created"} == LINKED_CREATED
    assert {m: roster[m].status for m in NOT_LINKED} == NOT_LINKED
    assert sorted(roster["m-003"].candidates) == ["5", "6"]  # Pat Rivera, Rivera Design Studio

    customers = {c["Id"]: c for c in _qbo(keep)["Customer"]}
    assert len(customers) == 6 + 12  # seeded (3 default + 3 demo) + created
    assert all(c["Active"] for c in customers.values())
    by_member = {m: customers[link.customer_id] for m, link in links.items()}
    assert by_member["m-001"]["DisplayName"] == "Emily Platt"  # EMILY.PLATT@example.com
    assert by_member["m-001"]["PrimaryEmailAddr"]["Address"] == "emily.platt@example.com"
    assert by_member["m-002"]["DisplayName"] == (
        "Harbor Courier Supplies (orders@harbor-courier.example)"  # a vendor holds the name
    )
    assert by_member["m-004"]["DisplayName"] == "Gary Holt"  # reactivated, name restored
    assert by_member["m-004"]["Id"] == "3"  # the seeded one, not a new customer
    assert by_member["m-006"]["DisplayName"] == 'Sean O\'Neil "Jr"'
    assert by_member["m-007"]["DisplayName"] == "Acme Mail Co"
    assert by_member["m-007"]["PrimaryEmailAddr"]["Address"] == (
        "billing@acme.example, ops@acme.example"  # linked, left as it was
    )
    assert by_member["m-010"]["PrimaryEmailAddr"]["Address"] == "ava.chen@example.net"
    names = {c["DisplayName"] for c in customers.values()}
    assert {"Pat Rivera", "Rivera Design Studio"} <= names  # needs review: both left alone
    assert not names & {"Gary Holt (deleted)", "Nora Quill", "Lee Lapsed"}
    assert len({c["DisplayName"] for c in customers.values()}) == len(customers)


def test_demo_exports_each_eligible_invoice_exactly_once(
    demo: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    keep, done = demo
    assert done.returncode == 0, done.stdout + done.stderr
    with State.open(keep / "data" / "default" / "state.sqlite3") as state:
        assert state.enabled_at is not None
        expected = _expected_exports(keep, state.enabled_at)
        export_states = state.exports.states()
        links = {m: link.customer_id for m, link in state.members.links().items()}
        runs = state.runs.last(10)
    assert len(expected) == 88
    qbo = _qbo(keep)
    # The pull phase acted as the accountant: one exported invoice deleted in QBO, one voided.
    # Then the after-export phase (demo_after.py): two invoices voided at the platform, and three
    # copies exported by mistake then undone; all voided in QBO ("Voided - " + the marker).
    every = qbo["Invoice"]
    voided = {
        i["PrivateNote"].removeprefix("Voided - ").split()[0].removeprefix("qbsync:")
        for i in every
        if i["PrivateNote"].startswith("Voided")
    }
    assert len(voided) == 6 and sum("-dup" in v for v in voided) == 3
    assert all(str(i["TotalAmt"]) == "0" for i in every if i["PrivateNote"].startswith("Voided"))
    invoices = [i for i in every if not i["PrivateNote"].startswith("Voided")]
    voided -= {v for v in voided if "-dup" in v}
    markers = Counter(
        re.search(r"qbsync:(\S+) #", i["PrivateNote"]).group(1)  # type: ignore[union-attr]
        for i in invoices
    )
    markers.update(voided)
    # Exactly once each, nothing else: none from before enabling, none paid, none held back,
    # not the one with the unknown item, and the second and third export sent nothing more.
    deleted = set(expected) - set(markers)
    assert len(deleted) == 1 and len(voided) == 3
    assert markers == Counter(dict.fromkeys(set(expected) - deleted, 1))
    assert len(invoices) == len(expected) - len(voided) - len(deleted)
    for invoice in invoices:
        invoice_id = invoice["PrivateNote"].split()[0].removeprefix("qbsync:")
        member, total = expected[invoice_id]
        assert Decimal(str(invoice["TotalAmt"])) == total, invoice_id
        assert invoice["CustomerRef"]["value"] == links[member], invoice_id
    in_csv = {i for i in _csv_ids(keep) if "-dup" not in i}
    assert len(in_csv) == 120
    held = in_csv - set(expected)
    assert {f"inv-{n}" for n in range(1001, 1026)} <= held  # 10 before enabling, 15 paid
    assert held.isdisjoint(markers)
    # The undone copies: voided in QBO, no longer exported, held until `qbsync release`.
    assert {i: s for i, s in export_states.items() if "-dup" in i} == dict.fromkeys(
        ("inv-1033-dup1", "inv-1033-dup2", "inv-1033-dup3"), "failed"
    )
    with State.open(keep / "data" / "default" / "state.sqlite3") as state:
        holds = state.exports.holds()
    assert {f"inv-1033-dup{n}" for n in (1, 2, 3)} <= set(holds)
    exported = {i for i, s in export_states.items() if s == "exported" and "-dup" not in i}
    assert exported == set(expected)

    # The multi-line invoice adds up to the cent: 3 x 7.333 = 22.00, 14.50 x 128.35 = 1861.08.
    multi = next(i for i in invoices if i["PrivateNote"].startswith("qbsync:inv-1033 #"))
    amounts = [Decimal(str(ln["Amount"])) for ln in multi["Line"] if ln.get("LineNum")]
    assert amounts == [Decimal("22.00"), Decimal("1861.08")]
    assert Decimal(str(multi["TotalAmt"])) == Decimal("1883.08")
    total = sum((t for _m, t in expected.values()), Decimal("0"))
    in_qbo = sum((Decimal(str(i["TotalAmt"])) for i in invoices), Decimal("0"))
    gone = [t for i, (_m, t) in expected.items() if i in deleted or i in voided]
    assert in_qbo + sum(gone, Decimal("0")) == total
    # The demo's closing summary is of the export (before the accountant's and the platform's
    # changes): each exported invoice once.
    assert "88 of the 120 invoices in invoices.csv exported, each exactly once" in done.stdout

    # The runs: connect-members, then the export (88 and one failure), the export again.
    assert [(r.command, r.outcome) for r in reversed(runs)] == [
        ("connect-members", "partial"),  # m-003 needs review: a problem (issue 13)
        ("export", "partial"),
        ("export", "partial"),
        ("pull", "partial"),
        ("pull", "ok"),
        ("export", "ok"),  # not an export day: the voids and the correction went
        ("export", "partial"),  # the copies sent by mistake
        ("undo", "ok"),
    ]
    first_export = runs[6].summary or {}
    assert first_export["exported"] == 88 and first_export["failed"] == 1
    assert (runs[5].summary or {})["exported"] == 0


def test_demo_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    keep = tmp_path / "used"
    keep.mkdir()
    (keep / "config.toml").write_text("# an earlier demo\n")
    done = _demo_keeping(keep, timeout=60)
    assert done.returncode == 2
    assert "not empty" in done.stderr
    assert (keep / "config.toml").read_text() == "# an earlier demo\n"
    assert [p.name for p in keep.iterdir()] == ["config.toml"]  # nothing else was written


@pytest.mark.parametrize(
    ("today", "served"),
    [
        (date(2026, 12, 1), date(2026, 12, 5)),
        (date(2026, 12, 5), date(2026, 12, 5)),  # an export day serves itself
        (date(2026, 12, 31), date(2027, 1, 5)),
        (date(2027, 2, 28), date(2027, 2, 28)),  # February's last day serves the 30th
        (date(2028, 2, 27), date(2028, 2, 29)),
    ],
)
def test_demo_exports_on_the_next_export_day_on_or_after_today(today: date, served: date) -> None:
    assert demo_export_day(today) == served


def test_sample_invoices_are_timed_around_the_enabling_moment(tmp_path: Path) -> None:
    enabled_at = datetime.fromisoformat("2026-06-01T12:00:00.250000+00:00")
    now = datetime.fromisoformat("2026-06-01T12:00:01+00:00")
    sample = write_invoices(tmp_path / "invoices.csv", enabled_at=enabled_at, now=now)
    created: dict[str, datetime] = {}
    with (tmp_path / "invoices.csv").open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            created[row["invoice_id"]] = datetime.fromisoformat(row["created_at"])
    assert len(created) == sample.count == 120
    after = set(created) - set(sample.before_enabled)
    assert all(enabled_at < created[i] <= now for i in after)
    assert all((enabled_at - created[i]).days >= 1 for i in sample.before_enabled)
    assert sample.multi_line_total == Decimal("1883.08")


def test_demo_ends_with_the_reports_summary_and_its_html_file(
    demo: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    keep, done = demo
    assert done.returncode == 0, done.stdout + done.stderr
    html = keep / "report.html"
    ending = done.stdout[done.stdout.index("Demo finished:") :]
    assert f"The report for your accountant (printable): {html}" in ending
    assert "Reconciliation for Sunrise Mailbox Co (emulated)" in ending
    # The report's totals are what the emulator holds, to the cent, in its CSV and its HTML.
    # The report ran right after the export, before the demo's later phases changed QBO (the
    # accountant's void and delete, the platform's voids and correction, the undone copies):
    # it holds the amounts QBO had then, which are the export's, to the cent.
    with (keep / "report.csv").open(encoding="utf-8-sig", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["state"] == "exported"]
    assert len(rows) == 88
    total = sum((Decimal(r["qbo_total"]) for r in rows), Decimal("0"))
    assert sum((Decimal(r["platform_total"]) for r in rows), Decimal("0")) == total
    assert (
        f"88 invoice(s) exported on 1 day(s): platform {total}, QBO {total}, difference 0.00"
        in (ending)
    )
    with (keep / "qbo-events.csv").open(encoding="utf-8", newline="") as handle:
        deleted = {r["qbo_invoice_id"] for r in csv.DictReader(handle) if r["event"] == "deleted"}
    assert len(deleted) == 1
    # Every invoice the report counted is still in QBO (voided ones too), but the deleted one.
    assert {r["qbo_id"] for r in rows} - deleted <= {i["Id"] for i in _qbo(keep)["Invoice"]}
    page = html.read_text(encoding="utf-8")
    assert f">{total}<" in page and "Balanced" in page and "<svg" in page
    assert "read back in 2 request(s)" in ending  # one Id IN query for 88, one preferences read
