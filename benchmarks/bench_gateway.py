"""Benchmark: qbsync's QBO gateway against the emulator, with and without QBO's limits.

Run: ``make bench`` (or ``.venv/bin/python benchmarks/bench_gateway.py [--json]``).

Scenarios (each on a fresh in-process emulator on loopback):
- reads:        sequential CompanyInfo GETs through QboClient (keep-alive), limits off
- query_paging: ``select * from Customer`` over N customers, 1000 per page, limits off
- batch_create: customers created 30 per batch request, each batch with a requestid, limits off
- paced_burst / unpaced_burst: the same burst of reads with QBO's limits on (windows shrunk by
  TIME_SCALE); paced = the gateway's RatePacer, unpaced = pacer off, relying on 429 backoff only.
  Times are reported both as measured and converted to real QBO time (x TIME_SCALE).

Figures are wall-clock on this machine; the emulator runs in the same process (its own threads),
so they bound qbsync's client-side overhead, not Intuit's latency.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from qbsync.emulator import Emulator
from qbsync.qbo.client import BatchItem, QboClient, RetryPolicy
from qbsync.qbo.pacing import PaceLimits, RatePacer
from testkit import connect_client

CLIENT_ID = "bench-client"
CLIENT_SECRET = "bench-secret-not-real"
TIME_SCALE = 60.0
UNPACED = PaceLimits(per_second=10**9, per_minute=10**9, batches_per_minute=10**9)


def connect(emu: Emulator, workdir: Path, **client_kwargs: Any) -> QboClient:
    return connect_client(
        emu, workdir, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, **client_kwargs
    )


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_reads(workdir: Path, n: int) -> dict[str, Any]:
    with Emulator(limits=False) as emu:
        client = connect(emu, workdir, pacer=RatePacer(UNPACED))
        client.company_info()  # warm the connection
        latencies = [_timed(client.company_info) for _ in range(n)]
    total = sum(latencies)
    return {
        "requests": n,
        "seconds": round(total, 3),
        "requests_per_second": round(n / total, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p95_ms": round(_pct(latencies, 0.95) * 1000, 2),
        "p99_ms": round(_pct(latencies, 0.99) * 1000, 2),
    }


def bench_query_paging(workdir: Path, n: int) -> dict[str, Any]:
    with Emulator(limits=False) as emu:
        for i in range(n):
            emu.company.create(
                "Customer",
                {
                    "DisplayName": f"Bench Member {i:06d}",
                    "PrimaryEmailAddr": {"Address": f"member{i}@example.com"},
                },
            )
        client = connect(emu, workdir, pacer=RatePacer(UNPACED))
        before = sum(1 for e in emu.requests() if e["path"].endswith("/query"))
        start = time.perf_counter()
        rows = client.query("select * from Customer")
        seconds = time.perf_counter() - start
        pages = sum(1 for e in emu.requests() if e["path"].endswith("/query")) - before
    return {
        "customers": len(rows),
        "pages": pages,
        "seconds": round(seconds, 3),
        "rows_per_second": round(len(rows) / seconds),
    }


def bench_batch_create(workdir: Path, n: int) -> dict[str, Any]:
    with Emulator(limits=False) as emu:
        client = connect(emu, workdir, pacer=RatePacer(UNPACED))
        before = emu.company.count("Customer")
        start = time.perf_counter()
        failed = 0
        for batch_no, first in enumerate(range(0, n, 30)):
            items = [
                BatchItem(
                    f"c{i}",
                    "create",
                    "Customer",
                    {
                        "DisplayName": f"Batch Member {i:06d}",
                        "PrimaryEmailAddr": {"Address": f"batch{i}@example.com"},
                    },
                )
                for i in range(first, min(n, first + 30))
            ]
            answers = client.batch(items, request_id=f"bench-batch-{batch_no}")
            failed += sum(1 for a in answers.values() if a.error is not None)
        seconds = time.perf_counter() - start
        created = emu.company.count("Customer") - before
    return {
        "customers_created": created,
        "failed_items": failed,
        "batch_requests": -(-n // 30),
        "seconds": round(seconds, 3),
        "creates_per_second": round(created / seconds),
    }


def bench_burst(workdir: Path, n: int, *, paced: bool) -> dict[str, Any]:
    pacer = RatePacer(PaceLimits(time_scale=TIME_SCALE) if paced else UNPACED)
    retry = RetryPolicy(max_attempts=100, base_delay=0.01, throttle_delay=60.0 / TIME_SCALE)
    with Emulator(limits=True, time_scale=TIME_SCALE) as emu:
        client = connect(emu, workdir, pacer=pacer, retry=retry)
        seconds = _timed(lambda: [client.company_info() for _ in range(n)])
        statuses = [e["status"] for e in emu.requests() if "/v3/company/" in e["path"]]
    return {
        "reads": n,
        "ok": statuses.count(200),
        "throttled_429": statuses.count(429),
        "seconds": round(seconds, 3),
        "qbo_equivalent_minutes": round(seconds * TIME_SCALE / 60, 2),
        "floor_minutes_at_500_per_min": round(n / 500, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--reads", type=int, default=2000)
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--batch-customers", type=int, default=900)
    parser.add_argument("--burst", type=int, default=1000)
    args = parser.parse_args(argv)
    # The unpaced run is throttled on purpose: keep the gateway's retry warnings off the report.
    logging.getLogger("qbsync").setLevel(logging.ERROR)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="qbsync-bench-") as tmp:
        runs: list[tuple[str, Callable[[Path], dict[str, Any]]]] = [
            ("reads", lambda d: bench_reads(d, args.reads)),
            ("query_paging", lambda d: bench_query_paging(d, args.customers)),
            ("batch_create", lambda d: bench_batch_create(d, args.batch_customers)),
            ("paced_burst", lambda d: bench_burst(d, args.burst, paced=True)),
            ("unpaced_burst", lambda d: bench_burst(d, args.burst, paced=False)),
        ]
        for name, run in runs:
            workdir = Path(tmp) / name
            workdir.mkdir()
            results[name] = run(workdir)
            if not args.json:
                print(f"{name:14} " + "  ".join(f"{k}={v}" for k, v in results[name].items()))
                sys.stdout.flush()
    if args.json:
        print(json.dumps({"time_scale": TIME_SCALE, "python": sys.version.split()[0], **results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
