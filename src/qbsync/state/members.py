"""Members and their QBO customers: links, unlinked members, the last verdict for each member,
the contact fields last pushed, and customer creates whose answer is not recorded yet."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime

from qbsync.state.rows import id_list, iso, parse_id_list

LINK_KINDS = ("auto", "created", "manual")


@dataclass(frozen=True)
class Link:
    member_id: str
    customer_id: str
    how: str  # auto | created | manual
    linked_at: datetime


@dataclass(frozen=True)
class MemberRow:
    """A member as connect-members last saw it, with its verdict (what `qbsync links` lists)."""

    member_id: str
    email: str
    name: str
    active: bool
    status: str  # linked | needs_review | unmatched | no_email | failed | inactive
    detail: str | None = None
    candidates: tuple[str, ...] = ()


@dataclass(frozen=True)
class PendingCreate:
    member_id: str
    email: str
    request_id: str
    bid: str
    sent_at: datetime


class MemberStore:
    """``state.members``."""

    def __init__(
        self, conn: sqlite3.Connection, transaction: Callable[[], AbstractContextManager[None]]
    ) -> None:
        self._conn = conn
        self._transaction = transaction

    # -- links ---------------------------------------------------------------------------------

    def links(self) -> dict[str, Link]:
        rows = self._conn.execute(
            "SELECT member_id, customer_id, how, linked_at FROM links"
        ).fetchall()
        return {r[0]: Link(r[0], r[1], r[2], datetime.fromisoformat(r[3])) for r in rows}

    def link_of(self, member_id: str) -> Link | None:
        row = self._conn.execute(
            "SELECT member_id, customer_id, how, linked_at FROM links WHERE member_id = ?",
            (member_id,),
        ).fetchone()
        return None if row is None else Link(row[0], row[1], row[2], datetime.fromisoformat(row[3]))

    def link(
        self, member_id: str, customer_id: str, how: str, *, now: datetime | None = None
    ) -> None:
        """Link (or relink) a member; a manual link also ends an `unlink`."""
        if how not in LINK_KINDS:
            raise ValueError(f"unknown link kind {how!r}")
        self.link_many([(member_id, customer_id, how)], now=now)

    def link_many(
        self, links: Iterable[tuple[str, str, str]], *, now: datetime | None = None
    ) -> None:
        """``link`` for many (member id, customer id, how) at once: one statement per table."""
        rows = list(links)
        if any(how not in LINK_KINDS for _, _, how in rows):
            raise ValueError("unknown link kind")
        at = iso(now or datetime.now(UTC))
        ids = [(member_id,) for member_id, _, _ in rows]
        with self._transaction():
            self._conn.executemany(
                "INSERT INTO links (member_id, customer_id, how, linked_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (member_id) DO UPDATE SET customer_id = excluded.customer_id, "
                "how = excluded.how, linked_at = excluded.linked_at",
                [(m, c, how, at) for m, c, how in rows],
            )
            for statement in (
                "DELETE FROM unlinked WHERE member_id = ?",
                "DELETE FROM pending_creates WHERE member_id = ?",
                "UPDATE members SET status = 'linked', detail = NULL, candidates = NULL "
                "WHERE member_id = ?",
            ):
                self._conn.executemany(statement, ids)

    def unlink(self, member_id: str, *, now: datetime | None = None) -> Link | None:
        """Remove the link and keep the member out of automatic connection; the old link."""
        at = iso(now or datetime.now(UTC))
        with self._transaction():
            old = self.link_of(member_id)
            self._conn.execute("DELETE FROM links WHERE member_id = ?", (member_id,))
            self._conn.execute("DELETE FROM pushed_contacts WHERE member_id = ?", (member_id,))
            self._conn.execute("DELETE FROM pending_creates WHERE member_id = ?", (member_id,))
            self._conn.execute(
                "INSERT INTO unlinked (member_id, unlinked_at) VALUES (?, ?) "
                "ON CONFLICT (member_id) DO UPDATE SET unlinked_at = excluded.unlinked_at",
                (member_id, at),
            )
        return old

    def drop_links(self, member_ids: Iterable[str]) -> None:
        """Forget automatic links (their customer is gone); the members are matched again."""
        ids = [(member_id,) for member_id in member_ids]
        with self._transaction():
            self._conn.executemany("DELETE FROM links WHERE member_id = ? AND how != 'manual'", ids)
            self._conn.executemany(
                "DELETE FROM pushed_contacts WHERE member_id = ? AND member_id NOT IN "
                "(SELECT member_id FROM links)",
                ids,
            )

    def unlinked(self) -> set[str]:
        return {r[0] for r in self._conn.execute("SELECT member_id FROM unlinked")}

    def drop_links_to(self, customer_ids: Iterable[str]) -> list[str]:
        """Customers deleted or merged away in QBO: their automatic links go (the members are
        connected again next run); manual links stay and show up as problems. Member ids dropped."""
        gone = set(customer_ids)
        if not gone:
            return []
        dropped = [m for m, link in self.links().items() if link.customer_id in gone]
        self.drop_links(dropped)
        return [m for m in dropped if self.link_of(m) is None]

    # -- the roster: each member's last verdict -----------------------------------------------

    def save_roster(self, rows: Iterable[MemberRow], *, now: datetime | None = None) -> None:
        at = iso(now or datetime.now(UTC))
        with self._transaction():
            self._conn.executemany(
                "INSERT INTO members (member_id, email, name, active, status, detail, candidates, "
                "seen_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (member_id) DO UPDATE SET "
                "email = excluded.email, name = excluded.name, active = excluded.active, "
                "status = excluded.status, detail = excluded.detail, "
                "candidates = excluded.candidates, seen_at = excluded.seen_at",
                [
                    (
                        r.member_id,
                        r.email,
                        r.name,
                        int(r.active),
                        r.status,
                        r.detail,
                        id_list(r.candidates) if r.candidates else None,
                        at,
                    )
                    for r in rows
                ],
            )

    def roster(self) -> dict[str, MemberRow]:
        rows = self._conn.execute(
            "SELECT member_id, email, name, active, status, detail, candidates FROM members "
            "ORDER BY member_id"
        ).fetchall()
        return {
            r[0]: MemberRow(r[0], r[1], r[2], bool(r[3]), r[4], r[5], parse_id_list(r[6]))
            for r in rows
        }

    def find(self, text: str) -> list[MemberRow]:
        """Members whose id is ``text``, else whose email is ``text`` (ignoring case)."""
        roster = self.roster()
        if text in roster:
            return [roster[text]]
        wanted = text.strip().lower()
        return [row for row in roster.values() if row.email.strip().lower() == wanted]

    # -- contact fields last pushed ------------------------------------------------------------

    def pushed(self) -> dict[str, dict[str, str]]:
        rows = self._conn.execute("SELECT member_id, fields FROM pushed_contacts").fetchall()
        return {r[0]: json.loads(r[1]) for r in rows}

    def set_pushed(
        self, member_id: str, fields: Mapping[str, str], *, now: datetime | None = None
    ) -> None:
        self.set_pushed_many([(member_id, fields)], now=now)

    def set_pushed_many(
        self, rows: Iterable[tuple[str, Mapping[str, str]]], *, now: datetime | None = None
    ) -> None:
        at = iso(now or datetime.now(UTC))
        with self._transaction():
            self._conn.executemany(
                "INSERT INTO pushed_contacts (member_id, fields, pushed_at) VALUES (?, ?, ?) "
                "ON CONFLICT (member_id) DO UPDATE SET fields = excluded.fields, "
                "pushed_at = excluded.pushed_at",
                [(m, json.dumps(dict(f), sort_keys=True), at) for m, f in rows],
            )

    # -- creates with no recorded answer -------------------------------------------------------

    def add_pending(self, creates: Iterable[PendingCreate]) -> None:
        with self._transaction():
            self._conn.executemany(
                "INSERT INTO pending_creates (member_id, email, request_id, bid, sent_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (member_id) DO UPDATE SET "
                "email = excluded.email, request_id = excluded.request_id, bid = excluded.bid, "
                "sent_at = excluded.sent_at",
                [(c.member_id, c.email, c.request_id, c.bid, iso(c.sent_at)) for c in creates],
            )

    def pending(self) -> list[PendingCreate]:
        rows = self._conn.execute(
            "SELECT member_id, email, request_id, bid, sent_at FROM pending_creates "
            "ORDER BY member_id"
        ).fetchall()
        return [PendingCreate(r[0], r[1], r[2], r[3], datetime.fromisoformat(r[4])) for r in rows]

    def clear_pending(self, member_ids: Iterable[str]) -> None:
        with self._transaction():
            self._conn.executemany(
                "DELETE FROM pending_creates WHERE member_id = ?", [(m,) for m in member_ids]
            )

    def counts(self) -> dict[str, int]:
        """Members by status as `links --status` names them (auto/created/manual for linked)."""
        counts: dict[str, int] = {}
        for how, n in self._conn.execute("SELECT how, COUNT(*) FROM links GROUP BY how"):
            counts[how] = int(n)
        for status, n in self._conn.execute(
            "SELECT status, COUNT(*) FROM members WHERE status NOT IN ('linked', 'unlinked') "
            "AND member_id NOT IN "
            "(SELECT member_id FROM links) GROUP BY status"
        ):
            counts[status] = counts.get(status, 0) + int(n)
        unlinked = self._conn.execute("SELECT COUNT(*) FROM unlinked").fetchone()[0]
        if unlinked:
            counts["unlinked"] = int(unlinked)
        return counts
