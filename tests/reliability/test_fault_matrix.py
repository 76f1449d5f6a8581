"""The gateway's fault matrix: every kind of injected fault against every kind of request.

For each (operation, fault) pair the emulator fails the first matching request once; the test
asserts what the caller sees AND what QBO (the emulator) holds afterwards. The rule under test:
a request is repeated only when repeating it cannot do the work twice (reads, queries, writes
carrying a requestid), so a create is never duplicated, whatever the network does.
docs/reliability.md renders this matrix for operators.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from qbsync.emulator import Emulator
from qbsync.errors import QboUnavailableError
from qbsync.qbo.client import BatchItem, QboClient, RetryPolicy
from qbsync.qbo.faults import parse_response
from qbsync.qbo.pacing import PaceLimits, RatePacer
from testkit import connect_client

FAST_RETRY = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05, throttle_delay=0.02)
NO_PACING = PaceLimits(per_second=10**6, per_minute=10**6, batches_per_minute=10**6)
NAME = "Fault Matrix Member"

FAULTS: dict[str, dict[str, Any]] = {
    "500": {"kind": "error", "status": 500},
    "503": {"kind": "error", "status": 503},
    "429": {"kind": "throttle"},
    "hang": {"kind": "hang", "hang_seconds": 1.5},
    "drop": {"kind": "drop"},
    "lost-response": {"kind": "lose_response"},
    "5xx-after-work": {"kind": "error_after_work"},
}


def _read(client: QboClient) -> None:
    assert client.company_info()["CompanyName"]


def _query(client: QboClient) -> None:
    assert client.query("select * from Item")


def _create_with_requestid(client: QboClient) -> None:
    created = client.create("Customer", {"DisplayName": NAME}, request_id="matrix-create-1")
    assert created["DisplayName"] == NAME


def _batch_with_requestid(client: QboClient) -> None:
    item = BatchItem("b1", "create", "Customer", {"DisplayName": NAME})
    answers = client.batch([item], request_id="matrix-batch-1")
    assert answers["b1"].error is None
    assert answers["b1"].entity is not None
    assert answers["b1"].entity["DisplayName"] == NAME


def _create_without_requestid(client: QboClient) -> None:
    # What python-quickbooks' plain save() does: a POST with no requestid.
    resp = client.session.request(
        "POST",
        client.url("customer"),
        data=json.dumps({"DisplayName": NAME}),
        headers={"Content-Type": "application/json"},
    )
    parse_response(resp)


OPERATIONS: dict[str, tuple[Callable[[QboClient], None], str, str]] = {
    # name: (call, path the fault matches, method)
    "read": (_read, "*/companyinfo/*", "GET"),
    "query": (_query, "*/query", "POST"),
    "create+requestid": (_create_with_requestid, "*/customer", "POST"),
    "batch+requestid": (_batch_with_requestid, "*/batch", "POST"),
    "create, no requestid": (_create_without_requestid, "*/customer", "POST"),
}

# (operation, fault) -> (succeeds?, customers named NAME in QBO afterwards)
# Reads never create; everything not listed below succeeds with exactly one customer.
NOT_REPEATED = {"500", "503", "hang", "drop", "lost-response", "5xx-after-work"}
WORK_DONE_ANYWAY = {"lost-response", "5xx-after-work"}


def expected(operation: str, fault: str) -> tuple[bool, int | None]:
    if operation in ("read", "query"):
        return True, None
    if operation == "create, no requestid" and fault in NOT_REPEATED:
        # Not retried: it could create twice. The caller gets an error; QBO may or may not
        # have done the work, which is exactly why qbsync sends a requestid with every write.
        return False, 1 if fault in WORK_DONE_ANYWAY else 0
    return True, 1


CASES = [(op, fault) for op in OPERATIONS for fault in FAULTS]


@pytest.mark.parametrize(("operation", "fault"), CASES, ids=[f"{o} x {f}" for o, f in CASES])
def test_fault_matrix(operation: str, fault: str, tmp_path: Path) -> None:
    call, path, method = OPERATIONS[operation]
    succeeds, customers = expected(operation, fault)
    with Emulator(limits=False) as emu:
        client = connect_client(
            emu, tmp_path, timeout_seconds=0.5, retry=FAST_RETRY, pacer=RatePacer(NO_PACING)
        )
        emu.inject_fault(path, method=method, count=1, **FAULTS[fault])
        if succeeds:
            call(client)
        else:
            with pytest.raises(QboUnavailableError):
                call(client)
        assert emu.faults.pending() == []  # the fault really fired
        if customers is not None:
            named = [c for c in emu.company.dump()["Customer"] if c["DisplayName"] == NAME]
            assert len(named) == customers


def render_matrix() -> str:
    """The matrix as a markdown table (docs/reliability.md embeds it; a test keeps them equal)."""
    header = "| request | " + " | ".join(FAULTS) + " |"
    lines = [header, "|---" * (len(FAULTS) + 1) + "|"]
    for operation in OPERATIONS:
        cells = []
        for fault in FAULTS:
            succeeds, customers = expected(operation, fault)
            cell = "ok" if succeeds else "error"
            if customers is not None:
                cell += f", {customers} created"
            cells.append(cell)
        lines.append(f"| {operation} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def test_the_documented_matrix_is_the_tested_one() -> None:
    doc = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"
    assert render_matrix() in doc.read_text(encoding="utf-8"), "regenerate docs/reliability.md"
