"""Closed books (6210, Preferences AccountingInfoPrefs.BookCloseDate) and deposited payments
(6540) through the API and the accountant (docs/emulator-rules.md "Closed books and deposits")."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from qbsync.emulator import Emulator
from qbsync.emulator.api import ApiResult, handle_api
from qbsync.emulator.seed import default_seed
from qbsync.emulator.store import Company

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)  # the company's today: 2026-03-10
TIMEOUT = 5


@pytest.fixture
def company() -> Company:
    return Company(default_seed(), clock=lambda: NOW)


def call(company: Company, method: str, subpath: str, body: Any = None, **params: str) -> ApiResult:
    raw = b"" if body is None else json.dumps(body).encode()
    return handle_api(company, method, subpath, params, raw)


def fault(result: ApiResult) -> dict[str, Any]:
    assert result.status == 400, result.body
    error: dict[str, Any] = result.body["Fault"]["Error"][0]
    return error


def line(amount: str = "25.00") -> dict[str, Any]:
    return {
        "DetailType": "SalesItemLineDetail",
        "Amount": amount,
        "SalesItemLineDetail": {"ItemRef": {"value": "2"}, "TaxCodeRef": {"value": "NON"}},
    }


def invoice(company: Company, day: str, amount: str = "25.00") -> dict[str, Any]:
    body = {"CustomerRef": {"value": "1"}, "Line": [line(amount)], "TxnDate": day}
    return company.create("Invoice", body)


def pay(company: Company, invoice_id: str, day: str, **extra: Any) -> dict[str, Any]:
    body = {
        "CustomerRef": {"value": "1"},
        "TotalAmt": "10.00",
        "TxnDate": day,
        "Line": [{"Amount": "10.00", "LinkedTxn": [{"TxnId": invoice_id, "TxnType": "Invoice"}]}],
        **extra,
    }
    return company.create("Payment", body)


# -- Preferences ------------------------------------------------------------------------------


def test_book_close_date_is_in_preferences_from_seed_and_at_run_time() -> None:
    seed = default_seed()
    seed["company"] = {**seed.get("company", {}), "book_close_date": "2025-12-31"}
    company = Company(seed, clock=lambda: NOW)
    prefs = call(company, "GET", "preferences").body["Preferences"]
    assert prefs["AccountingInfoPrefs"] == {"BookCloseDate": "2025-12-31"}
    token = prefs["SyncToken"]
    company.set_preferences(book_close_date=None)
    prefs = call(company, "GET", "preferences").body["Preferences"]
    assert prefs["AccountingInfoPrefs"] == {} and int(prefs["SyncToken"]) == int(token) + 1
    for bad in ("2025-13-01", "20251231", 20251231, "31/12/2025"):
        with pytest.raises(ValueError, match="book_close_date"):
            company.set_preferences(book_close_date=bad)
    assert company.prefs.book_close_date is None
    # A restart with --data keeps it (export_state / import_state).
    company.set_preferences(book_close_date="2026-01-31")
    again = Company(default_seed(), clock=lambda: NOW)
    again.import_state(company.export_state())
    assert again.prefs.book_close_date == "2026-01-31"


def test_admin_closes_and_reopens_the_books(emulator: Emulator) -> None:
    url = f"{emulator.base_url}/_emulator/preferences"
    answer = requests.post(url, json={"book_close_date": "2026-02-28"}, timeout=TIMEOUT)
    assert answer.status_code == 200, answer.text
    assert answer.json()["Preferences"]["AccountingInfoPrefs"]["BookCloseDate"] == "2026-02-28"
    assert emulator.company.prefs.book_close_date == "2026-02-28"
    bad = requests.post(url, json={"book_close_date": "soon"}, timeout=TIMEOUT)
    assert bad.status_code == 400 and "book_close_date" in bad.text
    assert requests.post(url, json={"book_close_date": None}, timeout=TIMEOUT).ok
    assert emulator.company.prefs.book_close_date is None


# -- 6210: the closed period ------------------------------------------------------------------


def test_a_transaction_dated_in_the_closed_period_cannot_be_created(company: Company) -> None:
    company.set_preferences(book_close_date="2026-02-28")
    before = company.count("Invoice")
    for day in ("2026-02-28", "2025-06-01"):
        error = fault(
            call(
                company,
                "POST",
                "invoice",
                {"CustomerRef": {"value": "1"}, "Line": [line()], "TxnDate": day},
            )
        )
        assert error["code"] == "6210" and error["Message"] == "Account Period Closed"
        assert error["Detail"].startswith("The account period has closed and the account books")
        assert error["element"] == "TxnDate"
    assert company.count("Invoice") == before
    memo = {"CustomerRef": {"value": "1"}, "Line": [line()], "TxnDate": "2026-01-05"}
    assert fault(call(company, "POST", "creditmemo", memo))["code"] == "6210"
    assert company.count("CreditMemo") == 0
    # The day after the close date, and today by default, are open.
    assert (
        call(company, "POST", "invoice", {"CustomerRef": {"value": "1"}, "Line": [line()]}).status
        == 200
    )
    assert invoice(company, "2026-03-01")["TxnDate"] == "2026-03-01"


def test_closed_period_transactions_cannot_be_updated_voided_or_deleted(company: Company) -> None:
    old = invoice(company, "2026-02-10")
    new = invoice(company, "2026-03-05")
    paid = invoice(company, "2026-02-11")
    payment = pay(company, paid["Id"], "2026-02-12")
    company.set_preferences(book_close_date="2026-02-28")
    token = {"Id": old["Id"], "SyncToken": old["SyncToken"]}
    attempts = [
        call(company, "POST", "invoice", {**token, "sparse": True, "PrivateNote": "late fix"}),
        call(company, "POST", "invoice", token, operation="void"),
        call(company, "POST", "invoice", token, operation="delete"),
        # Moving an open invoice into the closed period is refused too.
        call(
            company,
            "POST",
            "invoice",
            {
                "Id": new["Id"],
                "SyncToken": new["SyncToken"],
                "sparse": True,
                "TxnDate": "2026-02-01",
            },
        ),
        call(
            company,
            "POST",
            "payment",
            {"Id": payment["Id"], "SyncToken": payment["SyncToken"], "sparse": True},
            operation="update",
            include="void",
        ),
        call(
            company,
            "POST",
            "payment",
            {"Id": payment["Id"], "SyncToken": payment["SyncToken"]},
            operation="delete",
        ),
    ]
    assert [fault(a)["code"] for a in attempts] == ["6210"] * 6
    # Nothing changed: same versions, same amounts, nothing voided or deleted.
    assert company.read("Invoice", old["Id"])["SyncToken"] == old["SyncToken"]
    assert "PrivateNote" not in company.read("Invoice", old["Id"])
    assert not company.is_voided("Invoice", old["Id"])
    assert company.read("Invoice", new["Id"])["TxnDate"] == "2026-03-05"
    assert company.read("Payment", payment["Id"])["TotalAmt"] == payment["TotalAmt"]
    assert str(company.read("Invoice", paid["Id"])["Balance"]) == "15.00"
    # In a batch item too, and the open invoice can still change.
    batch = call(
        company,
        "POST",
        "batch",
        {
            "BatchItemRequest": [
                {
                    "bId": "1",
                    "operation": "update",
                    "Invoice": {**token, "sparse": True, "DueDate": "2026-04-01"},
                },
                {
                    "bId": "2",
                    "operation": "update",
                    "Invoice": {
                        "Id": new["Id"],
                        "SyncToken": new["SyncToken"],
                        "sparse": True,
                        "DueDate": "2026-04-01",
                    },
                },
            ]
        },
    ).body["BatchItemResponse"]
    assert batch[0]["Fault"]["Error"][0]["code"] == "6210"
    assert batch[1]["Invoice"]["DueDate"] == "2026-04-01"
    # Reopened, the same void goes through.
    company.set_preferences(book_close_date=None)
    assert call(company, "POST", "invoice", token, operation="void").status == 200


def test_a_payment_today_for_an_invoice_in_the_closed_period_is_taken(company: Company) -> None:
    # Only the transaction's own date counts: receiving money today for an old invoice is open.
    old = invoice(company, "2026-02-10")
    company.set_preferences(book_close_date="2026-02-28")
    payment = pay(company, old["Id"], "2026-03-10")
    assert (
        payment["TotalAmt"] == 10 and str(company.read("Invoice", old["Id"])["Balance"]) == "15.00"
    )


# -- 6540: deposited payments -----------------------------------------------------------------


def test_a_payment_deposited_to_a_bank_account_cannot_be_changed(company: Company) -> None:
    target = invoice(company, "2026-03-01")
    bank = {"value": "35", "name": "Checking"}
    payment = pay(company, target["Id"], "2026-03-02", DepositToAccountRef=bank)
    assert payment["DepositToAccountRef"] == bank
    token = {"Id": payment["Id"], "SyncToken": payment["SyncToken"]}
    attempts = [
        call(company, "POST", "payment", {**token, "sparse": True, "PaymentRefNum": "X"}),
        call(
            company,
            "POST",
            "payment",
            {**token, "sparse": True},
            operation="update",
            include="void",
        ),
        call(company, "POST", "payment", token, operation="delete"),
    ]
    for attempt in attempts:
        error = fault(attempt)
        assert error["code"] == "6540"
        assert error["Message"] == "Deposited Transaction cannot be changed"
        assert error["Detail"].startswith("This transaction is part of a deposit.")
    stored = company.read("Payment", payment["Id"])
    assert stored["SyncToken"] == payment["SyncToken"] and "PaymentRefNum" not in stored
    assert not company.is_voided("Payment", payment["Id"])
    assert str(company.read("Invoice", target["Id"])["Balance"]) == "15.00"


def test_the_accountants_deposit_freezes_a_payment_from_undeposited_funds(
    emulator: Emulator,
) -> None:
    company = emulator.company
    target = invoice(company, company.today())
    payment = pay(company, target["Id"], company.today())
    assert payment["DepositToAccountRef"]["name"] == "Undeposited Funds"
    # Still in Undeposited Funds: a change goes through.
    changed = company.update(
        "Payment",
        {
            "Id": payment["Id"],
            "SyncToken": payment["SyncToken"],
            "sparse": True,
            "PaymentRefNum": "A1",
        },
    )
    answer = requests.post(
        f"{emulator.base_url}/_emulator/payments/deposit",
        json={"id": payment["Id"]},
        timeout=TIMEOUT,
    )
    assert answer.status_code == 200, answer.text
    deposited = answer.json()["Payment"]
    assert deposited["DepositToAccountRef"] == {"value": "35", "name": "Checking"}
    assert int(deposited["SyncToken"]) == int(changed["SyncToken"]) + 1
    assert deposited["Line"] == changed["Line"]  # the links stay
    refused = call(
        company,
        "POST",
        "payment",
        {"Id": payment["Id"], "SyncToken": deposited["SyncToken"], "sparse": True},
        operation="update",
        include="void",
    )
    assert fault(refused)["code"] == "6540"
    again = requests.post(
        f"{emulator.base_url}/_emulator/payments/deposit",
        json={"id": payment["Id"]},
        timeout=TIMEOUT,
    )
    assert again.status_code == 400 and "already deposited" in again.text
    with pytest.raises(ValueError, match="Undeposited Funds"):
        emulator.deposit_payment(pay(company, target["Id"], company.today())["Id"], {"value": "4"})
    # The product's own delete of the invoice still leaves the deposited payment unapplied.
    emulator.delete_invoice(target["Id"])
    assert company.read("Payment", payment["Id"])["UnappliedAmt"] == 10
