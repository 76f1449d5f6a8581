"""Changes QBO refuses to books already closed: a closed period (6210) and a deposited payment
(6540). Both are the accountant's decisions in the product; through the API they are final.

- **Closed books**: Preferences ``AccountingInfoPrefs.BookCloseDate`` (prefs.py). Creating,
  updating, voiding or deleting an Invoice, Payment or CreditMemo dated on or before it is
  refused, and so is an update moving one into the closed period. Code 6210 as qbo-facts.md
  ("After export": "6210 account period closed") and Intuit's error-code list name it ("Account
  Period Closed Required Password Error: The user has "closed the books" so the account period is
  closed for edits", in a TypeScript transcription of Intuit's error-code page; 6200 is the same
  without a closing password: Choice, 6210). Message "Account Period Closed" as captured in
  routablehq/python-quickbooks issue 208; Detail as integrations quote QBO (synder.com's help page
  "The account period has closed", LeanLaw's support article): "The account period has closed and
  the account books cannot be updated through the QBO Services API. Please use the QBO website to
  make these changes."
- **Deposited payment**: 6540 "Deposited Transaction cannot be changed", Detail "This transaction
  is part of a deposit. If you want to change or delete it, you must edit and remove it from the
  deposit it appears on." (Intuit's error-code list, same transcription). Choice (stricter than
  QBO may be): a payment counts as deposited once its DepositToAccountRef is not Undeposited
  Funds, whether sent so at create or moved there by the accountant's deposit
  (accountant.deposit_payment); it can still be created that way, but never changed, voided or
  deleted through the API afterwards.

The product's own actions (``in_product``: a merge, the accountant's delete that leaves payments
unapplied) are not refused: in QBO a user who knows the closing password may go on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qbsync.emulator.entities import Fault
from qbsync.emulator.payments import UNDEPOSITED_FUNDS

if TYPE_CHECKING:
    from qbsync.emulator.store import Company

DATED = ("Invoice", "Payment", "CreditMemo")  # the transactions the emulator holds


def period_closed(close_date: str) -> Fault:
    return Fault(
        "6210",
        "Account Period Closed",
        "The account period has closed and the account books cannot be updated through the "
        f"QBO Services API. Please use the QBO website to make these changes. (books closed "
        f"through {close_date})",
        "TxnDate",
    )


def deposit_fault(ident: str) -> Fault:
    return Fault(
        "6540",
        "Deposited Transaction cannot be changed",
        "This transaction is part of a deposit. If you want to change or delete it, you must "
        f"edit and remove it from the deposit it appears on. (Payment {ident})",
        "Id",
    )


def is_deposited(payment: dict[str, Any]) -> bool:
    ref = payment.get("DepositToAccountRef") or UNDEPOSITED_FUNDS
    return str(ref.get("value")) != UNDEPOSITED_FUNDS["value"]


def check_create(company: Company, entity: str, record: dict[str, Any]) -> None:
    """A new transaction dated in the closed period (``record`` after QBO's rules: TxnDate set)."""
    _check_dates(company, entity, record)


def check_change(
    company: Company,
    entity: str,
    previous: dict[str, Any],
    record: dict[str, Any] | None = None,
    *,
    in_product: bool = False,
) -> None:
    """An update (``record``: what would be stored), void or delete (``record`` None) of
    ``previous``: refused when either date is in the closed period or the payment is deposited."""
    if in_product or entity not in DATED:
        return
    if entity == "Payment" and is_deposited(previous):
        raise deposit_fault(str(previous["Id"]))
    _check_dates(company, entity, previous, record)


def _check_dates(company: Company, entity: str, *records: dict[str, Any] | None) -> None:
    close = company.prefs.book_close_date
    if close is None or entity not in DATED:
        return
    for record in records:
        # Dates are YYYY-MM-DD (rules.py refuses anything else): compared as text.
        if record is not None and str(record.get("TxnDate", "")) <= close:
            raise period_closed(close)
