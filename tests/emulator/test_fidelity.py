"""QBO behaviours added for fidelity (docs/emulator-rules.md): one Id sequence for names, 2050
string lengths, Balance and "Delete List Has Balance Error", comma-separated emails, requestid
length messages, Preferences and invoice numbering. Called directly (no HTTP)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from qbsync.emulator.api import ApiResult, handle_api
from qbsync.emulator.merge import merge_customers
from qbsync.emulator.seed import default_seed
from qbsync.emulator.store import Company, Fault

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def company() -> Company:
    return Company(default_seed(), clock=lambda: NOW)


def fault_of(call: Any, *args: Any) -> Fault:
    with pytest.raises(Fault) as info:
        call(*args)
    return info.value


def invoice(customer: str = "1", amount: Any = "25.00", **extra: Any) -> dict[str, Any]:
    line = {
        "DetailType": "SalesItemLineDetail",
        "Amount": amount,
        "Description": "Mailbox rental",
        "SalesItemLineDetail": {"ItemRef": {"value": "2"}, "TaxCodeRef": {"value": "NON"}},
    }
    return {"CustomerRef": {"value": customer}, "Line": [line], **extra}


def call(company: Company, method: str, subpath: str, body: Any = None, **params: str) -> ApiResult:
    raw = b"" if body is None else json.dumps(body).encode()
    return handle_api(company, method, subpath, params, raw)


# -- 1. one Id sequence for Customer, Vendor and Employee ---------------------------------------


def test_customer_vendor_employee_ids_share_one_sequence(company: Company) -> None:
    dump = company.dump()
    ids = [r["Id"] for e in ("Customer", "Vendor", "Employee") for r in dump[e]]
    assert ids == ["1", "2", "3", "4", "5"]
    vendor = company.create("Vendor", {"DisplayName": "Paper Co"})
    customer = company.create("Customer", {"DisplayName": "New Member"})
    employee = company.create("Employee", {"DisplayName": "New Clerk"})
    assert (vendor["Id"], customer["Id"], employee["Id"]) == ("6", "7", "8")
    # Items and invoices keep their own sequences.
    assert company.create("Invoice", invoice())["Id"] == "1"


def test_invoice_naming_a_vendors_id_as_customer_is_refused(company: Company) -> None:
    vendor = company.create("Vendor", {"DisplayName": "Paper Co"})
    assert company.get_row("Customer", vendor["Id"]) is None
    fault = fault_of(company.create, "Invoice", invoice(customer=vendor["Id"]))
    unknown = fault_of(company.create, "Invoice", invoice(customer="999"))
    # Refused exactly as a CustomerRef naming no customer at all.
    assert fault.code == unknown.code == "610"
    assert f"Customer {vendor['Id']} not found" in fault.detail
    assert company.count("Invoice") == 0


def test_seed_ids_may_not_collide_across_names(company: Company) -> None:
    seed = default_seed()
    seed["Vendor"] = [{"Id": "1", "DisplayName": "Clash Supplies"}]
    with pytest.raises(ValueError, match="one sequence"):
        Company(seed, clock=lambda: NOW)


# -- 2. string lengths: 2050 with QBO's Detail ---------------------------------------------------


@pytest.mark.parametrize(
    ("entity", "field", "limit"),
    [
        ("Customer", "DisplayName", 500),
        ("Customer", "GivenName", 100),
        ("Customer", "FamilyName", 100),
        ("Customer", "MiddleName", 100),
        ("Customer", "CompanyName", 100),
        ("Customer", "Title", 16),
        ("Customer", "Suffix", 16),
        ("Customer", "Notes", 2000),
        ("Vendor", "DisplayName", 500),
        ("Employee", "GivenName", 100),
    ],
)
def test_names_over_their_limit_are_2050(
    company: Company, entity: str, field: str, limit: int
) -> None:
    fault = fault_of(company.create, entity, {"DisplayName": "Long One", field: "y" * (limit + 1)})
    assert fault.code == "2050"
    assert (
        fault.message == "String length is either shorter or longer than supported by specification"
    )
    assert fault.detail.endswith(f"Min:0 Max:{limit} supported. Supplied length:{limit + 1}")
    assert fault.element == field


def test_email_over_100_is_2050(company: Company) -> None:
    address = "a" * 95 + "@b.com"
    fault = fault_of(
        company.create, "Customer", {"DisplayName": "E", "PrimaryEmailAddr": {"Address": address}}
    )
    assert fault.code == "2050" and fault.element == "PrimaryEmailAddr.Address"
    assert fault.detail.endswith("Min:0 Max:100 supported. Supplied length:101")


def _long_line_description(n: int) -> dict[str, Any]:
    data = invoice()
    data["Line"][0]["Description"] = "d" * n
    return data


def _long_description_only(n: int) -> dict[str, Any]:
    data = invoice()
    data["Line"].append({"DetailType": "DescriptionOnly", "Description": "d" * n})
    return data


@pytest.mark.parametrize(
    ("make", "element", "limit"),
    [
        (lambda n: invoice(DocNumber="9" * n), "DocNumber", 21),
        (lambda n: invoice(PrivateNote="p" * n), "PrivateNote", 4000),
        (lambda n: invoice(CustomerMemo={"value": "m" * n}), "CustomerMemo", 1000),
        (_long_line_description, "Line[0].Description", 4000),
        (_long_description_only, "Line[1].Description", 4000),
    ],
)
def test_invoice_texts_over_their_limit_are_2050(
    company: Company, make: Any, element: str, limit: int
) -> None:
    assert company.create("Invoice", make(limit))["TotalAmt"] == Decimal("25.00")
    fault = fault_of(company.create, "Invoice", make(limit + 1))
    assert fault.code == "2050" and fault.element == element
    assert fault.detail.endswith(f"Min:0 Max:{limit} supported. Supplied length:{limit + 1}")


def test_item_name_over_100_is_2050(company: Company) -> None:
    fault = fault_of(
        company.create, "Item", {"Name": "n" * 101, "IncomeAccountRef": {"value": "1"}}
    )
    assert fault.code == "2050" and fault.element == "Name"


# -- 3. Balance, and no inactive customer with a balance ------------------------------------------


def test_invoices_add_to_the_customers_balance_and_balance_with_jobs(company: Company) -> None:
    assert company.read("Customer", "2")["Balance"] == Decimal("0.00")
    company.create("Invoice", invoice(customer="2", amount="40.00"))
    company.create("Invoice", invoice(customer="2", amount="2.50"))
    read = company.read("Customer", "2")
    assert read["Balance"] == read["BalanceWithJobs"] == Decimal("42.50")


def test_a_customer_with_a_balance_cannot_be_made_inactive(company: Company) -> None:
    company.create("Invoice", invoice(customer="2", amount="40.00"))
    for sparse in (True, False):
        data = {"Id": "2", "SyncToken": "0", "DisplayName": "Northside Books", "Active": False}
        fault = fault_of(company.update, "Customer", {**data, "sparse": sparse})
        assert fault.code == "6000"
        assert fault.message == "Delete List Has Balance Error"
        assert "non-zero balance" in fault.detail
    still = company.read("Customer", "2")
    assert still["Active"] is True and still["DisplayName"] == "Northside Books"


def test_a_customer_whose_invoices_are_gone_can_be_made_inactive(company: Company) -> None:
    made = company.create("Invoice", invoice(customer="2", amount="40.00"))
    company.delete("Invoice", {"Id": made["Id"], "SyncToken": "0"})
    done = company.update(
        "Customer", {"Id": "2", "SyncToken": "0", "sparse": True, "Active": False}
    )
    assert done["Active"] is False and done["DisplayName"] == "Northside Books (deleted)"


# -- 6. several comma-separated addresses ---------------------------------------------------------


def test_comma_separated_addresses_are_kept_whole(company: Company) -> None:
    both = "ann@example.com, bob@example.org"
    made = company.create("Customer", {"DisplayName": "Two", "PrimaryEmailAddr": {"Address": both}})
    assert made["PrimaryEmailAddr"]["Address"] == both
    # A query compares the whole stored string: one member of the list does not match it.
    assert company.query("select * from Customer where PrimaryEmailAddr = 'ann@example.com'") == {}
    found = company.query(f"select * from Customer where PrimaryEmailAddr = '{both}'")
    assert [c["Id"] for c in found["Customer"]] == [made["Id"]]


@pytest.mark.parametrize(
    "address", ["ann@example.com, bob-at-example.org", "ann@example.com,bob@example", "a@b.c,"]
)
def test_each_comma_separated_address_needs_at_and_dot(company: Company, address: str) -> None:
    fault = fault_of(
        company.create, "Customer", {"DisplayName": "Bad", "PrimaryEmailAddr": {"Address": address}}
    )
    assert fault.code == "2010" and fault.element == "PrimaryEmailAddr.Address"


# -- 7. requestid length --------------------------------------------------------------------------


def test_requestid_over_50_is_6000_with_qbos_message(company: Company) -> None:
    result = call(company, "POST", "customer", {"DisplayName": "L51"}, requestid="x" * 51)
    assert result.status == 400
    error = result.body["Fault"]["Error"][0]
    assert error["code"] == "6000"
    assert "You cannot enter more than 50 characters in the request_id field" in error["Detail"]
    assert company.count("Customer") == 3


def test_batch_requestid_over_36_is_6000(company: Company) -> None:
    body = {"BatchItemRequest": [{"bId": "1", "Query": "select count(*) from Item"}]}
    result = call(company, "POST", "batch", body, requestid="y" * 37)
    error = result.body["Fault"]["Error"][0]
    assert result.status == 400 and error["code"] == "6000"
    assert "more than 36 characters in the request_id field" in error["Detail"]


# -- 5. Preferences and invoice numbering ---------------------------------------------------------


def test_preferences_shape_and_defaults(company: Company) -> None:
    result = call(company, "GET", "preferences")
    assert result.status == 200
    prefs = result.body["Preferences"]
    assert prefs["SalesFormsPrefs"]["CustomTxnNumbers"] is False  # QBO's default: off
    assert prefs["CurrencyPrefs"] == {
        "MultiCurrencyEnabled": False,
        "HomeCurrency": {"value": "USD"},
    }
    assert prefs["Id"] == "1" and prefs["SyncToken"] == "0" and "time" in result.body
    queried = call(company, "GET", "query", query="select * from Preferences").body
    assert queried["QueryResponse"]["Preferences"] == [prefs]


def test_preferences_come_from_the_seed() -> None:
    seed = default_seed()
    seed["company"] = {
        **seed["company"],
        "custom_txn_numbers": True,
        "home_currency": "CAD",
        "multi_currency": True,
    }
    prefs = Company(seed, clock=lambda: NOW).preferences()
    assert prefs["SalesFormsPrefs"]["CustomTxnNumbers"] is True
    assert prefs["CurrencyPrefs"] == {
        "MultiCurrencyEnabled": True,
        "HomeCurrency": {"value": "CAD"},
    }
    assert "home_currency" not in Company(seed, clock=lambda: NOW).company_info()


@pytest.mark.parametrize(
    ("key", "value"),
    [("custom_txn_numbers", "yes"), ("home_currency", "usd"), ("multi_currency", 1)],
)
def test_bad_preference_seed_values_are_refused(key: str, value: Any) -> None:
    seed = default_seed()
    seed["company"] = {**seed["company"], key: value}
    with pytest.raises(ValueError, match=f"company.{key}"):
        Company(seed, clock=lambda: NOW)


def test_set_preferences_flips_numbering_at_run_time(company: Company) -> None:
    assert company.create("Invoice", invoice())["DocNumber"] == "1001"
    prefs = company.set_preferences(custom_txn_numbers=True)
    assert prefs["SalesFormsPrefs"]["CustomTxnNumbers"] is True and prefs["SyncToken"] == "1"
    assert company.preferences()["SalesFormsPrefs"]["CustomTxnNumbers"] is True
    # On: no number when none is sent; the sent one is kept; a repeat is 6140 naming the holder.
    assert "DocNumber" not in company.create("Invoice", invoice())
    kept = company.create("Invoice", invoice(DocNumber="1234"))
    assert kept["DocNumber"] == "1234"
    dup = fault_of(company.create, "Invoice", invoice(DocNumber="1234"))
    assert dup.code == "6140" and dup.message == "Duplicate Document Number Error"
    assert f"DocNumber=1234 is assigned to TxnType=Invoice with TxnId={kept['Id']}" in dup.detail
    # Off again: QBO numbers it, skipping numbers in use; a sent one is kept even if repeated.
    company.set_preferences(custom_txn_numbers=False)
    assert company.create("Invoice", invoice())["DocNumber"] == "1002"
    assert company.create("Invoice", invoice(DocNumber="1234"))["DocNumber"] == "1234"
    with pytest.raises(ValueError):
        company.set_preferences(custom_txn_numbers="on")
    company.reset()  # back to the seed's settings
    assert company.preferences()["SalesFormsPrefs"]["CustomTxnNumbers"] is False


# -- 9. what the sync engine relies on: batch create/update, settling queries, CDC ----------------


def _line() -> dict[str, Any]:
    return {
        "DetailType": "SalesItemLineDetail",
        "Amount": "25.00",
        "SalesItemLineDetail": {"ItemRef": {"value": "2"}, "TaxCodeRef": {"value": "NON"}},
    }


def test_batch_creates_and_sparse_updates_customers_and_invoices(company: Company) -> None:
    body = {
        "BatchItemRequest": [
            {"bId": "c1", "operation": "create", "Customer": {"DisplayName": "Batch Member"}},
            {
                "bId": "i1",
                "operation": "create",
                "Invoice": {"CustomerRef": {"value": "1"}, "Line": [_line()], "DocNumber": "B-1"},
            },
            {
                "bId": "u1",
                "operation": "update",
                "Customer": {"Id": "2", "SyncToken": "0", "sparse": True, "Notes": "vip"},
            },
        ]
    }
    answers = call(company, "POST", "batch", body).body["BatchItemResponse"]
    assert [a["bId"] for a in answers] == ["c1", "i1", "u1"]
    assert answers[0]["Customer"]["DisplayName"] == "Batch Member"
    invoice_id = answers[1]["Invoice"]["Id"]
    assert answers[2]["Customer"]["Notes"] == "vip"
    assert answers[2]["Customer"]["CompanyName"] == "Northside Books LLC"  # sparse kept it
    update = {
        "BatchItemRequest": [
            {
                "bId": "u2",
                "operation": "update",
                "Invoice": {"Id": invoice_id, "SyncToken": "0", "sparse": True, "PrivateNote": "n"},
            },
            {
                "bId": "u3",
                "operation": "update",
                "Invoice": {"Id": invoice_id, "SyncToken": "0", "sparse": True, "PrivateNote": "x"},
            },
        ]
    }
    second = call(company, "POST", "batch", update).body["BatchItemResponse"]
    assert second[0]["bId"] == "u2" and second[0]["Invoice"]["PrivateNote"] == "n"
    assert second[0]["Invoice"]["DocNumber"] == "B-1" and second[0]["Invoice"]["SyncToken"] == "1"
    assert second[1]["bId"] == "u3" and second[1]["Fault"]["Error"][0]["code"] == "5010"


def test_queries_that_settle_an_unclear_invoice_create(company: Company) -> None:
    made = company.create(
        "Invoice", {"CustomerRef": {"value": "1"}, "Line": [_line()], "TxnDate": "2026-01-05"}
    )
    company.create(
        "Invoice", {"CustomerRef": {"value": "2"}, "Line": [_line()], "TxnDate": "2026-01-05"}
    )
    by_number = company.query(f"select * from Invoice where DocNumber = '{made['DocNumber']}'")
    assert [i["Id"] for i in by_number["Invoice"]] == [made["Id"]]
    by_customer_and_date = company.query(
        "select * from Invoice where CustomerRef = '1' and TxnDate = '2026-01-05'"
    )
    assert [i["Id"] for i in by_customer_and_date["Invoice"]] == [made["Id"]]
    assert (
        company.query("select * from Invoice where CustomerRef = '1' and TxnDate = '2026-01-06'")
        == {}
    )


def test_incremental_customer_query_includes_inactive_ones() -> None:
    clock = {"now": NOW}
    company = Company(default_seed(), clock=lambda: clock["now"])
    clock["now"] = datetime(2026, 3, 11, 9, 0, tzinfo=UTC)
    company.update("Customer", {"Id": "2", "SyncToken": "0", "sparse": True, "Active": False})
    company.create("Customer", {"DisplayName": "Joined Later"})
    text = (
        "select * from Customer where MetaData.LastUpdatedTime > '2026-03-11T00:00:00Z' "
        "and Active IN (true,false)"
    )
    found = company.query(text)["Customer"]
    assert [(c["DisplayName"], c["Active"]) for c in found] == [
        ("Northside Books (deleted)", False),
        ("Joined Later", True),
    ]
    active_only = "select * from Customer where MetaData.LastUpdatedTime > '2026-03-11T00:00:00Z'"
    assert [c["DisplayName"] for c in company.query(active_only)["Customer"]] == ["Joined Later"]


def test_cdc_reports_inactive_and_merged_away_customers() -> None:
    clock = {"now": NOW}
    company = Company(default_seed(), clock=lambda: clock["now"])
    moved = company.create("Invoice", {"CustomerRef": {"value": "2"}, "Line": [_line()]})
    clock["now"] = datetime(2026, 3, 11, 9, 0, tzinfo=UTC)
    company.update("Customer", {"Id": "3", "SyncToken": "0", "sparse": True, "Notes": "x"})
    made = company.create("Customer", {"DisplayName": "Duplicate Books"})
    inactive = company.create("Customer", {"DisplayName": "Leaving Member"})
    company.update(
        "Customer", {"Id": inactive["Id"], "SyncToken": "0", "sparse": True, "Active": False}
    )
    kept = merge_customers(company, "2", made["Id"])
    assert kept["Balance"] == Decimal("25.00")  # the merged-away customer's invoice moved
    assert company.read("Invoice", moved["Id"])["CustomerRef"] == {
        "value": made["Id"],
        "name": "Duplicate Books",
    }
    with pytest.raises(Fault):
        company.read("Customer", "2")
    answer = call(
        company, "GET", "cdc", entities="Customer,Invoice", changedSince="2026-03-11T00:00:00Z"
    ).body
    customers, invoices = answer["CDCResponse"][0]["QueryResponse"]
    by_id = {c["Id"]: c for c in customers["Customer"]}
    assert by_id["3"]["Active"] is False  # the seed's inactive customer, updated
    assert by_id[inactive["Id"]]["Active"] is False
    assert by_id[inactive["Id"]]["DisplayName"] == "Leaving Member (deleted)"
    assert by_id["2"] == {
        "Id": "2",
        "status": "Deleted",
        "domain": "QBO",
        "MetaData": {"LastUpdatedTime": "2026-03-11T09:00:00+00:00"},
    }
    assert [i["Id"] for i in invoices["Invoice"]] == [moved["Id"]]


def test_merge_refuses_unknown_same_or_inactive_customers(company: Company) -> None:
    for source, into in (("1", "99"), ("99", "1"), ("1", "1"), ("1", "3")):
        with pytest.raises(ValueError):
            merge_customers(company, source, into)
    assert company.count("Customer") == 3
