"""Merging two customers, as a QBO user does in the product (not through the API).

QBO merges name-list entries in its UI: renaming one customer to another's DisplayName offers to
merge them; the merged-away customer's transactions (invoices, credit memos, payments) move to the one kept, and the merged-away
record is gone. The emulator offers it as an admin action (``Emulator.merge_customers``,
``POST /_emulator/merge``) so that clients can be tested against a customer that disappears
under them. What CDC then reports is unverified at Intuit: the emulator reports the merged-away
customer as ``{"Id", "status": "Deleted"}`` (the shape of a deleted object) and each moved
invoice as updated (Choice, docs/emulator-rules.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qbsync.emulator.store import Company


def merge_customers(company: Company, source_id: str, target_id: str) -> dict[str, Any]:
    """Move ``source_id``'s invoices to ``target_id`` and remove ``source_id``; answers the
    customer kept. ValueError when either is unknown, they are the same, or the kept one is
    inactive."""
    with company.lock:
        source = company.get_row("Customer", source_id)
        target = company.get_row("Customer", target_id)
        if source is None or target is None:
            raise ValueError(f"no customer {source_id if source is None else target_id}")
        if source_id == target_id:
            raise ValueError("a customer cannot be merged into itself")
        if not target.get("Active", True):
            raise ValueError(f"customer {target_id} is inactive: merge into an active one")
        # Invoices and credit memos first, then the payments that link them (a payment's
        # lines must name its own customer's transactions).
        for entity in ("Invoice", "CreditMemo", "Payment"):
            for row in list(company.rows(entity)):
                if row["CustomerRef"]["value"] == source_id:
                    company.update(
                        entity,
                        {
                            "Id": row["Id"],
                            "SyncToken": row["SyncToken"],
                            "sparse": True,
                            "CustomerRef": {"value": target_id},
                        },
                        in_product=True,  # voided ones move too
                    )
        company.forget("Customer", source_id)
        return company.read("Customer", target_id)
