"""Shared by the pull end-to-end and reliability tests: a profile with exported invoices, the
accountant's actions in the emulator, and a local HTTP platform stub taking qbo-events."""

from __future__ import annotations

import csv
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from e2e.sync_helpers import SyncWorld, member

MEMBERS = [member("m1", "emily.platt@example.com", "Emily", "Platt")]


def export_invoices(world: SyncWorld, count: int) -> dict[str, str]:
    """``count`` pending invoices i1..iN of 25.00 exported; answers platform id -> QBO Id."""
    world.write_members(MEMBERS)
    created = (world.enabled_at + timedelta(hours=1)).isoformat()
    rows = [
        {"invoice_id": f"i{n}", "member_id": "m1", "number": f"N-{n}", "created_at": created}
        for n in range(1, count + 1)
    ]
    world.write_invoices(rows)
    result = world.run("export", "--yes")
    assert result.code == 0, result
    with world.state() as state:
        return {r.invoice_id: str(r.qbo_id) for r in state.exports.in_state("exported")}


def events_csv_rows(world: SyncWorld) -> list[dict[str, str]]:
    path = world.folder / "qbo-events.csv"
    if not path.exists():
        return []
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


class Platform:
    """A tiny platform API: stores events by Idempotency-Key; ``answers`` is a queue of status
    codes to give first (then 200)."""

    def __init__(self) -> None:
        self.events: dict[str, dict[str, Any]] = {}
        self.posts: list[tuple[str, str, int]] = []  # (path, key, status)
        self.answers: list[int] = []
        self.lock = threading.Lock()
        self.base_url = ""
        self.delay = 0.0  # seconds before each answer

    def handle(self, path: str, key: str, body: dict[str, Any]) -> int:
        time.sleep(self.delay)
        with self.lock:
            status = self.answers.pop(0) if self.answers else 200
            self.posts.append((path, key, status))
            if status == 200:
                self.events.setdefault(key, body)
            return status


@contextmanager
def platform_stub() -> Iterator[Platform]:
    platform = Platform()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            status = platform.handle(self.path, self.headers.get("Idempotency-Key", ""), body)
            data = json.dumps({"ok": status == 200, "error": "invoice closed"}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    platform.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield platform
    finally:
        server.shutdown()
        server.server_close()
