"""What QBO does to invoices and customers after they exist: no-op updates keep their SyncToken,
a company sales tax rate taxes TAX lines, and ``operation=void`` (docs/emulator-rules.md)."""

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
from quickbooks.objects.customer import Customer

from emulator.fake_clock import START, FakeClock
from qbsync.emulator import Emulator
from qbsync.emulator.api import ApiResult, handle_api
from qbsync.emulator.merge import merge_customers
from qbsync.emulator.seed import default_seed
from qbsync.emulator.store import Company, Fault

TIMEOUT = 5


def taxed_company(clock: FakeClock, rate: Any = "8.25") -> Company:
    seed = default_seed()
    seed["company"] = {**seed["company"], "sales_tax_rate": rate}
    return Company(seed, clock=clock)


def call(company: Company, method: str, subpath: str, body: Any = None, **params: str) -> ApiResult:
    raw = b"" if body is None else json.dumps(body).encode()
    return handle_api(company, method, subpath, params, raw)


def line(amount: str, tax: str = "NON", item: str = "2", **detail: Any) -> dict[str, Any]:
    return {
        "DetailType": "SalesItemLineDetail",
        "Amount": amount,
        "SalesItemLineDetail": {
            "ItemRef": {"value": item},
            "TaxCodeRef": {"value": tax},
            **detail,
        },
    }


def new_invoice(company: Company, *lines: dict[str, Any], **extra: Any) -> dict[str, Any]:
    body = {"CustomerRef": {"value": "1"}, "Line": list(lines) or [line("25.00")], **extra}
    return company.create("Invoice", body)


def fault_of(fn: Callable[..., Any], *args: Any) -> Fault:
    with pytest.raises(Fault) as info:
        fn(*args)
    return info.value


# -- no-op updates ---------------------------------------------------------------------------


def test_a_sparse_update_that_changes_nothing_keeps_sync_token_and_time(
    company: Company, clock: FakeClock
) -> None:
    before = company.read("Customer", "2")
    clock.advance(minutes=5)
    same = {"Id": "2", "SyncToken": "0", "sparse": True, "DisplayName": before["DisplayName"]}
    answer = company.update("Customer", same)
    assert answer["SyncToken"] == "0"
    assert answer["MetaData"] == before["MetaData"]
    assert company.read("Customer", "2") == before  # nothing stored
    # Not reported as a change: an incremental read since the create finds nothing.
    since = (START + timedelta(minutes=1)).isoformat()
    assert company.cdc("Customer", since)[0]["QueryResponse"] == [{}]
    # A real change still bumps both.
    changed = company.update("Customer", {**same, "Notes": "now different"})
    assert changed["SyncToken"] == "1"
    assert changed["MetaData"]["LastUpdatedTime"] == clock.now.isoformat()


def test_a_full_update_sending_back_what_was_read_changes_nothing(
    company: Company, clock: FakeClock
) -> None:
    created = new_invoice(company, line("25.00"), line("10.00", item="3"), PrivateNote="memo")
    clock.advance(hours=1)
    answer = company.update("Invoice", created)  # everything read, sent back (full update)
    assert answer["SyncToken"] == "0"
    assert answer["MetaData"]["LastUpdatedTime"] == created["MetaData"]["LastUpdatedTime"]
    assert company.read("Invoice", created["Id"]) == created
    # Dropping a line is a change.
    fewer = {**created, "Line": created["Line"][:1]}
    assert company.update("Invoice", fewer)["SyncToken"] == "1"


def test_a_python_quickbooks_save_of_an_unchanged_customer_keeps_its_sync_token(
    emulator: Emulator, qb: QuickBooks
) -> None:
    customer = Customer.get("2", qb=qb)
    token = customer.SyncToken
    customer.save(qb=qb)
    assert emulator.company.read("Customer", "2")["SyncToken"] == str(token)


# -- sales tax -------------------------------------------------------------------------------


def test_sales_tax_is_off_by_default(company: Company) -> None:
    created = new_invoice(company, line("10.00", tax="TAX"), line("5.00"))
    assert created["TxnTaxDetail"]["TotalTax"] == Decimal("0.00")
    assert created["TotalAmt"] == created["Balance"] == Decimal("15.00")
    prefs = call(company, "GET", "preferences").body["Preferences"]
    assert prefs["TaxPrefs"] == {"UsingSalesTax": False}


def test_a_company_rate_taxes_the_taxable_lines_rounded_half_up(clock: FakeClock) -> None:
    company = taxed_company(clock)
    created = new_invoice(company, line("10.00", tax="TAX"), line("5.00", tax="NON"))
    # 10.00 x 8.25 % = 0.825 -> 0.83 (half-up; half-even would give 0.82). NON lines untaxed.
    assert created["TxnTaxDetail"]["TotalTax"] == Decimal("0.83")
    assert created["TotalAmt"] == created["Balance"] == Decimal("15.83")
    subtotal = created["Line"][-1]
    assert subtotal["DetailType"] == "SubTotalLineDetail" and subtotal["Amount"] == Decimal("15.00")
    assert company.read("Customer", "1")["Balance"] == Decimal("15.83")
    prefs = call(company, "GET", "preferences").body["Preferences"]
    assert prefs["TaxPrefs"] == {"UsingSalesTax": True}
    # The tax follows the lines on update; a TotalTax sent by the client is not taken.
    update = {
        "Id": created["Id"],
        "SyncToken": "0",
        "sparse": True,
        "Line": [line("20.00", tax="TAX")],
        "TxnTaxDetail": {"TotalTax": "5.00"},
    }
    updated = company.update("Invoice", update)
    assert updated["TxnTaxDetail"]["TotalTax"] == Decimal("1.65")
    assert updated["TotalAmt"] == Decimal("21.65")


@pytest.mark.parametrize("rate", [-1, 101, "8.25%", True, "NaN", [8]])
def test_bad_sales_tax_rates_are_refused(clock: FakeClock, rate: Any) -> None:
    with pytest.raises(ValueError, match="sales_tax_rate"):
        taxed_company(clock, rate)


def test_admin_switches_sales_tax_on_and_off_and_it_survives_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "emu.json"
    with Emulator(limits=False, data=data) as emu:
        url = emu.base_url + "/_emulator/preferences"
        on = requests.post(url, json={"sales_tax_rate": 8.25}, timeout=TIMEOUT)
        assert on.status_code == 200 and on.json()["Preferences"]["TaxPrefs"]["UsingSalesTax"]
        bad = requests.post(url, json={"sales_tax_rate": "lots"}, timeout=TIMEOUT)
        assert bad.status_code == 400
        taxed = new_invoice(emu.company, line("10.00", tax="TAX"))
        assert taxed["TotalAmt"] == Decimal("10.83")
    with Emulator(limits=False, data=data) as emu:
        assert emu.company.prefs.sales_tax_rate == Decimal("8.25")
        emu.set_preferences(sales_tax_rate=None)
        assert new_invoice(emu.company, line("10.00", tax="TAX"))["TotalAmt"] == Decimal("10.00")
        emu.set_preferences(custom_txn_numbers=True)  # other changes leave the rate alone
        assert emu.company.prefs.sales_tax_rate is None


# -- void ------------------------------------------------------------------------------------


def test_void_zeroes_amounts_prepends_voided_and_bumps_the_sync_token(
    company: Company, clock: FakeClock
) -> None:
    created = new_invoice(
        company, line("30.00", Qty=3, UnitPrice=10), line("5.00"), PrivateNote="qbsync:i1 #N-1"
    )
    assert company.read("Customer", "1")["Balance"] == Decimal("35.00")
    clock.advance(minutes=1)
    result = call(
        company, "POST", "invoice", {"Id": created["Id"], "SyncToken": "0"}, operation="void"
    )
    assert result.status == 200
    voided = result.body["Invoice"]
    assert voided["SyncToken"] == "1"
    assert voided["MetaData"]["LastUpdatedTime"] == clock.now.isoformat()
    assert [ln["Amount"] for ln in voided["Line"]] == [0, 0, 0]  # both lines and the subtotal
    assert voided["Line"][0]["SalesItemLineDetail"]["Qty"] == 0
    assert voided["TotalAmt"] == voided["Balance"] == 0
    assert voided["TxnTaxDetail"]["TotalTax"] == 0
    assert voided["PrivateNote"] == "Voided - qbsync:i1 #N-1"
    assert voided["DocNumber"] == created["DocNumber"]  # the invoice stays, with its number
    assert company.read("Invoice", created["Id"]) == voided
    assert company.read("Customer", "1")["Balance"] == Decimal("0.00")


def test_void_without_a_note_says_voided(company: Company) -> None:
    created = new_invoice(company)
    voided = company.void("Invoice", {"Id": created["Id"], "SyncToken": "0"})
    assert voided["PrivateNote"] == "Voided"  # as captured (minimul/qbo_api void/invoice.yml)


def test_void_with_a_stale_sync_token_is_5010(company: Company) -> None:
    created = new_invoice(company)
    company.update(
        "Invoice", {"Id": created["Id"], "SyncToken": "0", "sparse": True, "PrivateNote": "edited"}
    )
    stale = call(
        company, "POST", "invoice", {"Id": created["Id"], "SyncToken": "0"}, operation="void"
    )
    assert stale.status == 400 and stale.body["Fault"]["Error"][0]["code"] == "5010"
    assert company.read("Invoice", created["Id"])["TotalAmt"] == Decimal("25.00")


def test_a_voided_invoice_cannot_be_modified_or_voided_again(company: Company) -> None:
    created = new_invoice(company)
    company.void("Invoice", {"Id": created["Id"], "SyncToken": "0"})
    change = {"Id": created["Id"], "SyncToken": "1", "sparse": True, "PrivateNote": "x"}
    refused = fault_of(company.update, "Invoice", change)
    assert refused.code == "6000" and "voided" in refused.detail
    again = fault_of(company.void, "Invoice", {"Id": created["Id"], "SyncToken": "1"})
    assert again.code == "6000"
    batch = call(
        company,
        "POST",
        "batch",
        {"BatchItemRequest": [{"bId": "b1", "operation": "update", "Invoice": change}]},
    )
    assert batch.body["BatchItemResponse"][0]["Fault"]["Error"][0]["code"] == "6000"
    stored = company.read("Invoice", created["Id"])
    assert stored["SyncToken"] == "1" and stored["PrivateNote"] == "Voided"
    # It can still be deleted (QBO keeps it otherwise).
    company.delete("Invoice", {"Id": created["Id"], "SyncToken": "1"})
    assert company.count("Invoice") == 0


def test_void_is_for_invoices_and_single_requests_only(company: Company) -> None:
    created = new_invoice(company)
    on_customer = call(company, "POST", "customer", {"Id": "2", "SyncToken": "0"}, operation="void")
    assert on_customer.status == 400
    assert on_customer.body["Fault"]["Error"][0]["code"] == "500"
    item = {"bId": "v1", "operation": "void", "Invoice": {"Id": created["Id"], "SyncToken": "0"}}
    batch = call(company, "POST", "batch", {"BatchItemRequest": [item]})
    assert batch.body["BatchItemResponse"][0]["Fault"]["Error"][0]["code"] == "500"
    assert company.read("Invoice", created["Id"])["TotalAmt"] == Decimal("25.00")


def test_a_void_replays_by_requestid_and_survives_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "emu.json"
    with Emulator(limits=False, data=data) as emu:
        created = new_invoice(emu.company)
        body = {"Id": created["Id"], "SyncToken": "0"}
        first = call(emu.company, "POST", "invoice", body, operation="void", requestid="v-1")
        again = call(emu.company, "POST", "invoice", body, operation="void", requestid="v-1")
        assert first.status == again.status == 200 and first.body == again.body
        emu.save()
    with Emulator(limits=False, data=data) as emu:
        change = {"Id": created["Id"], "SyncToken": "1", "sparse": True, "PrivateNote": "x"}
        assert fault_of(emu.company.update, "Invoice", change).code == "6000"


def test_merging_moves_voided_invoices_too(company: Company) -> None:
    created = new_invoice(company)
    company.void("Invoice", {"Id": created["Id"], "SyncToken": "0"})
    merge_customers(company, "1", "2")
    assert company.read("Invoice", created["Id"])["CustomerRef"]["value"] == "2"
