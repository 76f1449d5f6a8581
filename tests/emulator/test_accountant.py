"""Acting as the accountant in QBO (admin API and Emulator methods), payments kept with --data,
and python-quickbooks 0.9.12 recording, voiding and deleting payments (docs/emulator.md
"Acting as the accountant", docs/emulator-rules.md "Payment")."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
from quickbooks import QuickBooks
from quickbooks.objects.base import LinkedTxn, Ref
from quickbooks.objects.creditmemo import CreditMemo
from quickbooks.objects.detailline import SalesItemLine, SalesItemLineDetail
from quickbooks.objects.payment import Payment, PaymentLine

from qbsync.emulator import Emulator

TIMEOUT = 5
LINE = {
    "DetailType": "SalesItemLineDetail",
    "Amount": "25.00",
    "SalesItemLineDetail": {"ItemRef": {"value": "2"}, "TaxCodeRef": {"value": "NON"}},
}


def admin(emu: Emulator, name: str, body: Any) -> requests.Response:
    return requests.post(f"{emu.base_url}/_emulator/{name}", json=body, timeout=TIMEOUT)


def invoice(emu: Emulator, amount: str = "25.00", customer: str = "1") -> str:
    body = {"CustomerRef": {"value": customer}, "Line": [{**LINE, "Amount": amount}]}
    return str(emu.company.create("Invoice", body)["Id"])


def stored(emu: Emulator, entity: str, ident: str) -> dict[str, Any]:
    return emu.company.read(entity, ident)


def test_admin_records_partial_and_multi_invoice_payments(emulator: Emulator) -> None:
    a, b = invoice(emulator, "25.00"), invoice(emulator, "40.00")
    answer = admin(
        emulator,
        "payments",
        {
            "invoices": {a: "25.00", b: 15.5},
            "method": "2",
            "reference": "CHK-1001",
            "date": "2026-03-09",
        },
    )
    assert answer.status_code == 200, answer.text
    paid = answer.json()["Payment"]
    assert paid["TotalAmt"] == 40.5 and paid["UnappliedAmt"] == 0
    assert paid["PaymentMethodRef"] == {"value": "2"} and paid["PaymentRefNum"] == "CHK-1001"
    assert paid["TxnDate"] == "2026-03-09" and paid["CustomerRef"]["value"] == "1"
    assert stored(emulator, "Invoice", a)["Balance"] == 0
    assert stored(emulator, "Invoice", b)["Balance"] == Decimal("24.50")
    # Over the open balance: refused as through the API, with QBO's fault text.
    over = admin(emulator, "payments", {"invoices": {b: "30.00"}})
    assert over.status_code == 400 and "6000" in over.json()["error"]
    assert emulator.company.count("Payment") == 1


def test_admin_voids_and_deletes_payments(emulator: Emulator) -> None:
    a = invoice(emulator)
    first = emulator.record_payment({a: "10.00"})
    second = emulator.record_payment({a: "15.00"})
    voided = admin(emulator, "payments/void", {"id": first["Id"]}).json()["Payment"]
    assert voided["TotalAmt"] == 0 and voided["PrivateNote"] == "Voided"
    assert stored(emulator, "Invoice", a)["Balance"] == Decimal("10.00")
    deleted = admin(emulator, "payments/delete", {"id": second["Id"]}).json()["Payment"]
    assert deleted["status"] == "Deleted"
    assert stored(emulator, "Invoice", a)["Balance"] == Decimal("25.00")
    assert admin(emulator, "payments/delete", {"id": "99"}).status_code == 400


def test_admin_voids_deletes_and_edits_invoices(emulator: Emulator) -> None:
    paid, open_one, edited = invoice(emulator), invoice(emulator), invoice(emulator)
    emulator.record_payment({paid: "5.00"})
    refused = admin(emulator, "invoices/void", {"id": paid})
    assert refused.status_code == 400 and "payments applied" in refused.json()["error"]
    assert admin(emulator, "invoices/void", {"id": open_one}).json()["Invoice"]["TotalAmt"] == 0
    changed = admin(
        emulator, "invoices/edit", {"id": edited, "line_amounts": {"1": "30.00"}, "customer": "2"}
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()["Invoice"]
    assert (
        body["TotalAmt"] == 30 and body["CustomerRef"]["value"] == "2" and body["SyncToken"] == "1"
    )
    assert (
        admin(emulator, "invoices/edit", {"id": edited, "line_amounts": {"9": "1"}}).status_code
        == 400
    )
    note = emulator.edit_invoice(edited, fields={"PrivateNote": "edited in QBO"})
    assert note["PrivateNote"] == "edited in QBO" and note["SyncToken"] == "2"


def test_deleting_a_paid_invoice_in_the_product_leaves_the_payment_unapplied(
    emulator: Emulator,
) -> None:
    a, b = invoice(emulator, "25.00"), invoice(emulator, "10.00")
    paid = emulator.record_payment({a: "25.00", b: "10.00"})
    since = emulator.company.now() - timedelta(seconds=1)
    deleted = admin(emulator, "invoices/delete", {"id": a})
    assert deleted.status_code == 200 and deleted.json()["Invoice"]["status"] == "Deleted"
    left = stored(emulator, "Payment", paid["Id"])
    assert left["TotalAmt"] == Decimal("35.00") and left["UnappliedAmt"] == Decimal("25.00")
    assert [ln["LinkedTxn"][0]["TxnId"] for ln in left["Line"]] == [b]
    assert left["SyncToken"] == "1"
    assert stored(emulator, "Customer", "1")["Balance"] == Decimal("-25.00")
    groups = emulator.company.cdc("Invoice,Payment", since.isoformat())[0]["QueryResponse"]
    assert {"Id": a, "status": "Deleted"}.items() <= groups[0]["Invoice"][-1].items()
    assert groups[1]["Payment"][0]["Id"] == paid["Id"]


def test_admin_credit_memo_applied_to_an_invoice(emulator: Emulator) -> None:
    inv = invoice(emulator, "25.00")
    memo = admin(emulator, "credit-memos", {"customer": "1", "amount": "10.00"}).json()[
        "CreditMemo"
    ]
    assert memo["RemainingCredit"] == 10
    applied = admin(emulator, "credit-memos/apply", {"credit_memo": memo["Id"], "invoice": inv})
    assert applied.status_code == 200, applied.text
    assert applied.json()["Payment"]["TotalAmt"] == 0
    assert stored(emulator, "Invoice", inv)["Balance"] == Decimal("15.00")
    assert stored(emulator, "CreditMemo", memo["Id"])["RemainingCredit"] == 0


def test_admin_refuses_malformed_bodies(emulator: Emulator) -> None:
    assert admin(emulator, "payments", {"invoices": ["1"]}).status_code == 400
    assert admin(emulator, "payments", {"invoices": {}}).status_code == 400  # nothing to pay
    assert admin(emulator, "payments/void", {}).status_code == 400
    assert admin(emulator, "credit-memos", {"customer": "1", "amount": "ten"}).status_code == 400
    assert emulator.company.count("Payment") == emulator.company.count("CreditMemo") == 0


def test_payments_survive_a_restart_with_data(tmp_path: Path) -> None:
    data = tmp_path / "qbo.json"
    with Emulator(limits=False, data=data) as emu:
        a, b = invoice(emu, "25.00"), invoice(emu, "25.00")
        kept = emu.record_payment({a: "10.00"}, reference="R1")
        voided = emu.record_payment({b: "5.00"})
        emu.void_payment(voided["Id"])
        emu.create_credit_memo("1", "3.00")
    with Emulator(limits=False, data=data) as again:
        assert again.company.read("Payment", kept["Id"])["PaymentRefNum"] == "R1"
        assert again.company.read("Invoice", a)["Balance"] == Decimal("15.00")
        assert again.company.read("Customer", "1")["Balance"] == Decimal("37.00")  # 15 + 25 - 3
        # What the restored state knows: a is paid (no void), the voided payment is final.
        with pytest.raises(ValueError, match="payments applied"):
            again.void_invoice(a)
        with pytest.raises(ValueError, match="voided"):
            again.void_payment(voided["Id"])
        assert again.record_payment({a: "15.00"})["Id"] == "3"


def test_a_data_file_from_before_payments_still_loads(tmp_path: Path) -> None:
    data = tmp_path / "qbo.json"
    with Emulator(limits=False, data=data) as emu:
        invoice(emu)
    state = json.loads(data.read_text())
    for key in ("rows", "deleted", "next_id"):
        state["company"][key].pop("Payment")
        state["company"][key].pop("CreditMemo")
    data.write_text(json.dumps(state))
    with Emulator(limits=False, data=data) as again:
        assert again.company.count("Invoice") == 1
        assert again.record_payment({"1": "5.00"})["Id"] == "1"


# -- python-quickbooks 0.9.12 ---------------------------------------------------------------------


def test_python_quickbooks_records_voids_and_deletes_a_payment(
    emulator: Emulator, qb_for: Callable[[Emulator], QuickBooks]
) -> None:
    qb = qb_for(emulator)
    inv = invoice(emulator, "25.00")
    line = PaymentLine()
    line.Amount = Decimal("25.00")
    linked = LinkedTxn()
    linked.TxnId, linked.TxnType = inv, "Invoice"
    line.LinkedTxn.append(linked)
    payment = Payment()
    payment.CustomerRef = Ref()
    payment.CustomerRef.value = "1"
    payment.TotalAmt = Decimal("25.00")
    payment.Line.append(line)
    payment.save(qb=qb)
    assert payment.Id == "1" and stored(emulator, "Invoice", inv)["Balance"] == 0
    fetched = Payment.get(payment.Id, qb=qb)
    fetched.void(qb=qb)  # POST payment?operation=update&include=void, {Id, SyncToken, sparse}
    assert stored(emulator, "Payment", "1")["PrivateNote"] == "Voided"
    assert stored(emulator, "Invoice", inv)["Balance"] == Decimal("25.00")
    Payment.get("1", qb=qb).delete(qb=qb)
    assert emulator.company.count("Payment") == 0


def test_python_quickbooks_creates_a_credit_memo(
    emulator: Emulator, qb_for: Callable[[Emulator], QuickBooks]
) -> None:
    qb = qb_for(emulator)
    memo = CreditMemo()
    memo.CustomerRef = Ref()
    memo.CustomerRef.value = "1"
    line = SalesItemLine()
    line.Amount = Decimal("12.00")
    line.SalesItemLineDetail = SalesItemLineDetail()
    line.SalesItemLineDetail.ItemRef = Ref()
    line.SalesItemLineDetail.ItemRef.value = "2"
    memo.Line.append(line)
    memo.save(qb=qb)
    assert stored(emulator, "CreditMemo", memo.Id)["RemainingCredit"] == Decimal("12.00")


def test_a_merge_moves_payments_with_their_invoices(emulator: Emulator) -> None:
    paid = invoice(emulator, "25.00", customer="2")
    payment = emulator.record_payment({paid: "10.00"})
    emulator.merge_customers("2", "1")
    assert stored(emulator, "Payment", payment["Id"])["CustomerRef"]["value"] == "1"
    assert stored(emulator, "Invoice", paid)["CustomerRef"]["value"] == "1"
    assert stored(emulator, "Invoice", paid)["Balance"] == Decimal("15.00")
    assert stored(emulator, "Customer", "1")["Balance"] == Decimal("15.00")
