"""Benchmark: invoice export at scale (qbsync's engine vs a naive python-quickbooks script).

Run: ``.venv/bin/python benchmarks/bench_export.py [--quick] [--json PATH]`` (``make bench``).

The company: N customers (default 10,000), of which M (default 2,000) hold a member's email;
the members are linked first by qbsync's own connect (setup, not measured). Then I pending
invoices (default 10,000: I/M per member, one to three lines each) are exported, with QBO's
limits on and the emulator's windows divided by ``--time-scale`` (qbsync's pacer on the same
scale). ``QBSYNC_SETTLE_GRACE_SECONDS=0``.

- qbsync: ``plan_export`` + ``apply_export`` in a fresh process (its CPU and peak RSS alone):
  QBO requests (expected <= ceil(I/30) + 5; reads and writes counted apart) and wall time against
  the floor that Intuit's 40 batch requests a minute per app set (qbo-facts.md "Batch"):
  ceil(I/30) / 40 minutes, divided by the time scale (10,000 invoices: 8.35 QBO-minutes). Target:
  within 1.05x of it, and not one 429.
- naive:  on a fresh emulator with the same seed, one ``Invoice(...).save()`` per invoice with
  python-quickbooks' objects, paced at 480 requests/min (the scaled minute), waiting Intuit's
  60 s (scaled) after a 429. ``--naive-invoices K`` runs it on K of them and scales linearly.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_members
import benchkit as kit

from qbsync.sources.records import InvoiceLine, Member, SourceInvoice
from qbsync.sync.connect import apply_connect, prepare_connect
from qbsync.sync.export_apply import GRACE_ENV
from qbsync.sync.export_run import apply_export, export_summary, plan_export

BATCH = 30
BATCHES_PER_MINUTE = 40  # per realm and app: Intuit's limits page (qbo-facts.md "Batch")
TARGET_OVER_FLOOR = 1.05
LINES = (
    ("Mailbox rental", "Mailbox Rental", Decimal("25.00")),
    ("Mail forwarding", "Mail Forwarding", Decimal("7.50")),
    ("Membership fee", "Membership Fee", Decimal("120.00")),
)


# --- the data: deterministic, so every process builds the same ---------------------------------


def make_members(count: int) -> list[Member]:
    return bench_members.make_members(count)


def make_customers(members: int, customers: int) -> list[dict[str, Any]]:
    """Customers for every member (exact emails), then unrelated ones up to ``customers``."""
    out: list[dict[str, Any]] = []
    for i in range(members):
        first, last, email = bench_members.person(i)
        out.append(
            {
                "DisplayName": f"{first} {last}",
                "GivenName": first,
                "FamilyName": last,
                "PrimaryEmailAddr": {"Address": email},
            }
        )
    for j in range(max(0, customers - members)):
        out.append(
            {
                "DisplayName": f"Walk-in Client {j:05d}",
                "PrimaryEmailAddr": {"Address": f"client{j:05d}@walkin.example"},
            }
        )
    return out


def make_invoice(n: int, members: int, base: datetime) -> SourceInvoice:
    lines = tuple(
        InvoiceLine(text, Decimal(1 + (n + k) % 4), price, item)
        for k, (text, item, price) in enumerate(LINES[: 1 + n % 3])
    )
    return SourceInvoice(
        id=f"INV{n:06d}",
        member_id=f"M{n % members:05d}",
        number=f"P-{n:06d}",
        created_at=base + timedelta(seconds=n),
        due_date=None,
        status="pending",
        currency=None,
        lines=lines,
    )


def make_invoices(count: int, members: int, base: datetime) -> list[SourceInvoice]:
    return [make_invoice(n, members, base) for n in range(count)]


# --- the runs (each in its own process) ----------------------------------------------------------


def qbsync_export(
    workdir: str,
    time_scale: float,
    members: int,
    invoices: int,
    base_iso: str,
    profile: str | None,
) -> dict[str, Any]:
    logging.getLogger("qbsync").setLevel(logging.ERROR)
    config, client, state = kit.open_profile(Path(workdir), time_scale)
    people = make_members(members)
    source = make_invoices(invoices, members, datetime.fromisoformat(base_iso))
    with kit.measured(profile) as out:
        plan = plan_export(
            source,
            people,
            [],
            client=client,
            state=state,
            config=config,
            today=date.today(),
            export_day=None,
        )
        outcome = apply_export(plan, client=client, state=state, config=config, run_id=None)
    summary = export_summary(plan, outcome)
    out["client_requests"] = client.request_count
    out["pacer_waited_s"] = round(client.session.pacer.waited, 2)
    out["outcome"] = {
        "to_export": summary["to_export"],
        "exported": summary["exported"],
        "failed": summary["failed"],
        "in_flight": len(summary["in_flight"]),
        "skipped": sum(summary["skipped"].values()),
        "total": summary["exported_total"],
    }
    out["failures"] = summary["failures"][:5]
    state.close()
    return out


def naive_export(
    base_url: str,
    realm_id: str,
    token: str,
    time_scale: float,
    indices: list[int],
    members: int,
    base_iso: str,
    customer_of: dict[str, str],
    profile: str | None,
) -> dict[str, Any]:
    """What a user writes with python-quickbooks: read the items once, then one save per invoice."""
    from quickbooks.exceptions import QuickbooksException
    from quickbooks.objects.base import Ref
    from quickbooks.objects.detailline import SalesItemLine, SalesItemLineDetail
    from quickbooks.objects.invoice import Invoice
    from quickbooks.objects.item import Item

    naive = kit.NaiveClient(base_url, realm_id, token, time_scale)
    qb, call = naive.qb, naive.call

    base = datetime.fromisoformat(base_iso)
    source = [make_invoice(n, members, base) for n in indices]
    created = 0
    errors: Counter[str] = Counter()
    with kit.measured(profile) as out:
        items = {item.Name: item.Id for item in call(lambda: Item.all(qb=qb))}
        for invoice in source:
            qbo = Invoice()
            qbo.CustomerRef = Ref()
            qbo.CustomerRef.value = customer_of[invoice.member_id]
            qbo.TxnDate = invoice.created_at.date().isoformat()
            for source_line in invoice.lines:
                line = SalesItemLine()
                line.Description = source_line.description
                line.Amount = float(source_line.quantity * source_line.unit_price)
                line.SalesItemLineDetail = SalesItemLineDetail()
                line.SalesItemLineDetail.ItemRef = Ref()
                line.SalesItemLineDetail.ItemRef.value = items[source_line.item_code]
                line.SalesItemLineDetail.Qty = float(source_line.quantity)
                line.SalesItemLineDetail.UnitPrice = float(source_line.unit_price)
                qbo.Line.append(line)
            try:
                call(lambda q=qbo: q.save(qb=qb))
            except QuickbooksException as exc:
                errors[str(exc.error_code)] += 1
                continue
            created += 1
    out["client_requests"] = naive.sent
    out["throttled_429"] = naive.throttled
    out["outcome"] = {"exported": created, "failed": dict(errors)}
    return out


# --- orchestration -----------------------------------------------------------------------------


def finish(
    row: dict[str, Any], emu: kit.EmulatorProcess, cpu_before: float | None
) -> dict[str, Any]:
    logged = emu.api_requests()
    row["emulator_requests"] = len(logged)
    row["emulator_by_template"] = dict(Counter(e["template"] for e in logged))
    row["emulator_statuses"] = dict(Counter(str(e["status"]) for e in logged))
    # Reads (GET, query) are what Intuit meters; writes (creates, batches) are what the limits
    # slow down. A 429 answer counts as neither (it did nothing) and is reported on its own.
    answered = [e for e in logged if e["status"] != 429]
    row["reads"] = sum(1 for e in answered if _is_read(e))
    row["writes"] = len(answered) - row["reads"]
    row["answered_429"] = len(logged) - len(answered)
    row["emulator_cpu_s"] = kit.emulator_cpu(emu, cpu_before)
    return row


def _is_read(entry: dict[str, Any]) -> bool:
    return entry["method"] == "GET" or str(entry["path"]).split("?")[0].endswith("/query")


def run_qbsync(args: argparse.Namespace, tmp: Path, seed: Path, base: datetime) -> dict[str, Any]:
    workdir = tmp / "qbsync"
    workdir.mkdir()
    with kit.EmulatorProcess(seed, tmp, time_scale=args.time_scale) as emu:
        kit.connect_profile(emu, workdir)
        config, client, state = kit.open_profile(workdir, args.time_scale)
        # Enabled two days ago: every invoice (made since) is eligible.
        state.bind_realm(
            client.realm_id, now=datetime.now(UTC) - timedelta(days=2), company_name="bench"
        )
        logging.getLogger("qbsync").setLevel(logging.ERROR)
        prepared = prepare_connect(
            make_members(args.members), [], client=client, state=state, config=config, full=False
        )
        linked = apply_connect(
            prepared, client=client, state=state, config=config, run_id=None
        ).summary()
        state.close()
        if linked["linked"] != args.members:
            raise RuntimeError(f"setup: expected {args.members} members linked: {linked}")
        time.sleep(61.0 / args.time_scale)  # the connect's requests leave the rate windows
        emu.clear_requests()
        cpu = emu.cpu_seconds()
        profile = args.profile if args.profile_run == "qbsync" else None
        row = kit.run_measured(
            qbsync_export,
            str(workdir),
            args.time_scale,
            args.members,
            args.invoices,
            base.isoformat(),
            profile,
        )
        finish(row, emu, cpu)
        row["qbo_invoices"] = emu.count("Invoice")
    batches = kit.ceil_div(args.invoices, BATCH)
    row["batches"] = batches
    row["expected_max"] = batches + 5
    row["floor_s"] = round(batches / BATCHES_PER_MINUTE * 60 / args.time_scale, 2)
    row["wall_over_floor"] = round(row["wall_s"] / row["floor_s"], 2)
    return row


def run_naive(args: argparse.Namespace, tmp: Path, seed: Path, base: datetime) -> dict[str, Any]:
    count = min(args.naive_invoices or args.invoices, args.invoices)
    # Every k-th invoice: the same mix of one, two and three lines as the whole.
    step = args.invoices / count
    indices = sorted({int(k * step) for k in range(count)})
    with kit.EmulatorProcess(seed, tmp, time_scale=args.time_scale) as emu:
        emu.admin(
            "POST",
            "clients",
            {
                "client_id": kit.CLIENT_ID,
                "client_secret": kit.CLIENT_SECRET,
                "redirect_uris": [kit.REDIRECT_URI],
            },
        )
        token = emu.admin("POST", "tokens", {"client_id": kit.CLIENT_ID})["access_token"]
        # The user's member -> customer Id list (from their own connect step): not measured.
        by_email = {
            str(c["PrimaryEmailAddr"]["Address"]).lower(): str(c["Id"])
            for c in emu.admin("GET", "dump")["Customer"]
            if c.get("PrimaryEmailAddr")
        }
        customer_of = {m.id: by_email[m.email] for m in make_members(args.members)}
        emu.clear_requests()
        cpu = emu.cpu_seconds()
        profile = args.profile if args.profile_run == "naive" else None
        row = kit.run_measured(
            naive_export,
            emu.base_url,
            emu.realm_id,
            token,
            args.time_scale,
            indices,
            args.members,
            base.isoformat(),
            customer_of,
            profile,
        )
        finish(row, emu, cpu)
        row["qbo_invoices"] = emu.count("Invoice")
    row["invoices"] = len(indices)
    row["floor_s"] = round(
        (len(indices) + 1) / 500 * 60 / args.time_scale, 2
    )  # 500 requests a minute
    if len(indices) < args.invoices:  # a subset: scale the per-invoice work linearly
        factor = args.invoices / len(indices)
        row["extrapolated_from_invoices"] = len(indices)
        # The items query is read once whatever the size: only the writes scale.
        scaled = (
            "client_requests",
            "emulator_requests",
            "writes",
            "wall_s",
            "cpu_s",
            "emulator_cpu_s",
        )
        for key in scaled:
            if row.get(key) is not None:
                row[f"{key}_measured"] = row[key]
                row[key] = round(row[key] * factor, 2 if isinstance(row[key], float) else None)
        row["floor_s"] = round(row["floor_s"] * factor, 2)
    return row


def report(results: dict[str, Any], args: argparse.Namespace) -> str:
    rows = []
    for name, run in results["runs"].items():
        out = run.get("outcome", {})
        sampled = run.get("extrapolated_from_invoices")
        rows.append(
            {
                "run": name + (" (extrapolated)" if sampled else ""),
                "requests": run["client_requests"],
                "log": run["emulator_requests"],
                "expected": f"<= {run['expected_max']}" if "expected_max" in run else "",
                "reads": run.get("reads"),
                "writes": run.get("writes"),
                "answered_429": run.get("answered_429"),
                "wall": run["wall_s"],
                "floor": run["floor_s"],
                "qbo_min": round(run["wall_s"] * args.time_scale / 60, 1),
                "cpu": run["cpu_s"],
                "rss": run["peak_rss_mb"],
                "emu_cpu": run.get("emulator_cpu_s"),
                "outcome": (f"of {sampled} sampled: " if sampled else "")
                + ", ".join(f"{k}={v}" for k, v in out.items() if v),
            }
        )
    columns = [
        ("run", "run"),
        ("requests", "QBO requests"),
        ("log", "emulator log"),
        ("expected", "expected"),
        ("reads", "reads"),
        ("writes", "writes"),
        ("answered_429", "429s"),
        ("wall", "wall s"),
        ("floor", "floor s"),
        ("qbo_min", "QBO-min"),
        ("cpu", "CPU s"),
        ("rss", "peak RSS MB"),
        ("emu_cpu", "emulator CPU s"),
        ("outcome", "outcome"),
    ]
    q = results["runs"]["qbsync"]
    lines = [kit.table(rows, columns), ""]
    verdict = "ok" if q["client_requests"] <= q["expected_max"] else "MISSED"
    lines.append(
        f"qbsync: {q['client_requests']} requests, expected <= {q['expected_max']}: {verdict}  "
        f"{q['emulator_by_template']}"
    )
    paced = (
        "ok" if q["wall_over_floor"] <= TARGET_OVER_FLOOR and not q["answered_429"] else "MISSED"
    )
    lines.append(
        f"qbsync: wall {q['wall_s']} s = {q['wall_over_floor']}x the floor of {q['batches']} "
        f"batches at {BATCHES_PER_MINUTE}/min ({q['floor_s']} s = "
        f"{q['batches'] / BATCHES_PER_MINUTE:.2f} QBO-minutes; target <= {TARGET_OVER_FLOOR}x "
        f"and no 429), {q['answered_429']} answered 429: {paced}; "
        f"the pacer waited {q['pacer_waited_s']} s"
    )
    lines.append(
        f"qbsync: CPU {q['cpu_s']} s (target < 5 s), peak RSS {q['peak_rss_mb']} MB "
        f"(target < 200 MB; {q['rss_before_mb']} MB before the run, invoices built)"
    )
    naive = results["runs"].get("naive")
    if naive:
        lines.append(
            f"naive / qbsync: {naive['client_requests'] / max(1, q['client_requests']):.0f}x the "
            f"requests, {naive['wall_s'] / max(0.01, q['wall_s']):.1f}x the wall time; naive "
            f"throttled {naive.get('throttled_429', 0)} times"
        )
    lines.append(
        f"floor s: the shortest run QBO's limits allow (qbsync: batches at "
        f"{BATCHES_PER_MINUTE}/min; naive: "
        f"requests at 500/min), divided by the time scale ({args.time_scale:g}); "
        "QBO-min = wall x time scale / 60"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 invoices: a smoke test")
    parser.add_argument("--invoices", type=int, default=10_000)
    parser.add_argument("--members", type=int, default=2_000)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument(
        "--time-scale",
        type=float,
        default=10.0,
        help="10: the floor (50 s) is longer than qbsync's own work, so pacing is measured",
    )
    parser.add_argument(
        "--naive-invoices",
        type=int,
        default=3000,
        help="run the naive script on this many invoices and scale linearly; 0: all",
    )
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument("--profile", choices=("cpu", "mem"), help="cProfile or tracemalloc")
    parser.add_argument("--profile-run", default="qbsync", choices=("qbsync", "naive"))
    parser.add_argument("--json", type=Path, help="write the results as JSON to this file")
    args = parser.parse_args(argv)
    if args.quick:
        args.invoices, args.members, args.customers = 1000, 200, 1000
        args.naive_invoices = min(args.naive_invoices, 500)
    os.environ[GRACE_ENV] = "0"  # inherited by the spawned runs
    started = time.monotonic()
    base = datetime.now(UTC) - timedelta(days=1)  # invoices made after the integration's start
    with tempfile.TemporaryDirectory(prefix="qbsync-bench-export-") as tmp_name:
        tmp = Path(tmp_name)
        seed = kit.write_seed(tmp / "seed.json", make_customers(args.members, args.customers))
        runs: dict[str, Any] = {"qbsync": run_qbsync(args, tmp, seed, base)}
        print(f"  qbsync: {runs['qbsync']['outcome']}", file=sys.stderr)
        if not args.skip_naive:
            runs["naive"] = run_naive(args, tmp, seed, base)
            print(f"  naive: {runs['naive']['outcome']}", file=sys.stderr)
    return kit.publish(
        "export",
        args,
        runs,
        started,
        report,
        invoices=args.invoices,
        members=args.members,
        customers=args.customers,
    )


if __name__ == "__main__":
    raise SystemExit(main())
