"""What a newcomer tripped on (issue 13): `links` at 80 columns, members sharing an email
(`link --create`), and small texts. In process (CliRunner) against the emulator."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner, Result

from e2e.sync_helpers import SyncWorld, make_sync_world, member
from qbsync.cli.main import cli
from qbsync.emulator import Emulator

LONG_EMAIL = "alexandra.konstantinopoulou-smythe@very-long-domain-name.example.com"
MEMBERS = [
    member("M-1000", "emily.platt@example.com", "Emily", "Platt"),
    member("M-1001", LONG_EMAIL, "Alexandra Maria", "Konstantinopoulou-Smythe"),
    member("M-1100", "twins@example.com", "Tom", "Twin"),
    member("M-1101", "twins@example.com", "Tim", "Twin"),
]


@pytest.fixture
def world(home: Any, emulator_config: Any) -> Iterator[SyncWorld]:
    with Emulator(limits=False) as emu:
        w = make_sync_world(emulator_config, emu)
        w.write_members(MEMBERS)
        yield w


def qbsync(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, env=env)


TERMINAL_80 = {"TTY_COMPATIBLE": "1", "COLUMNS": "80", "NO_COLOR": "1", "LINES": "50"}


ANSI = re.compile(r"\x1b\[[0-9;]*m")
EMAILS = ("emily.platt@example.com", LONG_EMAIL, "twins@example.com")
SHARE = "members M-1100, M-1101 share twins@example.com"


def _links(world: SyncWorld) -> dict[str, tuple[str, str]]:
    with world.state() as state:
        return {m: (link.customer_id, link.how) for m, link in state.members.links().items()}


# -- links fits 80 columns ---------------------------------------------------------------------


def test_links_fits_80_columns_without_breaking_an_email(world: SyncWorld) -> None:
    assert qbsync("connect-members", "--yes").exit_code == 5  # members sharing an email need review
    result = qbsync("links", env=TERMINAL_80)
    assert result.exit_code == 0, result.output
    lines = ANSI.sub("", result.output).splitlines()
    assert lines and all(len(line) <= 80 for line in lines), result.output
    words = [w for line in lines for w in line.split()]
    # An email shows whole, or elided with "…" on its line: never folded onto the next line.
    for word in words:
        if "@" in word or word.endswith((".com", "example.com")):
            assert word in EMAILS or (
                word.endswith("…") and any(e.startswith(word[:-1]) for e in EMAILS)
            ), (word, result.output)
    assert "emily.platt@example.com" in words and "twins@example.com" in words
    # The long name wraps at its spaces; the shared-email reason wraps whole words.
    assert "Konstantinopoulou-Smythe" in words
    assert " ".join(words).count(SHARE) == 2
    # What is listed is what the state holds.
    assert _links(world)["M-1000"] == ("1", "auto")


def test_links_piped_is_one_record_a_line(world: SyncWorld) -> None:
    assert qbsync("connect-members", "--yes").exit_code == 5
    result = qbsync("links", env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["member", "email", "status", "customer", "/", "why"]
    records = {line.split()[0]: line for line in lines[1:]}
    assert sorted(records) == ["M-1000", "M-1001", "M-1100", "M-1101"]
    assert LONG_EMAIL in records["M-1001"] and "Konstantinopoulou-Smythe" in records["M-1001"]
    assert records["M-1100"].endswith(SHARE)


# -- members sharing an email ------------------------------------------------------------------


def test_shared_email_reads_the_same_in_links_and_export(world: SyncWorld) -> None:
    at = world.enabled_at + timedelta(hours=2)
    world.write_invoices(
        [{"invoice_id": "i1", "member_id": "M-1100", "number": "1", "created_at": at}]
    )
    assert qbsync("connect-members", "--yes").exit_code == 5
    listed = json.loads(qbsync("links", "--json").output)["members"]
    details = {r["member"]: r["detail"] for r in listed}
    assert details["M-1100"] == details["M-1101"] == SHARE
    doc = json.loads(qbsync("export", "--dry-run", "--json").output)
    [skipped] = doc["summary"]["skipped_detail"]
    assert SHARE in skipped and "qbsync link M-1100 --create" in skipped, skipped
    with world.state() as state:
        assert state.members.roster()["M-1100"].detail == SHARE


def test_link_create_gives_one_twin_a_customer_of_its_own(world: SyncWorld) -> None:
    assert qbsync("connect-members", "--yes").exit_code == 5
    assert world.customers_with("twins@example.com") == []
    result = qbsync("link", "M-1100", "--create")
    assert result.exit_code == 0, result.output
    assert "new QBO customer" in result.output
    [made] = world.customers_with("twins@example.com")
    assert (made["DisplayName"], made["GivenName"], made["FamilyName"]) == (
        "Tom Twin",
        "Tom",
        "Twin",
    )
    assert _links(world)["M-1100"] == (made["Id"], "manual")
    with world.state() as state:
        assert list(state.members.pending()) == []  # the create settled
    # Again for the same member: refused (already linked); nothing created.
    again = qbsync("link", "M-1100", "--create")
    assert again.exit_code == 2, again.output
    assert "already linked" in again.output and "qbsync unlink M-1100" in again.output
    assert len(world.customers_with("twins@example.com")) == 1
    # The other twin gets its own; connect-members never changes either manual link.
    other = json.loads(qbsync("link", "M-1101", "--create", "--json").output)
    assert other["created"] is True
    twins = {c["Id"] for c in world.customers_with("twins@example.com")}
    assert len(twins) == 2 and other["customer"]["id"] in twins
    assert qbsync("connect-members", "--yes", "--full").exit_code == 0
    links = _links(world)
    assert links["M-1100"] == (made["Id"], "manual")
    assert links["M-1101"] == (other["customer"]["id"], "manual")
    assert len(world.customers_with("twins@example.com")) == 2


def test_link_create_after_unlink_makes_a_new_customer(world: SyncWorld) -> None:
    assert qbsync("link", "M-1100", "--create").exit_code == 0
    first = _links(world)["M-1100"][0]
    assert qbsync("unlink", "M-1100").exit_code == 0
    # The customer with the member's name and email exists: linking it is the fix, not a copy.
    same = qbsync("link", "M-1100", "--create")
    assert same.exit_code == 2 and f"qbsync link M-1100 {first}" in same.output, same.output
    assert len(world.customers_with("twins@example.com")) == 1 and "M-1100" not in _links(world)


def test_link_create_when_a_vendor_has_the_name(world: SyncWorld) -> None:
    world.emu.company.create("Vendor", {"DisplayName": "Tom Twin"})
    result = qbsync("link", "M-1100", "--create", "--json")
    assert result.exit_code == 0, result.output
    [made] = world.customers_with("twins@example.com")
    assert made["DisplayName"] == "Tom Twin (twins@example.com)"  # connect-members' variant
    assert _links(world)["M-1100"] == (made["Id"], "manual")


def test_link_create_refuses_an_id_or_a_member_without_email(world: SyncWorld) -> None:
    world.write_members([*MEMBERS, member("M-1200", "")])
    assert qbsync("link", "M-1100", "1", "--create").exit_code == 2
    result = qbsync("link", "M-1200", "--create")
    assert result.exit_code == 2 and "no usable email" in result.output, result.output
    assert _links(world) == {} and world.customers_with("twins@example.com") == []


# -- small texts -------------------------------------------------------------------------------


def test_a_link_hint_names_the_member_not_a_placeholder(world: SyncWorld) -> None:
    result = qbsync("link", "M-1000", "9999")
    assert result.exit_code == 2, result.output
    assert "no customer 9999" in result.output
    assert "qbsync link M-1000" in result.output and "MEMBER" not in result.output
    assert _links(world) == {}


def test_a_piped_table_keeps_a_cell_with_a_line_break_on_its_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from qbsync.cli import render

    render.table(None, ("member", "why"), [("M-1", "first line\nsecond line"), ("M-2", "ok")])
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["member  why", "M-1     first line second line", "M-2     ok"]
