"""Company: one realm's entities and QBO's rules, called directly (no HTTP, no routing)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from emulator.fake_clock import START, FakeClock
from qbsync.emulator.seed import default_seed
from qbsync.emulator.store import Company, Fault


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


# -- seed --------------------------------------------------------------------------------------


def test_default_seed_loads_with_ids_tokens_and_metadata(company: Company) -> None:
    dump = company.dump()
    assert [c["Id"] for c in dump["Customer"]] == ["1", "2", "3"]
    assert [i["Name"] for i in dump["Item"]] == [
        "Services",
        "Mailbox Rental",
        "Mail Forwarding",
        "Membership Fee",
    ]
    assert {t["Id"] for t in dump["TaxCode"]} == {"TAX", "NON"}
    first = dump["Customer"][0]
    assert first["SyncToken"] == "0"
    assert first["domain"] == "QBO" and first["sparse"] is False
    assert first["MetaData"]["CreateTime"] == START.isoformat()
    inactive = [c for c in dump["Customer"] if not c["Active"]]
    assert len(inactive) == 1 and inactive[0]["DisplayName"].endswith(" (deleted)")
    # Seed floats become exact Decimals.
    assert dump["Item"][1]["UnitPrice"] == Decimal("25.0")
    assert company.count("Vendor") == 1 and company.count("Employee") == 1


def test_partial_seed_means_empty_lists_and_defaults(clock: FakeClock) -> None:
    company = Company({}, clock=clock)
    assert company.count("Customer") == 0
    assert company.realm_id.isdigit()
    assert company.company_info()["Country"] == "US"
    created = company.create("Customer", {"DisplayName": "First"})
    assert created["Id"] == "1"


def test_bad_seed_shape_is_a_value_error(clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="Customer"):
        Company({"Customer": {"DisplayName": "x"}}, clock=clock)
    with pytest.raises(ValueError, match="company"):
        Company({"company": ["x"]}, clock=clock)


def test_utc_offset_setting_stamps_local_times(clock: FakeClock) -> None:
    company = Company({"utc_offset": "-08:00"}, clock=clock)
    made = company.create("Customer", {"DisplayName": "Pacific"})
    assert made["MetaData"]["CreateTime"] == "2026-03-10T15:30:00-08:00"
    # 23:30 UTC is still the 10th in UTC, and the 10th in Pacific time too; an hour later
    # UTC is on the 11th while the company's today is the 10th.
    clock.advance(hours=1)
    assert company.today() == "2026-03-10"


@pytest.mark.parametrize(
    "seed",
    [
        {"Customer": [{"DisplayName": "Same"}], "Vendor": [{"DisplayName": "same"}]},
        {"Customer": [{"GivenName": "Bad:Name"}]},
        {"Item": [{"Description": "no name"}]},
        {"Customer": [{"DisplayName": "A"}], "Invoice": [{"CustomerRef": {"value": "1"}}]},
    ],
)
def test_seed_records_follow_the_rules(clock: FakeClock, seed: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Company(seed, clock=clock)


def test_seed_invoices_are_computed(clock: FakeClock) -> None:
    seed = default_seed() | {"Invoice": [invoice(amount=12.5)]}
    company = Company(seed, clock=clock)
    assert company.read("Invoice", "1")["TotalAmt"] == Decimal("12.50")
    assert company.read("Customer", "1")["Balance"] == Decimal("12.50")


def test_company_info_hides_emulator_settings(company: Company) -> None:
    info = company.company_info()
    assert info["CompanyName"] == "Sunrise Mailbox Co (emulated)"
    assert "custom_txn_numbers" not in info
    assert info["Id"] == "1"


def test_reset_goes_back_to_seed_and_empties_requestids(company: Company) -> None:
    company.create("Customer", {"DisplayName": "Temp"})
    company.requestids["abc"] = object()
    company.reset()
    assert company.count("Customer") == 3
    assert company.requestids == {}
    # Customers 1-3, vendor 4, employee 5 share one sequence: the next Id is 6.
    assert company.create("Customer", {"DisplayName": "Again"})["Id"] == "6"


# -- customers ---------------------------------------------------------------------------------


def test_create_customer_ids_increase_and_display_name_defaults(company: Company) -> None:
    made = company.create(
        "Customer", {"Title": "Dr", "GivenName": "Ann", "FamilyName": "Lee", "Suffix": "Jr"}
    )
    # Ids 4 and 5 are the seed's vendor and employee (one sequence for the three).
    assert made["Id"] == "6" and made["SyncToken"] == "0"
    assert made["DisplayName"] == "Dr Ann Lee Jr"
    assert made["Active"] is True
    assert company.read("Customer", "6")["DisplayName"] == "Dr Ann Lee Jr"
    assert company.create("Customer", {"DisplayName": "Next"})["Id"] == "7"


def test_blank_strings_from_python_quickbooks_count_as_absent(company: Company) -> None:
    made = company.create(
        "Customer", {"DisplayName": "", "GivenName": "Bo", "FamilyName": "", "Notes": ""}
    )
    assert made["DisplayName"] == "Bo"
    assert "Notes" not in company.read("Customer", made["Id"])


def test_no_name_is_6080(company: Company) -> None:
    fault = fault_of(company.create, "Customer", {"CompanyName": "Only A Company"})
    assert fault.code == "6080" and fault.status == 400
    assert company.count("Customer") == 3


@pytest.mark.parametrize("bad", ["A:B", "A\tB", "A\nB"])
@pytest.mark.parametrize("field", ["DisplayName", "GivenName", "FamilyName"])
def test_name_fields_refuse_colon_tab_newline(company: Company, field: str, bad: str) -> None:
    fault = fault_of(company.create, "Customer", {field: bad})
    assert fault.element == field
    assert company.count("Customer") == 3


@pytest.mark.parametrize(
    ("field", "limit"),
    [
        ("DisplayName", 500),
        ("GivenName", 100),
        ("MiddleName", 100),
        ("FamilyName", 100),
        ("CompanyName", 100),
        ("Title", 16),
        ("Suffix", 16),
        ("Notes", 2000),
    ],
)
def test_max_lengths(company: Company, field: str, limit: int) -> None:
    base = {"DisplayName": "Length Test"}
    ok = company.create("Customer", {**base, field: "x" * limit})
    assert ok[field] == "x" * limit
    fault = fault_of(
        company.create, "Customer", {"DisplayName": "Length Test 2", field: "y" * (limit + 1)}
    )
    assert fault.element == field


def test_email_rules(company: Company) -> None:
    long_address = "a" * 95 + "@b.com"  # 101 characters
    fault = fault_of(
        company.create,
        "Customer",
        {"DisplayName": "E1", "PrimaryEmailAddr": {"Address": long_address}},
    )
    assert fault.element == "PrimaryEmailAddr.Address"
    for bad in ("no-at-sign.example", "no-dot@example"):
        fault = fault_of(
            company.create, "Customer", {"DisplayName": "E2", "PrimaryEmailAddr": {"Address": bad}}
        )
        assert fault.element == "PrimaryEmailAddr.Address"
    assert company.count("Customer") == 3


@pytest.mark.parametrize(
    ("entity", "name"),
    [
        ("Customer", "Emily Platt"),
        ("Customer", "EMILY PLATT"),  # case-insensitive on purpose (stricter than QBO may be)
        ("Customer", "gary holt (deleted)"),  # inactive ones count too
        ("Customer", "Harbor Courier Supplies"),  # a vendor's name
        ("Customer", "Dana Whitfield"),  # an employee's name
        ("Vendor", "Emily Platt"),
        ("Employee", "Northside Books"),
    ],
)
def test_display_name_unique_across_customer_vendor_employee(
    company: Company, entity: str, name: str
) -> None:
    before = company.count(entity)
    fault = fault_of(company.create, entity, {"DisplayName": name})
    assert fault.code == "6240"
    assert fault.message == "Duplicate Name Exists Error"
    assert company.count(entity) == before


def test_update_keeping_own_name_is_not_a_duplicate(company: Company) -> None:
    current = company.read("Customer", "1")
    updated = company.update(
        "Customer", {"Id": "1", "SyncToken": current["SyncToken"], "sparse": True, "Notes": "hi"}
    )
    assert updated["DisplayName"] == "Emily Platt"


def test_making_inactive_renames_and_frees_the_name(company: Company) -> None:
    updated = company.update(
        "Customer", {"Id": "1", "SyncToken": "0", "sparse": True, "Active": False}
    )
    assert updated["DisplayName"] == "Emily Platt (deleted)"
    assert updated["Active"] is False
    again = company.create("Customer", {"DisplayName": "Emily Platt"})
    assert again["DisplayName"] == "Emily Platt"
    # The second one goes inactive too: its "(deleted)" name is taken, so it is numbered.
    second = company.update(
        "Customer", {"Id": again["Id"], "SyncToken": "0", "sparse": True, "Active": False}
    )
    assert second["DisplayName"] != updated["DisplayName"]
    assert second["DisplayName"].startswith("Emily Platt (deleted")


def test_inactive_vendor_is_renamed_too(company: Company) -> None:
    vendor = company.update(
        "Vendor", {"Id": "4", "SyncToken": "0", "sparse": True, "Active": False}
    )
    assert vendor["DisplayName"] == "Harbor Courier Supplies (deleted)"


def test_sync_token_increments_and_stale_is_5010(company: Company, clock: FakeClock) -> None:
    clock.advance(minutes=5)
    first = company.update("Customer", {"Id": "2", "SyncToken": "0", "sparse": True, "Notes": "a"})
    assert first["SyncToken"] == "1"
    assert first["MetaData"]["LastUpdatedTime"] == clock.now.isoformat()
    assert first["MetaData"]["CreateTime"] == START.isoformat()
    stale = fault_of(
        company.update, "Customer", {"Id": "2", "SyncToken": "0", "sparse": True, "Notes": "b"}
    )
    assert stale.code == "5010"
    assert company.read("Customer", "2")["Notes"] == "a"
    # An int SyncToken (python-quickbooks sends 0 on create) is read like the string.
    assert (
        company.update("Customer", {"Id": "2", "SyncToken": 1, "sparse": True, "Notes": "c"})[
            "SyncToken"
        ]
        == "2"
    )


def test_update_without_sync_token_or_unknown_id(company: Company) -> None:
    missing = fault_of(company.update, "Customer", {"Id": "2", "sparse": True, "Notes": "x"})
    assert missing.code == "2020" and missing.element == "SyncToken"
    unknown = fault_of(company.update, "Customer", {"Id": "99", "SyncToken": "0"})
    assert unknown.code == "610"
    assert fault_of(company.read, "Customer", "99").code == "610"


def test_sparse_merges_full_update_replaces(company: Company) -> None:
    sparse = company.update(
        "Customer", {"Id": "1", "SyncToken": "0", "sparse": True, "MiddleName": "Mark"}
    )
    assert sparse["PrimaryEmailAddr"] == {"Address": "emily.platt@example.com"}
    assert sparse["MiddleName"] == "Mark"
    full = company.update(
        "Customer", {"Id": "1", "SyncToken": "1", "DisplayName": "Emily Platt", "Notes": "n"}
    )
    assert "PrimaryEmailAddr" not in full and "MiddleName" not in full
    assert full["Notes"] == "n" and full["SyncToken"] == "2"


def test_wrong_types_and_unknown_properties_are_2010(company: Company) -> None:
    for data in (
        {"DisplayName": 5},
        {"DisplayName": "T", "Active": "yes"},
        {"DisplayName": "T", "PrimaryEmailAddr": "a@b.c"},
        {"DisplayName": "T", "Favourite": "x"},
    ):
        assert fault_of(company.create, "Customer", data).code == "2010"
    assert company.count("Customer") == 3


def test_customers_cannot_be_deleted(company: Company) -> None:
    fault = fault_of(company.delete, "Customer", {"Id": "1", "SyncToken": "0"})
    assert fault.status == 400
    assert company.read("Customer", "1")["Active"] is True


def test_tax_codes_are_read_only(company: Company) -> None:
    assert fault_of(company.create, "TaxCode", {"Name": "X"}).status == 400


def test_item_rules(company: Company) -> None:
    income = {"IncomeAccountRef": {"value": "1"}}
    made = company.create("Item", {"Name": "Key Copy", "UnitPrice": "3.50", **income})
    assert made["Type"] == "Service" and made["UnitPrice"] == Decimal("3.50")
    assert fault_of(company.create, "Item", {"Name": "key copy", **income}).code == "6240"
    assert fault_of(company.create, "Item", {"Description": "nameless", **income}).code == "2020"
    no_account = fault_of(company.create, "Item", {"Name": "Unbooked"})
    assert (no_account.code, no_account.element) == ("2020", "IncomeAccountRef")


# -- invoices ----------------------------------------------------------------------------------


def test_invoice_create_computes_totals_exactly(company: Company, clock: FakeClock) -> None:
    data = invoice(amount="0.10")
    data["Line"].append(
        {
            "DetailType": "SalesItemLineDetail",
            "Amount": Decimal("0.20"),
            "SalesItemLineDetail": {
                "ItemRef": {"value": "3"},
                "Qty": Decimal("2"),
                "UnitPrice": Decimal("0.10"),
            },
        }
    )
    made = company.create("Invoice", data)
    assert made["TotalAmt"] == Decimal("0.30")  # float would say 0.30000000000000004
    assert made["Balance"] == Decimal("0.30")
    assert made["DocNumber"] == "1001"
    assert made["TxnDate"] == clock.now.date().isoformat()
    assert made["CustomerRef"] == {"value": "1", "name": "Emily Platt"}
    assert made["Line"][-1]["DetailType"] == "SubTotalLineDetail"
    assert [line["LineNum"] for line in made["Line"][:-1]] == [1, 2]
    assert company.create("Invoice", invoice())["DocNumber"] == "1002"


def test_customer_balance_follows_invoices(company: Company) -> None:
    first = company.create("Invoice", invoice(amount="25.00"))
    company.create("Invoice", invoice(amount="7.50"))
    assert company.read("Customer", "1")["Balance"] == Decimal("32.50")
    company.delete("Invoice", {"Id": first["Id"], "SyncToken": "0"})
    assert company.read("Customer", "1")["Balance"] == Decimal("7.50")


def test_invoice_customer_ref_rules(company: Company) -> None:
    missing = fault_of(company.create, "Invoice", {"Line": invoice()["Line"]})
    assert missing.code == "2020" and missing.element == "CustomerRef"
    unknown = fault_of(company.create, "Invoice", invoice(customer="99"))
    assert unknown.code == "610" and "not found" in unknown.detail
    inactive = fault_of(company.create, "Invoice", invoice(customer="3"))
    assert inactive.code == "610" and "made inactive" in inactive.detail
    assert company.count("Invoice") == 0


def test_invoice_line_rules(company: Company) -> None:
    no_lines = fault_of(company.create, "Invoice", {"CustomerRef": {"value": "1"}, "Line": []})
    assert no_lines.code == "2020" and no_lines.element == "Line"
    bad_item = invoice()
    bad_item["Line"][0]["SalesItemLineDetail"]["ItemRef"] = {"value": "77"}
    assert fault_of(company.create, "Invoice", bad_item).code == "2500"
    no_amount = invoice()
    del no_amount["Line"][0]["Amount"]
    assert fault_of(company.create, "Invoice", no_amount).code == "2020"
    assert company.count("Invoice") == 0


def test_amount_must_equal_qty_times_unit_price(company: Company) -> None:
    data = invoice(amount="25.00")
    data["Line"][0]["SalesItemLineDetail"].update(Qty=2, UnitPrice="12.00")
    fault = fault_of(company.create, "Invoice", data)
    assert fault.code == "6070"
    assert "Amount is not equal to UnitPrice * Qty" in fault.detail
    data["Line"][0]["SalesItemLineDetail"].update(UnitPrice="12.50")
    assert company.create("Invoice", data)["TotalAmt"] == Decimal("25.00")


def test_qty_times_price_rounds_half_up_to_cents(company: Company) -> None:
    data = invoice(amount="1.01")
    # 3 x 0.335 = 1.005: half-up gives 1.01 (half-even would say 1.00 and refuse it).
    data["Line"][0]["SalesItemLineDetail"].update(Qty=3, UnitPrice="0.335")
    assert company.create("Invoice", data)["TotalAmt"] == Decimal("1.01")
    data = invoice(amount="1.00")
    data["Line"][0]["SalesItemLineDetail"].update(Qty=3, UnitPrice="0.335")
    assert fault_of(company.create, "Invoice", data).code == "6070"


def test_zero_qty_and_price_defaults_are_not_checked(company: Company) -> None:
    data = invoice(amount=25)
    data["Line"][0]["SalesItemLineDetail"].update(Qty=0, UnitPrice=0, TaxInclusiveAmt=0)
    made = company.create("Invoice", data)
    assert made["TotalAmt"] == Decimal("25.00")
    assert "Qty" not in made["Line"][0]["SalesItemLineDetail"]


def test_tax_code_on_lines_must_exist(company: Company) -> None:
    data = invoice()
    data["Line"][0]["SalesItemLineDetail"]["TaxCodeRef"] = {"value": "VAT20"}
    assert fault_of(company.create, "Invoice", data).code == "6100"


def test_outside_us_each_line_needs_a_tax_code(clock: FakeClock) -> None:
    seed = default_seed() | {"company": {"CompanyName": "UK Ltd", "Country": "GB"}}
    company = Company(seed, clock=clock)
    data = invoice()
    del data["Line"][0]["SalesItemLineDetail"]["TaxCodeRef"]
    assert fault_of(company.create, "Invoice", data).code == "6000"


def test_doc_number_length_and_custom_numbers(clock: FakeClock) -> None:
    seed = default_seed()
    seed["company"] = {**seed["company"], "custom_txn_numbers": True}
    company = Company(seed, clock=clock)
    assert fault_of(company.create, "Invoice", invoice(DocNumber="X" * 22)).element == "DocNumber"
    first = company.create("Invoice", invoice(DocNumber="INV-1"))
    dup = fault_of(company.create, "Invoice", invoice(DocNumber="INV-1"))
    assert dup.code == "6140"
    # Its own number on update is fine; with custom numbers on, none is assigned.
    company.update("Invoice", {**invoice(DocNumber="INV-1"), "Id": first["Id"], "SyncToken": "0"})
    assert "DocNumber" not in company.create("Invoice", invoice())


def test_doc_numbers_may_repeat_without_custom_numbers(company: Company) -> None:
    company.create("Invoice", invoice(DocNumber="A1"))
    assert company.create("Invoice", invoice(DocNumber="A1"))["DocNumber"] == "A1"


def test_custom_fields_at_most_three(company: Company) -> None:
    fields = [{"DefinitionId": str(i), "StringValue": "v", "Type": "StringType"} for i in range(4)]
    assert fault_of(company.create, "Invoice", invoice(CustomField=fields)).code == "2010"
    assert company.create("Invoice", invoice(CustomField=fields[:3]))["CustomField"] == fields[:3]


def test_invoice_dates_must_be_iso(company: Company) -> None:
    assert fault_of(company.create, "Invoice", invoice(TxnDate="03/10/2026")).status == 400
    made = company.create("Invoice", invoice(TxnDate="2026-03-01", DueDate="2026-03-31"))
    assert (made["TxnDate"], made["DueDate"]) == ("2026-03-01", "2026-03-31")


def test_delete_invoice_with_stale_token_refused(company: Company) -> None:
    made = company.create("Invoice", invoice())
    company.update(
        "Invoice", {"Id": made["Id"], "SyncToken": "0", "sparse": True, "PrivateNote": "x"}
    )
    assert fault_of(company.delete, "Invoice", {"Id": made["Id"], "SyncToken": "0"}).code == "5010"
    gone = company.delete("Invoice", {"Id": made["Id"], "SyncToken": "1"})
    assert gone == {"Id": made["Id"], "status": "Deleted", "domain": "QBO"}
    assert company.count("Invoice") == 0
    assert fault_of(company.read, "Invoice", made["Id"]).code == "610"


# -- query and CDC ---------------------------------------------------------------------------


def test_query_returns_active_only_unless_active_is_filtered(company: Company) -> None:
    plain = company.query("select * from Customer")
    assert [c["Id"] for c in plain["Customer"]] == ["1", "2"]
    assert plain["startPosition"] == 1 and plain["maxResults"] == 2
    both = company.query("select * from Customer where Active in (true, false)")
    assert [c["Id"] for c in both["Customer"]] == ["1", "2", "3"]
    assert company.query("select count(*) from Customer") == {"totalCount": 2}
    assert company.query("select * from Customer where DisplayName = 'Nobody'") == {}


def test_query_faults_name_the_property(company: Company) -> None:
    # A well-formed query naming what QBO refuses is 4001 "Invalid query" (ruckus issue 403);
    # a syntax error is 4000 "Error parsing query".
    fault = fault_of(company.query, "select * from Customer where Notes = 'x'")
    assert (fault.code, fault.message, fault.element) == ("4001", "Invalid query", "Notes")
    unknown = fault_of(company.query, "select * from Nonsense")
    assert unknown.code == "4001"
    assert unknown.detail == "QueryValidationError: Metadata not found for Entity: Nonsense"
    assert fault.detail == "QueryValidationError: property 'Notes' is not queryable"
    assert fault_of(company.query, "select * from Invoice where DisplayName = 'x'").code == "4001"
    syntax = fault_of(company.query, "select * from Customer where DisplayName = 'x' or Id = '1'")
    assert (syntax.code, syntax.message) == ("4000", "Error parsing query")


@pytest.mark.parametrize(
    "text",
    [
        "select Foo from Customer",  # not a property of Customer at all
        "select DisplayName, Bogus.Address from Customer",
        "select * from Vendor where PrimaryEmailAddr = 'a@b.example'",  # ruckus issue 403
        "select * from Customer where Balance > 'NaN'",  # was a 500 (NaN cannot be ordered)
        "select * from Customer where Balance in ('sNaN')",
        "select * from Invoice where TotalAmt < 'Infinity'",
        "select * from Customer where Balance = '1e5'",
        "select * from Customer where Id in ('1e999999999')",  # hung the emulator (huge int)
        "select * from Customer where Id > 1.5",
        "select * from Customer where Id = '\uff11'",  # a full-width digit one
        "select * from Invoice where TxnDate = '2026-01-01garbage'",
        "select * from Invoice where TxnDate = '20260101'",
        "select * from Customer where MetaData.LastUpdatedTime > '20200101T00'",
    ],
)
def test_query_literals_and_fields_qbo_refuses_are_4001(company: Company, text: str) -> None:
    started = time.monotonic()
    fault = fault_of(company.query, text.encode().decode("unicode_escape"))
    assert fault.code == "4001"
    assert time.monotonic() - started < 0.5


@pytest.mark.parametrize(
    "text",
    [
        "select * from Customer startposition 1 startposition 2",
        "select * from Customer maxresults 5 maxresults 6",
        "select * from Customer maxresults \u0661\u0660",  # Arabic-Indic digits "10"
    ],
)
def test_query_syntax_qbo_refuses_is_4000(company: Company, text: str) -> None:
    assert fault_of(company.query, text.encode().decode("unicode_escape")).code == "4000"


def test_query_select_list_may_name_any_property(company: Company) -> None:
    found = company.query("select DisplayName, PrimaryEmailAddr, Notes from Customer")
    assert found["Customer"][0]["DisplayName"] == "Emily Platt"
    assert found["Customer"][0]["sparse"] is True
    assert company.query("select *, Sku from Item")["maxResults"] == 4


def test_query_vendor_and_employee_filterable_fields(company: Company) -> None:
    found = company.query("select * from Vendor where DisplayName LIKE 'harbor%'")
    assert [v["Id"] for v in found["Vendor"]] == ["4"]
    assert company.query("select * from Employee where GivenName = 'Dana'")["maxResults"] == 1
    assert fault_of(company.query, "select * from Employee where CompanyName = 'x'").code == "4001"


def test_query_company_info_and_invoice_by_customer(company: Company) -> None:
    assert company.query("select * from CompanyInfo")["CompanyInfo"][0]["Id"] == "1"
    company.create("Invoice", invoice(customer="2"))
    found = company.query("select * from Invoice where CustomerRef = '2'")
    assert [i["CustomerRef"]["value"] for i in found["Invoice"]] == ["2"]


def test_cdc_lists_changes_and_deleted_invoices(company: Company, clock: FakeClock) -> None:
    clock.advance(hours=1)
    since = clock.now.isoformat()
    clock.advance(minutes=1)
    made = company.create("Invoice", invoice())
    company.update("Customer", {"Id": "2", "SyncToken": "0", "sparse": True, "Notes": "n"})
    company.delete("Invoice", {"Id": made["Id"], "SyncToken": "0"})
    kept = company.create("Invoice", invoice())
    answer = company.cdc("Customer,Invoice", since)
    groups = answer[0]["QueryResponse"]
    assert [c["Id"] for c in groups[0]["Customer"]] == ["2"]
    invoices = groups[1]["Invoice"]
    assert [(i["Id"], i.get("status")) for i in invoices] == [
        (kept["Id"], None),
        (made["Id"], "Deleted"),
    ]
    assert groups[1]["maxResults"] == 2


def test_cdc_refuses_more_than_30_days_and_unknown_entities(
    company: Company, clock: FakeClock
) -> None:
    old = (clock.now - timedelta(days=31)).isoformat()
    assert fault_of(company.cdc, "Customer", old).status == 400
    recent = (clock.now - timedelta(days=29)).isoformat()
    assert len(company.cdc("Customer", recent)[0]["QueryResponse"][0]["Customer"]) == 3
    assert fault_of(company.cdc, "TaxCode", recent).status == 400
    assert fault_of(company.cdc, "Customer", "not a date").status == 400
    assert fault_of(company.cdc, "", recent).code == "2020"


def test_cdc_caps_at_1000_objects(clock: FakeClock) -> None:
    company = Company({}, clock=clock)
    for n in range(1001):
        company.create("Customer", {"DisplayName": f"C{n}"})
    since = (clock.now - timedelta(minutes=1)).isoformat()
    assert len(company.cdc("Customer", since)[0]["QueryResponse"][0]["Customer"]) == 1000


def test_concurrent_creates_get_distinct_ids(clock: FakeClock) -> None:
    company = Company({}, clock=clock)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(50):
                company.create("Customer", {"DisplayName": f"T{n}-{i}"})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    ids = [c["Id"] for c in company.dump()["Customer"]]
    assert len(ids) == len(set(ids)) == 400


@pytest.mark.parametrize(
    "amount",
    [
        "25.001",  # would have been rounded to 25.00 silently
        Decimal("0.30000000000000004"),  # a float artefact (0.1 + 0.2)
        "1e3",
        "NaN",
        " 25 ",
        "1e999999999",  # was a 500 (quantize overflow)
        10**30,  # was a 500 too
        "٢٥",  # Arabic-Indic digits
    ],
)
def test_junk_amounts_are_refused_not_rounded(company: Company, amount: Any) -> None:
    fault = fault_of(company.create, "Invoice", invoice(amount=amount))
    assert (fault.code, fault.element) == ("2010", "Line[0].Amount")
    assert company.count("Invoice") == 0


def test_huge_qty_or_price_is_a_fault_not_a_crash(company: Company) -> None:
    data = invoice(amount="25.00")
    data["Line"][0]["SalesItemLineDetail"].update(Qty="1e999999", UnitPrice="1e999999")
    assert fault_of(company.create, "Invoice", data).code == "2010"
    data["Line"][0]["SalesItemLineDetail"].update(Qty="9999999999999", UnitPrice="9999999999999")
    assert fault_of(company.create, "Invoice", data).code == "6070"


def test_unknown_line_and_nested_properties_are_refused(company: Company) -> None:
    extra_line = invoice()
    extra_line["Line"][0]["Bogus"] = 1
    assert fault_of(company.create, "Invoice", extra_line).element == "Line[0].Bogus"
    extra_detail = invoice()
    extra_detail["Line"][0]["SalesItemLineDetail"]["Colour"] = "red"
    fault = fault_of(company.create, "Invoice", extra_detail)
    assert fault.element == "Line[0].SalesItemLineDetail.Colour"
    numeric_ref = invoice()
    numeric_ref["Line"][0]["SalesItemLineDetail"]["ItemRef"] = {"value": 2}
    assert fault_of(company.create, "Invoice", numeric_ref).code == "2010"
    bad_date = invoice()
    bad_date["Line"][0]["SalesItemLineDetail"]["ServiceDate"] = "20260101"
    assert fault_of(company.create, "Invoice", bad_date).code == "2060"
    assert fault_of(company.create, "Invoice", invoice(CustomField=[1, 2])).code == "2010"
    bill_email = invoice(BillEmail={"Address": "nope"})
    assert fault_of(company.create, "Invoice", bill_email).element == "BillEmail.Address"
    assert company.count("Invoice") == 0
    for nested in (
        {"PrimaryEmailAddr": {"Address": "a@b.example", "Bogus": 1}},
        {"BillAddr": {"Line1": 5}},
        {"PrimaryPhone": {"FreeFormNumber": 5035550100}},
    ):
        fault = fault_of(company.create, "Customer", {"DisplayName": "Nested", **nested})
        assert fault.code == "2010" and fault.element.startswith(next(iter(nested)) + ".")
    assert not company.query("select * from Customer where DisplayName = 'Nested'")


def test_dates_must_be_exactly_yyyy_mm_dd(company: Company) -> None:
    # Python 3.11's date.fromisoformat accepts "20260101"; QBO wants 2026-01-01.
    for value in ("20260101", "2026-W01-1", "2026-01-01T00:00:00"):
        assert fault_of(company.create, "Invoice", invoice(TxnDate=value)).code == "2060"


def test_names_are_trimmed_and_control_characters_refused(company: Company) -> None:
    duplicate = fault_of(company.create, "Customer", {"DisplayName": " Emily Platt "})
    assert duplicate.code == "6240"
    assert fault_of(company.create, "Customer", {"DisplayName": "   "}).code == "6080"
    assert fault_of(company.create, "Customer", {"DisplayName": "a\x00b"}).code == "2010"
    created = company.create("Customer", {"DisplayName": "  Trimmed Co  "})
    assert created["DisplayName"] == "Trimmed Co"
    income = {"IncomeAccountRef": {"value": "1"}}
    assert fault_of(company.create, "Item", {"Name": " Services", **income}).code == "6240"


def test_id_and_sync_token_of_the_wrong_type_are_2010(company: Company) -> None:
    for data in (
        {"Id": ["1"], "SyncToken": "0", "sparse": True},
        {"Id": "1", "SyncToken": ["0"], "sparse": True},
        {"Id": "1", "SyncToken": {"value": "0"}, "sparse": True},
    ):
        fault = fault_of(company.update, "Customer", data)
        assert fault.code == "2010", data
    assert company.read("Customer", "1")["SyncToken"] == "0"
