"""Manual links: find a member, search QBO customers for it, link by hand, list every member.

What `qbsync link`, `unlink` and `links` do, without rendering.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qbsync.config import Config
from qbsync.errors import QboError, RecordsFailedError, UsageError
from qbsync.qbo.client import QboClient
from qbsync.qbo.query import quote
from qbsync.sources.base import open_source
from qbsync.sources.records import Member
from qbsync.state.customers import CachedCustomer
from qbsync.state.db import State
from qbsync.sync.contacts import (
    contact_snapshot,
    display_name,
    name_variant,
    new_customer_body,
    normalize_email,
    usable_email,
)
from qbsync.sync.customers import cached_customer, customers_where, refresh_customers
from qbsync.sync.export_run import local_tz
from qbsync.sync.members_apply import Failure, apply_member_plan
from qbsync.sync.members_plan import CreateAction, MemberPlan


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
                f"QBO has no customer {customer_id}",
                hint=f"search with `qbsync link {member.id}`",
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


class CreateFailedError(RecordsFailedError):
    """QBO refused the customer `link --create` asked for, or gave no clear answer (exit 5)."""


def create_and_link(client: QboClient, state: State, config: Config, member: Member) -> Created:
    """A new QBO customer for ``member``, from its own details, linked by hand (`link --create`).

    For the members connect-members cannot decide (typically members sharing an email): the
    customer is created as connect-members creates one (same name template, body, pending
    create, 6240 handling), then the link is ``manual`` so connect-members never changes it.
    A member already linked is refused: a second customer would be a duplicate in the books;
    to give a member a new customer instead, `qbsync unlink` it first."""
    link = state.members.links().get(member.id)
    if link is not None:
        raise UsageError(
            f"member {member.id} is already linked to customer {link.customer_id} "
            f"({link.how}); nothing was created",
            hint=f"to give it a new customer instead: `qbsync unlink {member.id}`, then "
            f"`qbsync link {member.id} --create`",
        )
    email = usable_email(member)
    if email is None:
        raise UsageError(
            f"member {member.id} has no usable email ({member.email!r}); qbsync creates "
            "customers with the member's email only",
            hint=f"add the email at the platform, or `qbsync link {member.id} CUSTOMER_ID`",
        )
    refresh_customers(client, state, full=False)
    customers = state.customers.all().values()
    name = display_name(member, config.members.display_name)
    for candidate in (name, name_variant(name, member)):
        # The member's customer may exist already (an earlier create whose answer was lost):
        # the same name and email is it; creating again would make a duplicate.
        same = [c for c in customers if c.display_name.lower() == candidate.lower()]
        if any(email in {normalize_email(e) for e in c.emails} for c in same):
            found = next(c for c in same if email in {normalize_email(e) for e in c.emails})
            raise UsageError(
                f"QBO already has customer {found.id} ({found.display_name}) with member "
                f"{member.id}'s name and email; nothing was created",
                hint=f"link it: `qbsync link {member.id} {found.id}`",
            )
    if name.lower() in {c.display_name.lower() for c in customers}:
        name = name_variant(name, member)  # the variant connect-members retries with on 6240
    snapshot = contact_snapshot(member)
    action = CreateAction(
        member, name, new_customer_body(member, name, snapshot), "`qbsync link --create`", snapshot
    )
    outcome = apply_member_plan(
        MemberPlan(creates=[action]),
        client=client,
        state=state,
        config=config.members,
        batch_size=1,
    )
    made = state.members.links().get(member.id)
    if made is None:
        failure = outcome.failed[0] if outcome.failed else Failure(member.id, None, "not created")
        raise CreateFailedError(
            f"no customer was linked to member {member.id}: {failure}",
            hint="fix what it says and run the command again (a create without a clear answer "
            "is looked for in QBO by the next connect-members before anything is created again)",
        )
    state.members.link(member.id, made.customer_id, "manual")
    customer = state.customers.get(made.customer_id)
    assert customer is not None  # record_link cached it
    return Created(customer, created=member.id in outcome.created)


@dataclass(frozen=True)
class Created:
    customer: CachedCustomer
    created: bool  # False: QBO answered 6240 and the customer with the name and email was it


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
