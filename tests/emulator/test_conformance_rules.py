"""Conformance over real HTTP: QBO's refusals, as python-quickbooks 0.9.12 meets them.

Each case is a qbsync bug the emulator must not let through: the request goes over HTTP through
python-quickbooks, the library raises the exception QBO's code maps to, and the company is left
unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from quickbooks import QuickBooks
from quickbooks.exceptions import QuickbooksException, ValidationException
from quickbooks.objects.base import Ref
from quickbooks.objects.customer import Customer
from quickbooks.objects.detailline import SalesItemLine, SalesItemLineDetail
from quickbooks.objects.invoice import Invoice

from qbsync.emulator import Emulator

pytestmark = pytest.mark.e2e


def invoice(customer: str = "1", item: str = "2", amount: str = "25.00", **extra: Any) -> Invoice:
    line = SalesItemLine()
    line.Amount = Decimal(amount)
    line.SalesItemLineDetail = SalesItemLineDetail()
    line.SalesItemLineDetail.ItemRef = Ref()
    line.SalesItemLineDetail.ItemRef.value = item
    result = Invoice()
    result.CustomerRef = Ref()
    result.CustomerRef.value = customer
    result.Line = [line]
    for key, value in extra.items():
        setattr(result, key, value)
    return result


def customer(**fields: Any) -> Customer:
    result = Customer()
    for key, value in fields.items():
        setattr(result, key, value)
    return result


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda: customer(), 6080),  # no name at all
        (lambda: customer(DisplayName="Acme: Billing"), 2010),  # a colon
        (lambda: customer(DisplayName="Dana Whitfield"), 6240),  # an employee's name
        (lambda: customer(DisplayName="Harbor Courier Supplies"), 6240),  # a vendor's name
        (lambda: invoice(item="99"), 2500),  # no such item
        (lambda: invoice(DocNumber="X" * 22), 2050),  # DocNumber over 21 characters (captured code)
        (lambda: invoice(amount="25.001"), 2010),  # money with 3 decimals
    ],
)
def test_refused_writes_raise_and_change_nothing(
    qb: QuickBooks, emulator: Emulator, make: Any, code: int
) -> None:
    before = emulator.company.dump()
    with pytest.raises(QuickbooksException) as refused:
        make().save(qb=qb)
    assert refused.value.error_code == code
    assert emulator.company.dump() == before


def test_an_invoice_without_lines_is_2020(qb: QuickBooks, emulator: Emulator) -> None:
    empty = invoice()
    empty.Line = []
    with pytest.raises(ValidationException) as refused:
        empty.save(qb=qb)
    assert refused.value.error_code == 2020
    assert emulator.company.count("Invoice") == 0


@pytest.mark.parametrize(
    ("where", "code"),
    [
        ("DisplayName = 'Emily Platt' OR DisplayName = 'x'", 4000),  # no OR in QBO
        ("DisplayName = 'O'Brien'", 4000),  # an unescaped quote (Customer.where does not escape)
        ("DisplayName = 'x' maxresults 1001", 4001),  # MAXRESULTS is at most 1000
        ("DisplayName = 'x' startposition 0", 4001),  # STARTPOSITION is 1-based
        ("PrimaryEmailAddr.Address = 'a@b.example'", 4001),  # not filterable
    ],
)
def test_queries_qbo_refuses(qb: QuickBooks, where: str, code: int) -> None:
    with pytest.raises(ValidationException) as refused:
        Customer.where(where, qb=qb)
    assert refused.value.error_code == code


def test_an_escaped_quote_finds_the_name(qb: QuickBooks) -> None:
    customer(DisplayName="O'Brien Books").save(qb=qb)
    found = Customer.where("DisplayName = 'O\\'Brien Books'", qb=qb)
    assert [c.DisplayName for c in found] == ["O'Brien Books"]


def test_an_unknown_entity_is_refused(qb: QuickBooks) -> None:
    with pytest.raises(ValidationException) as refused:
        qb.query("select * from Widget")
    assert refused.value.error_code == 4001


def test_a_batch_of_31_is_refused_whole(qb: QuickBooks, emulator: Emulator) -> None:
    items = [
        {"bId": f"b{n}", "operation": "create", "Customer": {"DisplayName": f"Batch {n}"}}
        for n in range(31)
    ]
    with pytest.raises(QuickbooksException) as refused:
        qb.batch_operation(json.dumps({"BatchItemRequest": items}))
    assert refused.value.error_code == 1040
    assert emulator.company.count("Customer") == 3


def test_duplicate_doc_number_with_custom_numbers_is_6140(
    qb_for: Callable[[Emulator], QuickBooks],
) -> None:
    seed = {"company": {"CompanyName": "Custom Numbers Co", "custom_txn_numbers": True}}
    with Emulator(seed, limits=False) as emu:
        qb = qb_for(emu)
        invoice(DocNumber="M-1001").save(qb=qb)
        with pytest.raises(QuickbooksException) as refused:
            invoice(DocNumber="M-1001").save(qb=qb)
        assert refused.value.error_code == 6140
        assert emu.company.count("Invoice") == 1
