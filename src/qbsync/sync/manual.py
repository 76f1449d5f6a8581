"""Manual links: find a member, search QBO customers for it, link by hand, list every member.

What `qbsync link`, `unlink` and `links` do, without rendering.
"""

from __future__ import annotations

from typing import Any

from qbsync.config import Config
from qbsync.errors import QboError, UsageError
from qbsync.qbo.client import QboClient
from qbsync.qbo.query import quote
from qbsync.sources.base import open_source
from qbsync.sources.records import Member
from qbsync.state.customers import CachedCustomer
from qbsync.state.db import State
from qbsync.sync.contacts import contact_snapshot, normalize_email
from qbsync.sync.customers import cached_customer, customers_where, refresh_customers
from qbsync.sync.export_run import local_tz


def find_member(config: Config, state: State, text: str) -> Member:
    """The member named by id or email, from the source (the truth), else the last roster."""
    members = open_source(config.source, tz=local_tz(config.export)).members().records
    wanted = normalize_email(text)
    by_id = [m for m in members if m.id == text.strip()]
    found = by_id or [m for m in members if normalize_email(m.email) == wanted]
    if not found:
        rows = state.members.find(text)
        found = [Member(r.member_id, r.email, first_name=r.name) for r in rows]
    if not found:
        raise UsageError(
            f"no member with id or email {text!r} in the source or in qbsync's records",
            hint="check the id or email (`qbsync links` lists the members qbsync knows)",
        )
    if len(found) > 1:
        raise UsageError(
            f"{len(found)} members have the email {text!r}: {', '.join(m.id for m in found)}",
            hint="name the member by id",
        )
    return found[0]


def resolve_member_id(config: Config, state: State, text: str) -> str:
    """A member id for ``text`` (an id or an email): a linked member's id as typed, else the one
    member the source or the last roster knows by that id or email; UsageError otherwise."""
    if text.strip() in state.members.links():
        return text.strip()
    return find_member(config, state, text).id


def search_customers(
    client: QboClient, state: State, member: Member, search: str | None
) -> list[CachedCustomer]:
    """Exact email first (every address of a comma list counts), then names containing the text."""
    found: dict[str, CachedCustomer] = {}
    if search is None:
        refresh_customers(client, state, full=False)
        email = normalize_email(member.email)
        if email:
            for customer in state.customers.all().values():
                if email in {normalize_email(e) for e in customer.emails}:
                    found[customer.id] = customer
    text = (
        search
        if search is not None
        else " ".join(p for p in (member.first_name, member.last_name) if p) or member.company
    )
    if text.strip():
        pattern = quote(f"%{text.strip()}%")
        for field in ("DisplayName", "CompanyName"):
            where = f"{field} LIKE {pattern}"
            for obj in client.query(customers_where(where)):
                customer = cached_customer(obj)
                found.setdefault(customer.id, customer)
    return sorted(found.values(), key=lambda c: (not c.active, c.display_name.lower()))


def linked_members(state: State) -> dict[str, list[str]]:
    """Customer id -> the members linked to it (what the search table shows)."""
    holders: dict[str, list[str]] = {}
    for member_id, link in sorted(state.members.links().items()):
        holders.setdefault(link.customer_id, []).append(member_id)
    return holders


def link_by_hand(
    client: QboClient, state: State, member: Member, customer_id: str, *, force: bool = False
) -> CachedCustomer:
    """A manual link. A customer already linked to another member is refused unless ``force``:
    both members' invoices would go on one account, which only the operator may decide."""
    others = [m for m in linked_members(state).get(customer_id, []) if m != member.id]
    if others and not force:
        raise UsageError(
            f"customer {customer_id} is already linked to member {', '.join(others)}; "
            f"nothing was changed for member {member.id}",
            hint="pick another customer, unlink the other member first (`qbsync unlink "
            f"{others[0]}`), or add --force to link both members to this customer",
        )
    try:
        customer = cached_customer(client.get("Customer", customer_id))
    except QboError as exc:
        if getattr(exc, "code", None) == "610":
            raise UsageError(
                f"QBO has no customer {customer_id}", hint="search with `qbsync link MEMBER`"
            ) from None
        raise
    if not customer.active:
        raise UsageError(
            f"customer {customer_id} ({customer.display_name}) is inactive in QBO",
            hint="make it active in QBO first, or pick another customer",
        )
    with state.transaction():
        state.customers.upsert([customer])
        state.members.link(member.id, customer.id, "manual")
        state.members.set_pushed(member.id, contact_snapshot(member))
    return customer


def member_rows(state: State) -> list[dict[str, Any]]:
    """Every member qbsync knows, with its status, customer and candidates."""
    links = state.members.links()
    unlinked = state.members.unlinked()
    roster = state.members.roster()
    customers = state.customers.all()
    out: list[dict[str, Any]] = []
    for member_id in sorted({*roster, *links, *unlinked}):
        row = roster.get(member_id)
        link = links.get(member_id)
        if link is not None:
            status = link.how
        elif member_id in unlinked:
            status = "unlinked"
        else:
            status = (row.status if row else "unknown").replace("_", "-")
        customer = customers.get(link.customer_id) if link else None
        out.append(
            {
                "member": member_id,
                "email": row.email if row else "",
                "name": row.name if row else "",
                "status": status,
                "customer_id": link.customer_id if link else None,
                "customer_name": customer.display_name if customer else None,
                "detail": row.detail if row and not link else None,
                "candidates": list(row.candidates) if row and not link else [],
            }
        )
    return out
