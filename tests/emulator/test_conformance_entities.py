"""Conformance over real HTTP: python-quickbooks 0.9.12 objects as the client of the emulator.

Proves the emulator accepts what that library sends (every attribute, "" for unset strings, 0 for
unset numbers, Decimals as strings) and answers what it expects, faults included.
"""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from quickbooks import QuickBooks
from quickbooks.batch import batch_create
from quickbooks.cdc import change_data_capture
from quickbooks.exceptions import (
    ObjectNotFoundException,
    QuickbooksException,
    ValidationException,
)
from quickbooks.objects.base import EmailAddress, Ref
from quickbooks.objects.company_info import CompanyInfo
from quickbooks.objects.customer import Customer
from quickbooks.objects.detailline import SalesItemLine, SalesItemLineDetail
from quickbooks.objects.invoice import Invoice
from quickbooks.objects.item import Item

pytestmark = pytest.mark.e2e


def new_customer(name: str, email: str | None = None) -> Customer:
    customer = Customer()
    customer.DisplayName = name
    if email:
        customer.PrimaryEmailAddr = EmailAddress()
        customer.PrimaryEmailAddr.Address = email
    return customer


def sales_line(amount: Decimal, item_id: str = "2") -> SalesItemLine:
    line = SalesItemLine()
    line.Amount = amount
    line.Description = "Mailbox rental"
    line.SalesItemLineDetail = SalesItemLineDetail()
    line.SalesItemLineDetail.ItemRef = Ref()
    line.SalesItemLineDetail.ItemRef.value = item_id
    return line


def test_create_read_update_customer(qb: QuickBooks, emulator: Any) -> None:
    saved = new_customer("Conformance Co", "billing@conformance.example").save(qb=qb)
    assert saved.Id and saved.SyncToken == "0"
    stored = emulator.company.read("Customer", saved.Id)
    assert stored["PrimaryEmailAddr"]["Address"] == "billing@conformance.example"

    fetched = Customer.get(saved.Id, qb=qb)
    assert fetched.DisplayName == "Conformance Co"
    fetched.Notes = "full update from python-quickbooks"
    updated = fetched.save(qb=qb)  # sends every attribute back, computed ones included
    assert updated.SyncToken == "1"
    assert emulator.company.read("Customer", saved.Id)["Notes"] == fetched.Notes


def test_sparse_update(qb: QuickBooks, emulator: Any) -> None:
    body = json.dumps({"Id": "1", "SyncToken": "0", "sparse": True, "MiddleName": "Mark"})
    answer = qb.update_object("Customer", body)
    assert answer["Customer"]["SyncToken"] == "1"
    stored = emulator.company.read("Customer", "1")
    assert stored["MiddleName"] == "Mark"
    assert stored["PrimaryEmailAddr"]["Address"] == "emily.platt@example.com"


def test_query_filter_where_count_all(qb: QuickBooks) -> None:
    found = Customer.filter(DisplayName="Emily Platt", qb=qb)
    assert [c.Id for c in found] == ["1"]
    new_customer("O'Hara Supplies").save(qb=qb)
    quoted = Customer.filter(DisplayName="O'Hara Supplies", qb=qb)  # escaped as \'
    assert len(quoted) == 1
    assert Customer.filter(DisplayName="Nobody Here", qb=qb) == []
    assert Customer.count(qb=qb) == 3  # active only
    assert Customer.count("Active IN (true, false)", qb=qb) == 4
    everyone = Customer.where("Active IN (true, false)", order_by="Id DESC", qb=qb)
    assert [c.Id for c in everyone][-1] == "1"
    items = Item.all(qb=qb)  # sends "SELECT *, Sku FROM Item"
    assert {i.Name for i in items} >= {"Services", "Membership Fee"}
    by_email = Customer.where("PrimaryEmailAddr = 'emily.platt@example.com'", qb=qb)
    assert [c.Id for c in by_email] == ["1"]


def test_invoice_with_decimal_amounts(qb: QuickBooks, emulator: Any) -> None:
    invoice = Invoice()
    invoice.CustomerRef = Ref()
    invoice.CustomerRef.value = "2"
    invoice.DocNumber = "CONF-1"
    invoice.Line = [sales_line(Decimal("25.10")), sales_line(Decimal("0.20"), item_id="3")]
    saved = invoice.save(qb=qb)
    stored = emulator.company.read("Invoice", saved.Id)
    assert stored["TotalAmt"] == Decimal("25.30")
    assert stored["DocNumber"] == "CONF-1"
    fetched = Invoice.get(saved.Id, qb=qb)
    assert fetched.TotalAmt == pytest.approx(25.30)
    assert emulator.company.read("Customer", "2")["Balance"] == Decimal("25.30")
    fetched.PrivateNote = "updated"
    assert fetched.save(qb=qb).SyncToken == "1"  # echoes the SubTotal line back: accepted
    assert len(emulator.company.read("Invoice", saved.Id)["Line"]) == 3
    Invoice.get(saved.Id, qb=qb).delete(qb=qb)
    assert emulator.company.count("Invoice") == 0


def test_float_artefact_amounts_are_refused_not_rounded(qb: QuickBooks, emulator: Any) -> None:
    invoice = Invoice()
    invoice.CustomerRef = Ref()
    invoice.CustomerRef.value = "2"
    invoice.Line = [sales_line(0.1 + 0.2)]  # type: ignore[arg-type]  # 0.30000000000000004
    with pytest.raises(ValidationException) as refused:
        invoice.save(qb=qb)
    assert refused.value.error_code == 2010 and "Amount" in refused.value.detail
    assert emulator.company.count("Invoice") == 0


def test_batch_create_with_uuid_bids(qb: QuickBooks, emulator: Any) -> None:
    result = batch_create([new_customer("Batch A"), new_customer("Emily Platt")], qb=qb)
    assert [c.DisplayName for c in result.successes] == ["Batch A"]
    assert len(result.faults) == 1
    assert result.faults[0].Error[0].code == "6240"
    assert emulator.company.count("Customer") == 4


def test_save_with_request_id_is_replayed(qb: QuickBooks, emulator: Any) -> None:
    first = new_customer("Idempotent Ltd").save(qb=qb, request_id="conf-req-1")
    second = new_customer("Idempotent Ltd").save(qb=qb, request_id="conf-req-1")
    assert second.Id == first.Id
    assert emulator.company.count("Customer") == 4


def test_faults_map_to_library_exceptions(qb: QuickBooks, emulator: Any) -> None:
    with pytest.raises(QuickbooksException) as duplicate:
        new_customer("emily platt").save(qb=qb)
    assert duplicate.value.error_code == 6240
    with pytest.raises(ObjectNotFoundException):
        Customer.get("999", qb=qb)
    with pytest.raises(ValidationException) as bad_query:
        Customer.where("Notes = 'x'", qb=qb)
    assert bad_query.value.error_code == 4001
    stale = Customer.get("2", qb=qb)
    changed = Customer.get("2", qb=qb)
    changed.Notes = "changed by someone else"  # a save that changes nothing keeps the SyncToken
    changed.save(qb=qb)
    with pytest.raises(QuickbooksException) as conflict:
        stale.save(qb=qb)
    assert conflict.value.error_code == 5010
    inactive = Invoice()
    inactive.CustomerRef = Ref()
    inactive.CustomerRef.value = "3"
    inactive.Line = [sales_line(Decimal("5"))]
    with pytest.raises(ObjectNotFoundException):
        inactive.save(qb=qb)
    assert emulator.company.count("Invoice") == 0


def test_company_info_and_cdc(qb: QuickBooks, emulator: Any) -> None:
    info = CompanyInfo.get(emulator.realm_id, qb=qb)
    assert info.CompanyName == emulator.company.company_name
    since = emulator.company.now() - timedelta(minutes=5)
    new_customer("Changed Recently").save(qb=qb)
    changes = change_data_capture([Customer, Invoice], since, qb=qb)
    names = {c.DisplayName for c in changes.Customer}
    assert "Changed Recently" in names
