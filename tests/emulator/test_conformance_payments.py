"""Payments and credit memos through the API: what applying, updating, voiding and deleting a
payment does to invoices, credit memos and customers (docs/emulator-rules.md "Payment",
"CreditMemo", "Change data capture")."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from emulator.fake_clock import START, FakeClock
from qbsync.emulator.api import ApiResult, handle_api
from qbsync.emulator.store import Company, Fault


def call(company: Company, method: str, subpath: str, body: Any = None, **params: str) -> ApiResult:
    raw = body if isinstance(body, bytes) else b"" if body is None else json.dumps(body).encode()
    return handle_api(company, method, subpath, params, raw)


def code(result: ApiResult) -> str:
    return str(result.body["Fault"]["Error"][0]["code"])


def line(amount: str, item: str = "2") -> dict[str, Any]:
    return {
        "DetailType": "SalesItemLineDetail",
        "Amount": amount,
        "SalesItemLineDetail": {"ItemRef": {"value": item}, "TaxCodeRef": {"value": "NON"}},
    }


def invoice(company: Company, amount: str = "25.00", customer: str = "1") -> str:
    body = {"CustomerRef": {"value": customer}, "Line": [line(amount)]}
    return str(company.create("Invoice", body)["Id"])


def credit_memo(company: Company, amount: str = "10.00", customer: str = "1") -> str:
    body = {"CustomerRef": {"value": customer}, "Line": [line(amount)]}
    return str(company.create("CreditMemo", body)["Id"])


def pay_line(amount: str, ident: str, kind: str = "Invoice") -> dict[str, Any]:
    return {"Amount": amount, "LinkedTxn": [{"TxnId": ident, "TxnType": kind}]}


def payment(
    total: str, *lines: dict[str, Any], customer: str = "1", **extra: Any
) -> dict[str, Any]:
    return {"CustomerRef": {"value": customer}, "TotalAmt": total, "Line": list(lines), **extra}


def balance(company: Company, entity: str, ident: str) -> Decimal:
    return Decimal(company.read(entity, ident)["Balance"])


def fault_of(fn: Any, *args: Any) -> Fault:
    with pytest.raises(Fault) as info:
        fn(*args)
    return info.value


# -- Payment: create ------------------------------------------------------------------------------


def test_a_payment_lowers_the_invoice_balance_and_bumps_the_invoice(
    company: Company, clock: FakeClock
) -> None:
    inv = invoice(company, "25.00")
    clock.advance(minutes=5)
    result = call(company, "POST", "payment", payment("10.00", pay_line("10.00", inv)))
    assert result.status == 200
    paid = result.body["Payment"]
    assert paid["Id"] == "1" and paid["SyncToken"] == "0"
    assert paid["TotalAmt"] == Decimal("10.00") and paid["UnappliedAmt"] == 0
    assert paid["Line"] == [
        {"Amount": Decimal("10.00"), "LinkedTxn": [{"TxnId": inv, "TxnType": "Invoice"}]}
    ]
    # Defaults from Intuit's reference: Undeposited Funds, today, not processed.
    assert paid["DepositToAccountRef"] == {"value": "4", "name": "Undeposited Funds"}
    assert paid["TxnDate"] == "2026-03-10" and paid["ProcessPayment"] is False
    assert paid["CustomerRef"] == {"value": "1", "name": "Emily Platt"}
    stored = company.read("Invoice", inv)
    assert stored["Balance"] == Decimal("15.00") and stored["TotalAmt"] == Decimal("25.00")
    assert stored["SyncToken"] == "1"
    assert stored["MetaData"]["LastUpdatedTime"] == clock.now.isoformat()
    # The invoice's LinkedTxn names the payment (read-only there).
    assert stored["LinkedTxn"] == [{"TxnId": "1", "TxnType": "Payment"}]
    assert company.read("Customer", "1")["Balance"] == Decimal("15.00")


def test_unapplied_amount_is_the_total_less_the_lines_and_is_read_only(company: Company) -> None:
    inv = invoice(company, "25.00")
    body = payment("30.00", pay_line("25.00", inv), UnappliedAmt="99")
    paid = company.create("Payment", body)
    assert paid["UnappliedAmt"] == Decimal("5.00")
    assert balance(company, "Invoice", inv) == 0
    # The customer's balance is what is owed less open credits: 0 owed, 5 unapplied.
    assert company.read("Customer", "1")["Balance"] == Decimal("-5.00")
    unlinked = company.create("Payment", payment("7.00"))  # a payment with no lines: a credit
    assert unlinked["UnappliedAmt"] == Decimal("7.00") and unlinked["Line"] == []


def test_one_payment_across_three_invoices_and_partial_payments(company: Company) -> None:
    a, b, c = invoice(company, "10.00"), invoice(company, "20.00"), invoice(company, "30.00")
    company.create(
        "Payment",
        payment("45.00", pay_line("10.00", a), pay_line("20.00", b), pay_line("15.00", c)),
    )
    assert [balance(company, "Invoice", i) for i in (a, b, c)] == [0, 0, Decimal("15.00")]
    company.create("Payment", payment("5.00", pay_line("5.00", c)))
    company.create("Payment", payment("10.00", pay_line("10.00", c)))
    assert balance(company, "Invoice", c) == 0
    assert company.read("Invoice", c)["LinkedTxn"] == [
        {"TxnId": p, "TxnType": "Payment"} for p in ("1", "2", "3")
    ]
    assert company.read("Customer", "1")["Balance"] == 0


def test_a_line_over_the_open_balance_is_refused(company: Company) -> None:
    inv = invoice(company, "25.00")
    over = call(company, "POST", "payment", payment("25.01", pay_line("25.01", inv)))
    assert over.status == 400 and code(over) == "6000"
    company.create("Payment", payment("20.00", pay_line("20.00", inv)))
    second = fault_of(company.create, "Payment", payment("6.00", pay_line("6.00", inv)))
    assert second.code == "6000" and "open balance (5.00)" in second.detail
    assert balance(company, "Invoice", inv) == Decimal("5.00")
    assert company.count("Payment") == 1


def test_payment_validation(company: Company) -> None:
    mine, theirs = invoice(company, customer="1"), invoice(company, customer="2")
    cases = [
        (payment("5", pay_line("5", "999")), "610"),  # the linked invoice must exist
        (payment("5", pay_line("5", theirs)), "6000"),  # ... and be the customer's
        (payment("5", pay_line("5", mine, "JournalEntry")), "2010"),
        (payment("5", pay_line("6", mine)), "6000"),  # the lines apply more than TotalAmt
        (payment("-1"), "2010"),
        (payment("5", pay_line("-5", mine)), "2010"),
        ({"CustomerRef": {"value": "1"}}, "2020"),  # TotalAmt required
        ({"TotalAmt": "5"}, "2020"),  # CustomerRef required
        (payment("5", customer="3"), "610"),  # an inactive customer
        (payment("5", {"Amount": "5", "LinkedTxn": []}), "2010"),
        (payment("5", {"Amount": "5", "Foo": 1}), "2010"),
    ]
    for body, expected in cases:
        result = call(company, "POST", "payment", body)
        assert (result.status, code(result)) == (400, expected), body
    assert company.count("Payment") == 0
    assert balance(company, "Invoice", mine) == Decimal("25.00")


# -- Payment: update, delete, void ----------------------------------------------------------------


def test_a_sparse_update_sending_line_replaces_all_lines(company: Company) -> None:
    a, b = invoice(company, "10.00"), invoice(company, "20.00")
    paid = company.create("Payment", payment("15.00", pay_line("10.00", a), pay_line("5.00", b)))
    # Without Line the lines stay (a sparse update of another field leaves invoices alone).
    company.update(
        "Payment", {"Id": paid["Id"], "SyncToken": "0", "sparse": True, "PaymentRefNum": "CHK-7"}
    )
    assert company.read("Invoice", a)["SyncToken"] == "1"
    assert balance(company, "Invoice", b) == Decimal("15.00")
    # A Line array replaces them all: a is open again, b is paid 15 (its old 5 counts as open).
    result = company.update(
        "Payment",
        {"Id": paid["Id"], "SyncToken": "1", "sparse": True, "Line": [pay_line("15.00", b)]},
    )
    assert result["Line"] == [
        {"Amount": Decimal("15.00"), "LinkedTxn": [{"TxnId": b, "TxnType": "Invoice"}]}
    ]
    assert result["PaymentRefNum"] == "CHK-7" and result["UnappliedAmt"] == 0
    assert balance(company, "Invoice", a) == Decimal("10.00")
    assert "LinkedTxn" not in company.read("Invoice", a)
    assert company.read("Invoice", a)["SyncToken"] == "2"
    assert balance(company, "Invoice", b) == Decimal("5.00")
    # A full update without Line unapplies everything: the total becomes a credit.
    full = company.update(
        "Payment",
        {"Id": paid["Id"], "SyncToken": "2", "CustomerRef": {"value": "1"}, "TotalAmt": "15.00"},
    )
    assert full["Line"] == [] and full["UnappliedAmt"] == Decimal("15.00")
    assert balance(company, "Invoice", b) == Decimal("20.00")
    assert company.read("Customer", "1")["Balance"] == Decimal("15.00")  # 30 owed - 15 credit


def test_deleting_a_payment_restores_the_balances_and_leaves_a_cdc_tombstone(
    company: Company, clock: FakeClock
) -> None:
    inv = invoice(company, "25.00")
    paid = company.create("Payment", payment("25.00", pay_line("25.00", inv)))
    clock.advance(minutes=1)
    result = call(
        company, "POST", "payment", {"Id": paid["Id"], "SyncToken": "0"}, operation="delete"
    )
    assert result.body["Payment"] == {"Id": paid["Id"], "status": "Deleted", "domain": "QBO"}
    assert call(company, "GET", f"payment/{paid['Id']}").status == 400  # 610: gone for good
    assert balance(company, "Invoice", inv) == Decimal("25.00")
    assert company.read("Invoice", inv)["SyncToken"] == "2"
    assert company.read("Customer", "1")["Balance"] == Decimal("25.00")
    cdc = company.cdc("Payment", (clock.now - timedelta(seconds=1)).isoformat())
    assert cdc[0]["QueryResponse"][0]["Payment"] == [
        {
            "Id": paid["Id"],
            "status": "Deleted",
            "domain": "QBO",
            "MetaData": {"LastUpdatedTime": clock.now.isoformat()},
        }
    ]


def test_voiding_a_payment_zeroes_it_and_reopens_the_invoice(company: Company) -> None:
    inv = invoice(company, "25.00")
    paid = company.create("Payment", payment("25.00", pay_line("25.00", inv), PrivateNote="cheque"))
    void = {"Id": paid["Id"], "SyncToken": "0", "sparse": True}
    result = call(company, "POST", "payment", void, operation="update", include="void")
    assert result.status == 200
    voided = result.body["Payment"]
    assert voided["TotalAmt"] == 0 and voided["UnappliedAmt"] == 0 and voided["Line"] == []
    assert voided["PrivateNote"] == "Voided - cheque" and voided["SyncToken"] == "1"
    assert balance(company, "Invoice", inv) == Decimal("25.00")
    assert company.read("Customer", "1")["Balance"] == Decimal("25.00")
    # A voided payment cannot be changed or voided again; it can be deleted.
    again = call(
        company, "POST", "payment", {**void, "SyncToken": "1"}, operation="update", include="void"
    )
    assert code(again) == "6000"
    change = {"Id": paid["Id"], "SyncToken": "1", "sparse": True, "PaymentRefNum": "x"}
    assert fault_of(company.update, "Payment", change).code == "6000"
    company.delete("Payment", {"Id": paid["Id"], "SyncToken": "1"})
    assert company.count("Payment") == 0


def test_a_payment_void_is_a_sparse_update_with_include_void(company: Company) -> None:
    inv = invoice(company, "25.00")
    paid = company.create("Payment", payment("25.00", pay_line("25.00", inv)))
    body = {"Id": paid["Id"], "SyncToken": "0"}
    not_sparse = call(company, "POST", "payment", body, operation="update", include="void")
    assert code(not_sparse) == "2010"
    as_invoice = call(company, "POST", "payment", {**body, "sparse": True}, operation="void")
    assert code(as_invoice) == "500"  # Unsupported Operation: payments use include=void
    on_invoice = call(
        company,
        "POST",
        "invoice",
        {"Id": inv, "SyncToken": "1", "sparse": True},
        operation="update",
        include="void",
    )
    assert code(on_invoice) == "500"
    assert balance(company, "Invoice", inv) == 0


# -- invoices with payments -----------------------------------------------------------------------


def test_an_invoice_with_a_payment_applied_cannot_be_voided(company: Company) -> None:
    inv = invoice(company, "25.00")
    paid = company.create("Payment", payment("5.00", pay_line("5.00", inv)))
    refused = call(company, "POST", "invoice", {"Id": inv, "SyncToken": "1"}, operation="void")
    assert (
        code(refused) == "6000"
        and f"payments applied ({paid['Id']})" in refused.body["Fault"]["Error"][0]["Detail"]
    )
    assert balance(company, "Invoice", inv) == Decimal("20.00")
    company.delete("Payment", {"Id": paid["Id"], "SyncToken": "0"})
    voided = company.void("Invoice", {"Id": inv, "SyncToken": "2"})
    assert voided["TotalAmt"] == voided["Balance"] == 0


def test_an_invoice_with_a_payment_applied_cannot_be_deleted_through_the_api(
    company: Company,
) -> None:
    inv = invoice(company, "25.00")
    company.create("Payment", payment("5.00", pay_line("5.00", inv)))
    refused = call(company, "POST", "invoice", {"Id": inv, "SyncToken": "1"}, operation="delete")
    assert code(refused) == "6000"
    assert company.count("Invoice") == 1


def test_an_unpaid_invoice_delete_is_a_hard_delete_seen_only_in_cdc(
    company: Company, clock: FakeClock
) -> None:
    inv = invoice(company, "25.00")
    since = clock.now.isoformat()
    result = call(company, "POST", "invoice", {"Id": inv, "SyncToken": "0"}, operation="delete")
    assert result.body["Invoice"] == {"Id": inv, "status": "Deleted", "domain": "QBO"}
    assert call(company, "POST", "query", b"select * from Invoice").body["QueryResponse"] == {}
    cdc = company.cdc("Invoice", since)[0]["QueryResponse"][0]["Invoice"]
    assert cdc == [
        {
            "Id": inv,
            "status": "Deleted",
            "domain": "QBO",
            "MetaData": {"LastUpdatedTime": clock.now.isoformat()},
        }
    ]


def test_a_paid_invoice_keeps_its_customer_and_a_total_above_what_is_applied(
    company: Company,
) -> None:
    inv = invoice(company, "25.00")
    company.create("Payment", payment("20.00", pay_line("20.00", inv)))
    moved = {"Id": inv, "SyncToken": "1", "sparse": True, "CustomerRef": {"value": "2"}}
    assert fault_of(company.update, "Invoice", moved).code == "6000"
    lowered = {"Id": inv, "SyncToken": "1", "sparse": True, "Line": [line("19.99")]}
    assert fault_of(company.update, "Invoice", lowered).code == "6000"
    raised = company.update("Invoice", {**lowered, "Line": [line("30.00")]})
    assert raised["TotalAmt"] == Decimal("30.00") and raised["Balance"] == Decimal("10.00")
    assert company.read("Customer", "1")["Balance"] == Decimal("10.00")


# -- CreditMemo -----------------------------------------------------------------------------------


def test_a_credit_memo_is_made_like_an_invoice(company: Company) -> None:
    invoice(company, "25.00")
    result = call(
        company,
        "POST",
        "creditmemo",
        {"CustomerRef": {"value": "1"}, "Line": [line("10.00"), line("2.50", item="3")]},
    )
    assert result.status == 200
    memo = result.body["CreditMemo"]
    assert memo["TotalAmt"] == memo["Balance"] == memo["RemainingCredit"] == Decimal("12.50")
    assert memo["Line"][-1]["DetailType"] == "SubTotalLineDetail"
    assert memo["Line"][0]["SalesItemLineDetail"]["ItemRef"]["name"] == "Mailbox Rental"
    assert memo["DocNumber"] == "1002"  # the invoices' sequence (Choice)
    assert company.read("Customer", "1")["Balance"] == Decimal("12.50")  # 25 owed - 12.50 credit
    bad_item = call(
        company,
        "POST",
        "creditmemo",
        {"CustomerRef": {"value": "1"}, "Line": [line("1.00", item="99")]},
    )
    assert code(bad_item) == "2500"
    sent_back = company.update("CreditMemo", {**memo, "RemainingCredit": 0, "Balance": 0})
    assert sent_back["SyncToken"] == "0"  # read-only fields sent back change nothing


def test_a_credit_memo_is_applied_through_a_zero_total_payment(company: Company) -> None:
    inv, memo = invoice(company, "25.00"), credit_memo(company, "10.00")
    body = payment("0", pay_line("10.00", inv), pay_line("10.00", memo, "CreditMemo"))
    applied = company.create("Payment", body)
    assert applied["TotalAmt"] == 0 and applied["UnappliedAmt"] == 0
    assert balance(company, "Invoice", inv) == Decimal("15.00")
    stored = company.read("CreditMemo", memo)
    assert stored["RemainingCredit"] == stored["Balance"] == 0 and stored["SyncToken"] == "1"
    assert company.read("Customer", "1")["Balance"] == Decimal("15.00")
    # More credit than the memo holds, or credit with no invoice to offset, is refused.
    memo2 = credit_memo(company, "5.00")
    too_much = payment("0", pay_line("6.00", inv), pay_line("6.00", memo2, "CreditMemo"))
    assert fault_of(company.create, "Payment", too_much).code == "6000"
    alone = payment("0", pay_line("5.00", memo2, "CreditMemo"))
    assert fault_of(company.create, "Payment", alone).code == "6000"
    # Deleting the application gives the credit back.
    company.delete("Payment", {"Id": applied["Id"], "SyncToken": "0"})
    assert balance(company, "CreditMemo", memo) == Decimal("10.00")


def test_credit_memo_delete_and_void(company: Company) -> None:
    inv, memo = invoice(company, "25.00"), credit_memo(company, "10.00")
    company.create(
        "Payment", payment("0", pay_line("4.00", inv), pay_line("4.00", memo, "CreditMemo"))
    )
    assert (
        code(call(company, "POST", "creditmemo", {"Id": memo, "SyncToken": "1"}, operation="void"))
        == "500"
    )
    applied = call(
        company, "POST", "creditmemo", {"Id": memo, "SyncToken": "1"}, operation="delete"
    )
    assert code(applied) == "6000"
    free = credit_memo(company, "3.00")
    deleted = call(
        company, "POST", "creditmemo", {"Id": free, "SyncToken": "0"}, operation="delete"
    )
    assert deleted.body["CreditMemo"]["status"] == "Deleted"
    assert company.read("Customer", "1")["Balance"] == Decimal("15.00")  # 21 owed - 6 credit


# -- query, batch, CDC ----------------------------------------------------------------------------


def test_query_payments_and_credit_memos(company: Company) -> None:
    inv = invoice(company, "25.00")
    company.create("Payment", payment("5.00", pay_line("5.00", inv), PaymentRefNum="A1"))
    company.create("Payment", payment("12.00", customer="2"))
    credit_memo(company, "3.00")

    def rows(text: str) -> list[dict[str, Any]]:
        answer = call(company, "POST", "query", text.encode()).body["QueryResponse"]
        return [*answer.get("Payment", []), *answer.get("CreditMemo", [])]

    assert [p["Id"] for p in rows("select * from Payment where CustomerRef = '1'")] == ["1"]
    assert [p["Id"] for p in rows("select * from Payment where TotalAmt > '10'")] == ["2"]
    assert [p["Id"] for p in rows("select * from Payment where PaymentRefNum = 'A1'")] == ["1"]
    assert [m["Balance"] for m in rows("select * from CreditMemo where Balance > '0'")] == [
        Decimal("3.00")
    ]
    refused = call(company, "POST", "query", b"select * from Payment where UnappliedAmt > '0'")
    assert code(refused) == "4001"
    assert call(company, "GET", "payment/1").body["Payment"]["PaymentRefNum"] == "A1"


def test_batch_creates_and_updates_payments(company: Company) -> None:
    inv = invoice(company, "25.00")
    items = [
        {"bId": "p1", "operation": "create", "Payment": payment("10.00", pay_line("10.00", inv))},
        {"bId": "p2", "operation": "create", "Payment": payment("20.00", pay_line("20.00", inv))},
        {
            "bId": "p3",
            "operation": "update",
            "Payment": {
                "Id": "1",
                "SyncToken": "0",
                "sparse": True,
                "TotalAmt": "15.00",
                "Line": [pay_line("15.00", inv)],
            },
        },
    ]
    answers = call(company, "POST", "batch", {"BatchItemRequest": items}).body["BatchItemResponse"]
    assert answers[0]["Payment"]["Id"] == "1" and answers[0]["bId"] == "p1"
    assert answers[1]["Fault"]["Error"][0]["code"] == "6000"  # 20 > the 15 still open
    assert answers[2]["Payment"]["UnappliedAmt"] == 0 and answers[2]["Payment"]["SyncToken"] == "1"
    assert balance(company, "Invoice", inv) == Decimal("10.00")


def test_cdc_covers_invoices_payments_and_credit_memos_with_deletions(
    company: Company, clock: FakeClock
) -> None:
    inv = invoice(company, "25.00")
    memo = credit_memo(company, "5.00")
    since = clock.now.isoformat()
    clock.advance(minutes=1)
    company.create("Payment", payment("20.00", pay_line("20.00", inv)))
    gone = company.create("Payment", payment("3.00"))
    company.delete("Payment", {"Id": gone["Id"], "SyncToken": "0"})
    result = call(company, "GET", "cdc", entities="Invoice,Payment,CreditMemo", changedSince=since)
    groups = result.body["CDCResponse"][0]["QueryResponse"]
    assert [i["Balance"] for i in groups[0]["Invoice"]] == [Decimal("5.00")]
    assert [(p["Id"], p.get("status")) for p in groups[1]["Payment"]] == [
        ("1", None),
        ("2", "Deleted"),
    ]
    assert groups[2]["CreditMemo"][0]["Id"] == memo


def test_cdc_answers_at_most_1000_objects_shared_across_entities(
    company: Company, clock: FakeClock
) -> None:
    since = clock.now.isoformat()
    invoices = [invoice(company, "1.00") for _ in range(700)]
    for ident in invoices[:400]:
        company.create("Payment", payment("1.00", pay_line("1.00", ident)))
    groups = company.cdc("Invoice,Payment", since)[0]["QueryResponse"]
    assert len(groups[0]["Invoice"]) == 700 and groups[0]["maxResults"] == 700
    assert len(groups[1]["Payment"]) == 300  # 1000 in all


def test_cdc_further_back_than_30_days_is_refused_with_qbos_words(company: Company) -> None:
    too_old = (START - timedelta(days=30, minutes=1)).isoformat()
    result = call(
        company, "GET", "cdc", entities="Invoice,Payment,CreditMemo", changedSince=too_old
    )
    assert result.status == 400 and code(result) == "2010"
    assert (
        "which is older than fixed days is not supported"
        in result.body["Fault"]["Error"][0]["Detail"]
    )
    ok = (START - timedelta(days=29, hours=23)).isoformat()
    assert call(company, "GET", "cdc", entities="Payment", changedSince=ok).status == 200
