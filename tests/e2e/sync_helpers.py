"""Shared by the members and export end-to-end tests: a connected profile for an in-process
emulator, the platform's CSV files, real `qbsync` subprocesses, and readers of what QBO and the
state database hold afterwards."""

from __future__ import annotations

import contextlib
import csv
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from qbsync.auth.credentials import open_store
from qbsync.auth.token_endpoint import token_set_from_response
from qbsync.emulator import Emulator
from qbsync.state.db import State

CLIENT_ID = "sync-e2e-client"
CLIENT_SECRET = "sync-e2e-secret-4f5e6d7c"
MEMBER_COLUMNS = (
    "id", "email", "first_name", "last_name", "company", "phone",
    "address_line1", "city", "region", "postal_code", "country", "status",
)  # fmt: skip
INVOICE_COLUMNS = (
    "invoice_id", "member_id", "number", "created_at", "status", "due_date", "currency",
    "tax_amount", "description", "quantity", "unit_price", "item_code", "tax_code",
)  # fmt: skip


@dataclass
class Result:
    code: int
    out: str
    err: str

    def __str__(self) -> str:
        return f"exit {self.code}\nstdout:\n{self.out}\nstderr:\n{self.err}"


@dataclass
class SyncWorld:
    emu: Emulator
    config_path: Path
    data_dir: Path
    enabled_at: datetime
    outputs: list[str] = field(default_factory=list)

    # -- files ---------------------------------------------------------------------------------

    @property
    def folder(self) -> Path:
        return self.config_path.parent

    @property
    def state_path(self) -> Path:
        return self.data_dir / "state.sqlite3"

    def write_config(
        self, *, batch_size: int | None = None, members: str = "", export: str = ""
    ) -> None:
        """The whole config: the emulator, the CSV source, and extra [members] / [export] keys
        (TOML lines; `[export.items]` and the like may follow the export lines)."""
        batch = f"batch_size = {batch_size}\n" if batch_size else ""
        self.config_path.write_text(
            f'[qbo]\nenvironment = "{self.emu.base_url}"\nclient_id = "{CLIENT_ID}"\n'
            'redirect_uri = "http://localhost:8765/callback"\ntimeout_seconds = 10\n'
            f"{batch}\n"
            '[tokens]\nstore = "file"\n\n'
            '[source]\ntype = "csv"\nmembers = "members.csv"\ninvoices = "invoices.csv"\n\n'
            f"[members]\n{members}\n\n"
            f'[export]\ntimezone = "UTC"\n{export}\n'
        )

    def write_members(self, rows: Sequence[dict[str, str]], *, raw_tail: str = "") -> None:
        path = self.folder / "members.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, MEMBER_COLUMNS, lineterminator="\n")
            writer.writeheader()
            for row in rows:
                writer.writerow({"status": "active", **row})
        if raw_tail:
            with path.open("a", encoding="utf-8") as handle:
                handle.write(raw_tail)

    def append_member(self, row: dict[str, str]) -> None:
        with (self.folder / "members.csv").open("a", newline="", encoding="utf-8") as handle:
            csv.DictWriter(handle, MEMBER_COLUMNS, lineterminator="\n").writerow(
                {"status": "active", **row}
            )

    def write_invoices(self, rows: Sequence[dict[str, Any]]) -> None:
        """One row per invoice line (defaults: pending, one Mailbox Rental line of 25.00)."""
        with (self.folder / "invoices.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, INVOICE_COLUMNS, lineterminator="\n")
            writer.writeheader()
            for row in rows:
                full = {
                    "status": "pending",
                    "quantity": "1",
                    "unit_price": "25.00",
                    "item_code": "Mailbox Rental",
                    "description": "Mailbox",
                    **row,
                }
                if isinstance(full.get("created_at"), datetime):
                    full["created_at"] = full["created_at"].isoformat()
                writer.writerow({k: str(v) for k, v in full.items()})

    # -- processes -----------------------------------------------------------------------------

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
        env["COLUMNS"] = "200"
        env.update(extra)
        return env

    def start(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "qbsync", *args],
            env=env or self.env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def finish(self, proc: subprocess.Popen[str], timeout: float = 90) -> Result:
        out, err = proc.communicate(timeout=timeout)
        self.outputs.append(out + err)
        return Result(proc.returncode, out, err)

    def run(self, *args: str, env: dict[str, str] | None = None, timeout: float = 90) -> Result:
        return self.finish(self.start(*args, env=env), timeout=timeout)

    # -- what QBO and the state hold ----------------------------------------------------------

    @contextlib.contextmanager
    def state(self) -> Iterator[State]:
        state = State.open(self.state_path)
        try:
            yield state
        finally:
            state.close()

    def customers(self) -> list[dict[str, Any]]:
        return list(self.emu.company.dump().get("Customer", []))

    def invoices(self) -> list[dict[str, Any]]:
        return list(self.emu.company.dump().get("Invoice", []))

    def customers_with(self, email: str) -> list[dict[str, Any]]:
        wanted = email.strip().lower()
        return [
            c
            for c in self.customers()
            if wanted
            in [
                p.strip().lower()
                for p in str((c.get("PrimaryEmailAddr") or {}).get("Address", "")).split(",")
            ]
        ]

    def email_counts(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        for c in self.customers():
            address = str((c.get("PrimaryEmailAddr") or {}).get("Address", ""))
            for part in address.split(","):
                if part.strip():
                    counts[part.strip().lower()] += 1
        return counts

    def marker_counts(self) -> Counter[str]:
        """How many QBO invoices carry each PrivateNote (qbsync's marker)."""
        return Counter(str(i.get("PrivateNote") or "") for i in self.invoices())

    def links(self) -> dict[str, str]:
        with self.state() as state:
            return {m: link.customer_id for m, link in state.members.links().items()}


def make_sync_world(
    emulator_config: Any, emu: Emulator, *, enabled_ago: timedelta = timedelta(days=3)
) -> SyncWorld:
    """A profile for ``emu`` as `qbsync init` + `qbsync auth` leave it, enabled ``enabled_ago``."""
    setup = emulator_config(emu, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    enabled_at = (datetime.now(UTC) - enabled_ago).replace(microsecond=0)
    world = SyncWorld(emu, setup.config_path, setup.data_dir, enabled_at)
    world.write_config()
    world.write_members([])
    world.write_invoices([])
    store = open_store("file", profile="default", data_dir=setup.data_dir)
    body = emu.issue_tokens(CLIENT_ID)
    tokens = token_set_from_response(body, realm_id=body["realmId"], now=datetime.now(UTC))
    store.save_tokens(tokens)
    with world.state() as state:
        state.bind_realm(tokens.realm_id, now=enabled_at, company_name="emulated")
    return world


def wait_for(predicate: Any, *, timeout: float = 20, what: str = "the condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def member(mid: str, email: str, first: str = "", last: str = "", **more: str) -> dict[str, str]:
    return {"id": mid, "email": email, "first_name": first, "last_name": last, **more}


def two_members_two_invoices(world: SyncWorld, *more: dict[str, Any], **i2: Any) -> None:
    """The CLI tests' usual world: members m1 (Emily Platt) and m2 (Nia Obi), invoices i1 (m1,
    #1001) and i2 (m2, #1002; ``i2`` overrides its columns) created two hours after enabling,
    then ``more`` rows (their ``created_at`` defaults to the same moment)."""
    world.write_members(
        [
            member("m1", "emily.platt@example.com", "Emily", "Platt"),
            member("m2", "nia.obi@example.com", "Nia", "Obi"),
        ]
    )
    at = world.enabled_at + timedelta(hours=2)
    world.write_invoices(
        [
            {"invoice_id": "i1", "member_id": "m1", "number": "1001", "created_at": at},
            {"invoice_id": "i2", "member_id": "m2", "number": "1002", "created_at": at, **i2},
            *({"created_at": at, **row} for row in more),
        ]
    )
