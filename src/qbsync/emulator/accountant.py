"""Acting as the company's accountant in QBO: what the demo and tests do to exported invoices.

The accountant works in QBO's product, not through the API: records payments (one or several
invoices, partial ones), voids or deletes them, voids, deletes or edits invoices, issues credit
memos and applies them. Each action goes through the same rules as the API (so a payment over an
invoice's balance is refused here too) and shows in CDC like any change. Deleting an invoice in the
product leaves its payments on the books, unapplied (Intuit's help "What happens if I delete an
invoice that has a payment?"); through the API it is refused (payments.check_delete). The
accountant also deposits payments (a bank deposit: through the API the payment can no longer be
changed, 6540, closing.py) and sends invoices to the customer (sending.py).

``Accountant`` is mixed into ``Emulator`` (methods raise ValueError with QBO's fault text);
``ROUTES`` are the admin API's ``POST /_emulator/...`` endpoints over them (admin.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from qbsync.emulator import closing, sending
from qbsync.emulator.entities import Fault
from qbsync.emulator.payments import UNDEPOSITED_FUNDS

if TYPE_CHECKING:
    from qbsync.emulator.store import Company

Amount = Decimal | str | int
_DEFAULT_ITEM = "1"  # the default company's first item ("Services")
# Where a deposit puts a payment by default: a bank account (accounts are not emulated; 35 is
# "Checking" in Intuit's sandbox company samples).
CHECKING = {"value": "35", "name": "Checking"}


def _amount(value: Any, what: str) -> Decimal:
    """An amount from Python or the admin API's JSON (a float there is read by its digits)."""
    if isinstance(value, bool) or not isinstance(value, Decimal | str | int | float):
        raise ValueError(f"{what}: an amount is expected")
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"{what}: {value!r} is not an amount") from exc


class Accountant:
    company: Company

    def save(self) -> None:  # Emulator.save: write --data
        raise NotImplementedError

    def _act(self, action: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        try:
            with self.company.lock:
                result = action()
        except Fault as fault:
            raise ValueError(f"{fault.code} {fault.message}: {fault.detail}") from fault
        self.save()
        return result

    def _token(self, entity: str, ident: str) -> dict[str, Any]:
        row = self.company.get_row(entity, str(ident))
        if row is None:
            raise ValueError(f"no {entity} {ident}")
        return {"Id": row["Id"], "SyncToken": row["SyncToken"]}

    def record_payment(
        self,
        invoices: Mapping[str, Amount],
        *,
        customer_id: str | None = None,
        total: Amount | None = None,
        credit_memos: Mapping[str, Amount] | None = None,
        method: str | None = None,
        reference: str | None = None,
        txn_date: str | None = None,
        note: str | None = None,
    ) -> dict[str, Any]:
        """Receive a payment applied to ``invoices`` ({invoice Id: amount}); ``total`` defaults
        to what the lines apply (invoices less credit memos). ``method`` is a PaymentMethodRef
        value (PaymentMethod is not emulated). Answers the Payment."""

        def act() -> dict[str, Any]:
            lines: list[dict[str, Any]] = [
                {
                    "Amount": _amount(a, f"invoice {i}"),
                    "LinkedTxn": [{"TxnId": str(i), "TxnType": t}],
                }
                for t, given in (("Invoice", invoices), ("CreditMemo", credit_memos or {}))
                for i, a in given.items()
            ]
            customer = customer_id
            if customer is None:
                first = lines[0]["LinkedTxn"][0] if lines else None
                row = self.company.get_row(first["TxnType"], first["TxnId"]) if first else None
                if row is None:
                    raise ValueError("name a customer, or an existing invoice to pay")
                customer = row["CustomerRef"]["value"]
            net = _amount(0, "total")
            for x in lines:
                sign = 1 if x["LinkedTxn"][0]["TxnType"] == "Invoice" else -1
                net += sign * x["Amount"]
            payment: dict[str, Any] = {
                "CustomerRef": {"value": str(customer)},
                "TotalAmt": net if total is None else _amount(total, "total"),
                "Line": lines,
            }
            for key, value in (
                ("PaymentMethodRef", {"value": method} if method else None),
                ("PaymentRefNum", reference),
                ("TxnDate", txn_date),
                ("PrivateNote", note),
            ):
                if value is not None:
                    payment[key] = value
            return self.company.create("Payment", payment)

        return self._act(act)

    def void_payment(self, payment_id: str) -> dict[str, Any]:
        return self._act(lambda: self.company.void("Payment", self._token("Payment", payment_id)))

    def delete_payment(self, payment_id: str) -> dict[str, Any]:
        return self._act(lambda: self.company.delete("Payment", self._token("Payment", payment_id)))

    def deposit_payment(
        self, payment_id: str, account: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """Deposit a payment from Undeposited Funds into a bank account (``account``, a ref;
        Checking by default): from then on the API refuses to change, void or delete it (6540)."""

        def act() -> dict[str, Any]:
            row = self.company.get_row("Payment", str(payment_id))
            if row is None:
                raise ValueError(f"no Payment {payment_id}")
            if self.company.is_voided("Payment", str(payment_id)):
                raise ValueError(f"Payment {payment_id} is voided: there is nothing to deposit")
            if closing.is_deposited(row):
                raise ValueError(f"Payment {payment_id} is already deposited")
            ref = dict(account or CHECKING)
            if not ref.get("value") or ref["value"] == UNDEPOSITED_FUNDS["value"]:
                raise ValueError("account: a bank account ref other than Undeposited Funds")
            change = {**self._token("Payment", payment_id), "sparse": True}
            change["DepositToAccountRef"] = ref
            return self.company.update("Payment", change, in_product=True)

        return self._act(act)

    def send_invoice(self, invoice_id: str, send_to: str | None = None) -> dict[str, Any]:
        """Email an invoice to the customer (``send_to``, else its BillEmail): EmailSent."""
        return self._act(lambda: sending.send_invoice(self.company, str(invoice_id), send_to))

    def void_invoice(self, invoice_id: str) -> dict[str, Any]:
        """Refused when payments are applied, as in QBO (voids.py)."""
        return self._act(lambda: self.company.void("Invoice", self._token("Invoice", invoice_id)))

    def delete_invoice(self, invoice_id: str) -> dict[str, Any]:
        """A hard delete; payments applied to it stay, their amount now unapplied."""
        return self._act(
            lambda: self.company.delete(
                "Invoice", self._token("Invoice", invoice_id), in_product=True
            )
        )

    def edit_invoice(
        self,
        invoice_id: str,
        *,
        customer_id: str | None = None,
        line_amounts: Mapping[str, Amount] | None = None,
        fields: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Change an invoice: its customer, line amounts ({line Id: amount}; the line's Qty
        becomes 1 and its UnitPrice the amount), or other fields (a sparse update)."""

        def act() -> dict[str, Any]:
            if fields is not None and not isinstance(fields, Mapping):
                raise ValueError("fields: an object of Invoice fields is expected")
            change: dict[str, Any] = {**self._token("Invoice", invoice_id), "sparse": True}
            change.update(fields or {})
            if customer_id is not None:
                change["CustomerRef"] = {"value": str(customer_id)}
            if line_amounts:
                amounts = {str(k): v for k, v in line_amounts.items()}
                row = self.company.get_row("Invoice", str(invoice_id))
                assert row is not None
                unknown = set(amounts) - {line.get("Id") for line in row["Line"]}
                if unknown:
                    raise ValueError(f"invoice {invoice_id} has no line {sorted(unknown)[0]}")
                lines = []
                for line in row["Line"]:
                    line = dict(line)
                    if line.get("Id") in amounts:
                        amount = _amount(amounts[line["Id"]], f"line {line['Id']}")
                        detail = dict(line["SalesItemLineDetail"])
                        detail.update(Qty=1, UnitPrice=amount)
                        line.update(Amount=amount, SalesItemLineDetail=detail)
                    lines.append(line)
                change["Line"] = lines
            return self.company.update("Invoice", change)

        return self._act(act)

    def create_credit_memo(
        self, customer_id: str, amount: Amount, *, item_id: str = _DEFAULT_ITEM, note: str = ""
    ) -> dict[str, Any]:
        """A one-line credit memo for ``amount``."""
        line = {
            "DetailType": "SalesItemLineDetail",
            "Amount": _amount(amount, "amount"),
            "SalesItemLineDetail": {"ItemRef": {"value": str(item_id)}},
        }
        memo = {"CustomerRef": {"value": str(customer_id)}, "Line": [line], "PrivateNote": note}
        return self._act(lambda: self.company.create("CreditMemo", memo))

    def apply_credit(
        self, credit_memo_id: str, invoice_id: str, amount: Amount | None = None
    ) -> dict[str, Any]:
        """Apply a credit memo to an invoice: a zero-total Payment whose lines link both
        (Intuit's example); ``amount`` defaults to the smaller of credit and balance."""
        memo = self.company.get_row("CreditMemo", str(credit_memo_id))
        invoice = self.company.get_row("Invoice", str(invoice_id))
        if memo is None or invoice is None:
            raise ValueError(f"no credit memo {credit_memo_id} or invoice {invoice_id}")
        value = min(memo["Balance"], invoice["Balance"]) if amount is None else amount
        return self.record_payment(
            {str(invoice_id): value}, credit_memos={str(credit_memo_id): value}, total=0
        )


def _ids(fields: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = fields.get(key) or {}
    if not isinstance(value, dict):
        raise ValueError(f"{key}: an object of Id: amount is expected")
    return {str(k): v for k, v in value.items()}


def _id(fields: Mapping[str, Any], key: str = "id") -> str:
    value = fields.get(key)
    if not isinstance(value, str | int) or isinstance(value, bool) or value == "":
        raise ValueError(f"send {{{key!r}: Id}}")
    return str(value)


def _account(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if isinstance(value, str | int) and not isinstance(value, bool):
        return {"value": str(value)}
    if isinstance(value, dict) and isinstance(value.get("value"), str):
        return {k: str(v) for k, v in value.items()}
    raise ValueError('account: an account Id, or a ref {"value": Id, "name": ...}')


def _email(value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ValueError("to: an email address is expected")
    return value


Handler = Callable[[Any, dict[str, Any]], dict[str, Any]]

# POST /_emulator/<path>: body fields -> what the Emulator method answers (admin.py wraps them).
ROUTES: dict[str, Handler] = {
    "payments": lambda emu, f: {
        "Payment": emu.record_payment(
            _ids(f, "invoices"),
            customer_id=f.get("customer"),
            total=f.get("total"),
            credit_memos=_ids(f, "credit_memos"),
            method=f.get("method"),
            reference=f.get("reference"),
            txn_date=f.get("date"),
            note=f.get("note"),
        )
    },
    "payments/void": lambda emu, f: {"Payment": emu.void_payment(_id(f))},
    "payments/delete": lambda emu, f: {"Payment": emu.delete_payment(_id(f))},
    "payments/deposit": lambda emu, f: {
        "Payment": emu.deposit_payment(_id(f), _account(f.get("account")))
    },
    "invoices/send": lambda emu, f: {"Invoice": emu.send_invoice(_id(f), _email(f.get("to")))},
    "invoices/void": lambda emu, f: {"Invoice": emu.void_invoice(_id(f))},
    "invoices/delete": lambda emu, f: {"Invoice": emu.delete_invoice(_id(f))},
    "invoices/edit": lambda emu, f: {
        "Invoice": emu.edit_invoice(
            _id(f),
            customer_id=f.get("customer"),
            line_amounts=_ids(f, "line_amounts"),
            fields=f.get("fields"),
        )
    },
    "credit-memos": lambda emu, f: {
        "CreditMemo": emu.create_credit_memo(
            _id(f, "customer"), f.get("amount"), item_id=str(f.get("item") or _DEFAULT_ITEM)
        )
    },
    "credit-memos/apply": lambda emu, f: {
        "Payment": emu.apply_credit(_id(f, "credit_memo"), _id(f, "invoice"), f.get("amount"))
    },
}
