"""Benchmark: `qbsync pull` at scale (one CDC call vs reading every invoice's balance daily).

Run: ``.venv/bin/python benchmarks/bench_pull.py [--invoices N] [--json PATH]`` (``make bench``).

The company (built in an in-process emulator, QBO's limits off; setup not measured): N exported
invoices (default 10,000) of 25.00 over 2,000 customers, recorded in a fresh state as exported,
and a first pull as the baseline. Then the accountant records 3,000 payments (2,400 full, 300
partial, 300 covering three invoices each), voids 100 invoices, deletes 20 and edits 50.

- qbsync: the next pull (``run_pull``, csv sink): QBO requests (target <= ceil(changed objects /
  1000) + 2), events by kind, wall time; then the pull after it (a full CDC answer makes it read
  the exported invoices by Id, which finds deletions the cap cut off) and an idle pull (target 1).
- naive: what a script does each day without CDC: ``select * from Invoice where Id in (...)``
  over every exported invoice (1,000 per query), reading balances: requests and wall time; it
  cannot tell a deletion from an Id typo, nor which payment paid what.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from qbsync.emulator import Emulator
from qbsync.emulator import cdc as emu_cdc
from qbsync.state.db import State
from qbsync.state.exports import ExportRecord
from qbsync.sync.pull_run import run_pull
from qbsync.sync.sinks import CsvSink
from testkit import connect_client

CUSTOMERS = 2000


def build(emu: Emulator, state: State, invoices: int) -> list[str]:
    customers = [
        emu.company.create("Customer", {"DisplayName": f"Member {n}"})["Id"]
        for n in range(CUSTOMERS)
    ]
    ids: list[str] = []
    records = []
    now = datetime.now(UTC)
    for n in range(invoices):
        customer = customers[n % CUSTOMERS]
        body = {
            "CustomerRef": {"value": customer},
            "PrivateNote": f"qbsync:inv-{n} #{n};",
            "Line": [
                {
                    "Amount": Decimal("25.00"),
                    "DetailType": "SalesItemLineDetail",
                    "SalesItemLineDetail": {
                        "ItemRef": {"value": "1"},
                        "Qty": Decimal(1),
                        "UnitPrice": Decimal("25.00"),
                    },
                }
            ],
        }
        qbo = emu.company.create("Invoice", body)
        ids.append(qbo["Id"])
        records.append(
            ExportRecord(
                invoice_id=f"inv-{n}",
                member_id=f"m{n % CUSTOMERS}",
                customer_id=customer,
                state="exported",
                number=str(n),
                doc_number=qbo.get("DocNumber"),
                txn_date=qbo["TxnDate"],
                marker=body["PrivateNote"],
                request_id=None,
                bid=None,
                source_total=Decimal("25.00"),
                fingerprint="-",
                qbo_id=qbo["Id"],
                qbo_total=Decimal("25.00"),
                attempted_at=now,
                exported_at=now,
            )
        )
    state.exports.restore(records)
    return ids


def accountant(emu: Emulator, ids: list[str]) -> None:
    """3,000 payments (2,400 full, 300 partial, 300 over three invoices of one customer: index
    c, c + 2000, c + 4000 share customer c), 100 voids, 20 deletes, 50 edits."""
    for i in ids[:2400]:
        emu.record_payment({i: "25.00"}, method="1", reference="CHK")
    for i in ids[2400:2700]:
        emu.record_payment({i: "10.00"})
    for c in range(4000, 4300):
        emu.record_payment({ids[c]: "25.00", ids[c + 2000]: "25.00", ids[c + 4000]: "25.00"})
    for i in ids[2700:2800]:
        emu.void_invoice(i)
    for i in ids[2800:2820]:
        emu.delete_invoice(i)
    for i in ids[2820:2870]:
        line = emu.company.get_row("Invoice", i)["Line"][0]["Id"]
        emu.edit_invoice(i, line_amounts={line: "30.00"})


def pull(emu: Emulator, client: Any, state: State, sink: CsvSink) -> dict[str, Any]:
    emu.clear_requests()  # QBO API requests only (a token refresh after a day is not one)
    start = time.perf_counter()
    outcome = run_pull(
        client, state, sink=lambda: sink, pending_at_platform=set, dry_run=False, run_id=None
    )
    return {
        "mode": outcome.mode,
        # Answered requests: a 401 after the emulator's clock jumped a day (the access token
        # expired; the local clock did not move) is retried after a refresh; not a read.
        "requests": sum(1 for r in emu.requests("/v3/company/*") if r["status"] == 200),
        "by_kind": emu.request_counts("/v3/company/*"),
        "events": dict(Counter(e.kind for e in outcome.events)),
        "delivered": outcome.delivered,
        "seconds": round(time.perf_counter() - start, 2),
    }


def naive(client: Any, ids: list[str]) -> dict[str, Any]:
    start, before = time.perf_counter(), client.request_count
    balances: dict[str, Decimal] = {}
    for k in range(0, len(ids), 1000):
        chunk = ",".join(f"'{i}'" for i in ids[k : k + 1000])
        page = next(iter(client.query_pages(f"select * from Invoice where Id in ({chunk})")))
        balances.update({row["Id"]: Decimal(str(row["Balance"])) for row in page})
    return {
        "requests": client.request_count - before,
        "seconds": round(time.perf_counter() - start, 2),
        "read": len(balances),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=10_000)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, Emulator(limits=False) as emu:
        work = Path(tmp)
        client = connect_client(emu, work)
        state = State.open(work / "bench-state.sqlite3")
        state.bind_realm(client.realm_id, now=datetime.now(UTC), company_name="bench")
        sink = CsvSink(work / "qbo-events.csv")
        t0 = time.perf_counter()
        ids = build(emu, state, args.invoices)
        emu.clock.advance(86400)  # exported yesterday: the first pull's window starts after it
        baseline = pull(emu, client, state, sink)
        day = 86400  # a daily pull: the accountant's day, then the pull
        emu.clock.advance(day)
        accountant(emu, ids)
        setup = round(time.perf_counter() - t0, 1)
        cdc = emu.company  # the emulator's own count of what CDC would report, uncapped
        since = state.pulls.watermark()[0]
        assert since is not None
        with cdc.lock:
            saved = emu_cdc.CDC_MAX_OBJECTS
            emu_cdc.CDC_MAX_OBJECTS = 10**9
            answer = emu_cdc.changes(cdc, "Invoice,Payment,CreditMemo", since.isoformat())
            emu_cdc.CDC_MAX_OBJECTS = saved
        changed = sum(len(v) for r in answer[0]["QueryResponse"] for v in r.values()
                      if isinstance(v, list))  # fmt: skip
        first = pull(emu, client, state, sink)
        emu.clock.advance(day)
        second = pull(emu, client, state, sink)
        emu.clock.advance(day)
        idle = pull(emu, client, state, sink)
        naive_run = naive(client, ids)
        state.close()
    budget = math.ceil(changed / 1000) + 2
    results = {
        "invoices": args.invoices,
        "setup_seconds": setup,
        "baseline_pull": baseline,
        "changed_objects": changed,
        "budget": budget,
        "pull": first,
        "pull_after_full_answer": second,
        "idle_pull": idle,
        "naive_daily_read": naive_run,
        "ok": first["requests"] <= budget and idle["requests"] == 1,
    }
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    if not results["ok"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
