"""Sending an invoice by email: ``EmailStatus``, ``DeliveryInfo`` and ``POST invoice/{id}/send``.

Intuit's Invoice reference (copy in Petrus-Han/finance_plugins ``ref/quickbooks_dev_docs/
api-reference/invoice.md``): ``EmailStatus`` is NotSet, NeedToSend or EmailSent (NotSet in every
sample answer); "If EmailStatus=NeedToSend, BillEmail is a required input"; ``DeliveryInfo`` is
read-only, "returned when a request has been made to deliver email with the send operation".
``POST /invoice/<id>/send[?sendTo=<email>]`` (Content-Type application/octet-stream) "sends the
invoice via email. The Invoice.EmailStatus parameter is set to EmailSent. The Invoice.DeliveryInfo
element is populated with sending information. The Invoice.BillEmail.Address parameter is updated
to the address specified with the value of the sendTo query parameter, if specified"; the answer
is the invoice with ``DeliveryInfo: {DeliveryType: "Email", DeliveryTime}``.

Choices (unverified at Intuit; stricter for clients): a client cannot set EmailSent itself
(2010), only the send does; once sent an invoice stays EmailSent with its DeliveryInfo whatever
later updates say (what a reader checks before changing an invoice the customer has seen); a send
bumps SyncToken and LastUpdatedTime (the invoice changed); sending needs an address (sendTo, else
the invoice's BillEmail: 6420 "Email address is required", Intuit's error-code list); a voided
invoice is not sent (6000).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qbsync.emulator import voids
from qbsync.emulator.entities import Fault, invalid_property, is_blank, not_found, required_missing
from qbsync.emulator.textrules import check_email

if TYPE_CHECKING:
    from qbsync.emulator.store import Company

NOT_SET, NEED_TO_SEND, EMAIL_SENT = "NotSet", "NeedToSend", "EmailSent"


def email_status(record: dict[str, Any], previous: dict[str, Any] | None) -> None:
    """Set an invoice's EmailStatus (and keep its DeliveryInfo) as QBO's rules say."""
    if previous is not None and previous.get("EmailStatus") == EMAIL_SENT:
        record["EmailStatus"] = EMAIL_SENT
        if "DeliveryInfo" in previous:
            record["DeliveryInfo"] = previous["DeliveryInfo"]
        return
    status = record.get("EmailStatus", NOT_SET)
    if status not in (NOT_SET, NEED_TO_SEND):
        why = "set by the send operation" if status == EMAIL_SENT else "NotSet or NeedToSend"
        raise invalid_property("EmailStatus", f"{status!r}: {why}")
    if status == NEED_TO_SEND and is_blank((record.get("BillEmail") or {}).get("Address")):
        raise required_missing("BillEmail")
    record["EmailStatus"] = status
    record.pop("DeliveryInfo", None)


def send_invoice(company: Company, ident: str, send_to: str | None) -> dict[str, Any]:
    """``POST invoice/{ident}/send[?sendTo=]``: the invoice as stored after the send."""
    with company.lock:
        row = company.get_row("Invoice", ident)
        if row is None:
            raise not_found("Invoice", ident)
        if company.is_voided("Invoice", ident):
            raise voids.voided_is_final(ident)
        record = {k: v for k, v in row.items() if k not in ("Id", "SyncToken", "MetaData")}
        if send_to is not None:
            record["BillEmail"] = {"Address": send_to}
            check_email(record, "BillEmail")  # 2010 naming BillEmail.Address
        if is_blank((record.get("BillEmail") or {}).get("Address")):
            raise Fault(
                "6420",
                "Email address is required",
                "An email address is required for this customer since the delivery type is "
                "email: send sendTo, or set the invoice's BillEmail",
                "BillEmail",
            )
        record["EmailStatus"] = EMAIL_SENT
        record["DeliveryInfo"] = {"DeliveryType": "Email", "DeliveryTime": company.stamp()}
        token = str(int(row["SyncToken"]) + 1)
        company._store(
            "Invoice", ident, record, company.stamp(), row["MetaData"]["CreateTime"], token
        )
        stored = company.get_row("Invoice", ident)
        assert stored is not None
        return company.render(stored)
