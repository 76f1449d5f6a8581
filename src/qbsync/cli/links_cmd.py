"""`qbsync link`, `qbsync unlink`, `qbsync links`: the operator's hand on member links."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from qbsync.cli.context import CliContext, open_session
from qbsync.cli.options import command, json_option, stdin_is_terminal

if TYPE_CHECKING:
    from qbsync.state.customers import CachedCustomer

STATUSES = ("auto", "created", "manual", "needs-review", "unmatched", "unlinked", "no-email",
            "inactive", "failed")  # fmt: skip


@command("link")
@click.argument("member")
@click.argument("customer_id", required=False)
@click.option("--search", metavar="TEXT", help="Search QBO customers by this text instead.")
@click.option(
    "--force", is_flag=True, help="Link even when the customer is linked to another member."
)
@click.option(
    "--create",
    is_flag=True,
    help="Create a new QBO customer from the member's details and link it (members sharing "
    "an email).",
)
@json_option
def link(
    member: str,
    customer_id: str | None,
    search: str | None,
    force: bool,
    create: bool,
    as_json: bool,
) -> None:
    """Link MEMBER (an id or email) to a QBO customer by hand; manual links stick.

    With CUSTOMER_ID, checks that the customer exists and is active, then links it. Without, it
    searches QBO (the member's exact email first, then names containing the member's name, or
    --search TEXT) and asks which one; --json lists the candidates without picking.
    A manual link replaces any automatic one and connect-members never changes it. A customer
    already linked to another member is refused (the table shows who) unless --force.
    With --create, creates a new QBO customer from the member's own details (as connect-members
    would) and links it by hand: for members who share an email. A member already linked is
    refused (`qbsync unlink` it first to give it a new customer).
    """
    from qbsync.cli import render
    from qbsync.errors import UsageError
    from qbsync.sync.manual import (
        create_and_link,
        find_member,
        link_by_hand,
        linked_members,
        search_customers,
    )

    if create and (customer_id is not None or search is not None):
        raise UsageError(
            "--create makes a new customer: give neither CUSTOMER_ID nor --search with it"
        )
    obj = CliContext.get()
    with open_session(obj, run_lock=True) as session:
        assert session.client is not None and session.state is not None
        who = find_member(session.config, session.state, member)
        if create:
            made = create_and_link(session.client, session.state, session.config, who)
            _linked(obj, as_json, who.id, made.customer, "created" if made.created else "found")
            return
        if customer_id is None:
            candidates = search_customers(session.client, session.state, who, search)
            holders = linked_members(session.state)
            if as_json:
                render.emit_json(
                    {
                        "ok": True,
                        "member": who.id,
                        "candidates": [
                            {**_customer_json(c), "linked_to": holders.get(c.id, [])}
                            for c in candidates
                        ],
                    }
                )
                obj.json_printed = True
                return
            if not candidates:
                raise UsageError(
                    f"no QBO customer matches member {who.id} ({who.email or 'no email'})",
                    hint=f"search by other text: `{obj.command_line('link', who.id, '--search', 'TEXT')}`",
                )
            render.table(
                f"QBO customers for member {who.id} ({who.email or 'no email'})",
                ("#", "id", "name", "email", "active", "linked to"),
                [
                    (
                        str(n),
                        c.id,
                        c.display_name,
                        ", ".join(c.emails),
                        "yes" if c.active else "no",
                        ", ".join(holders.get(c.id, [])) or "-",
                    )
                    for n, c in enumerate(candidates, 1)
                ],
            )
            if not stdin_is_terminal():
                raise UsageError(
                    "pick a customer: there is no terminal to ask which one",
                    hint=f"run `{obj.command_line('link', who.id, 'CUSTOMER_ID')}` with an id above",
                )
            choice = click.prompt(
                "Link to which one (number)", type=click.IntRange(1, len(candidates)), err=True
            )
            customer_id = candidates[choice - 1].id
        customer = link_by_hand(session.client, session.state, who, customer_id, force=force)
    _linked(obj, as_json, who.id, customer, None)


def _linked(
    obj: CliContext, as_json: bool, member_id: str, customer: CachedCustomer, how: str | None
) -> None:
    """Say what `link` did; ``how``: None (an existing customer), "created" or "found" (by
    --create: QBO said the name was taken, and the customer with it had the member's email)."""
    from qbsync.cli import render

    if as_json:
        doc: dict[str, Any] = {
            "ok": True,
            "member": member_id,
            "customer": _customer_json(customer),
        }
        if how is not None:
            doc["created"] = how == "created"
        render.emit_json(doc)
        obj.json_printed = True
    elif not obj.quiet:
        made = {
            None: "",
            "created": "new ",
            "found": "existing (QBO had its name and email) ",
        }[how]
        render.result(
            f"Linked member {member_id} to {made}QBO customer {customer.id} "
            f"({customer.display_name}) by hand."
        )


def _customer_json(customer: CachedCustomer) -> dict[str, Any]:
    return {
        "id": customer.id,
        "name": customer.display_name,
        "emails": list(customer.emails),
        "active": customer.active,
    }


@command("unlink")
@click.argument("member")
@json_option
def unlink(member: str, as_json: bool) -> None:
    """Remove MEMBER's link (id or email) and keep it out of automatic connection.

    connect-members leaves the member alone until you link it again with `qbsync link`.
    """
    from qbsync.cli import render
    from qbsync.sync.manual import resolve_member_id

    obj = CliContext.get()
    with open_session(obj, qbo=False, run_lock=True) as session:
        assert session.state is not None
        member_id = resolve_member_id(session.config, session.state, member)
        old = session.state.members.unlink(member_id)
    if as_json:
        render.emit_json(
            {"ok": True, "member": member_id, "was_linked_to": old.customer_id if old else None}
        )
        obj.json_printed = True
    elif not obj.quiet:
        was = f" (was linked to customer {old.customer_id})" if old else ""
        render.result(f"Unlinked member {member_id}{was}; connect-members leaves it alone now.")


@command("links")
@click.option("--status", "status_filter", type=click.Choice(STATUSES), help="Only this status.")
@json_option
def links(status_filter: str | None, as_json: bool) -> None:
    """List every member with its link status, its QBO customer and, for needs-review, the
    candidate customers. Statuses: auto, created, manual (linked); needs-review, unmatched,
    no-email, inactive, failed (not linked, with the reason); unlinked (by you)."""
    from qbsync.cli import render
    from qbsync.sync.manual import member_rows

    obj = CliContext.get()
    with open_session(obj, qbo=False) as session:
        assert session.state is not None
        rows = member_rows(session.state)
    if status_filter:
        rows = [r for r in rows if r["status"] == status_filter]
    if as_json:
        render.emit_json({"ok": True, "members": rows})
        obj.json_printed = True
        return
    if obj.quiet:
        return
    if not rows:
        render.result(
            "No members yet: run `qbsync connect-members`." if not status_filter else "None."
        )
        return
    # A linked member has a customer and no reason; one column holds either, so the table
    # fits 80 columns with emails whole.
    render.table(
        None,
        ("member", "email", "status", "customer / why"),
        [(r["member"], r["email"], r["status"], _customer_or_why(r)) for r in rows],
    )


def _customer_or_why(row: dict[str, Any]) -> str:
    if row["customer_id"]:
        return f"{row['customer_id']} {row['customer_name'] or ''}".strip()
    candidates = f" (candidates: {', '.join(row['candidates'])})" if row["candidates"] else ""
    return (row["detail"] or "") + candidates


def register(group: click.Group) -> None:
    for cmd in (link, unlink, links):
        group.add_command(cmd)
