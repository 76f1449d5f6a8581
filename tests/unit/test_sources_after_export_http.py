"""The http source after export: payments lists, credit notes, void statuses, and
GET /invoices?updated_since (any status) through invoices_since."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
import responses
from responses import matchers

from qbsync.config.source import SourceConfig
from qbsync.sources import ChangedInvoices, PlatformPayment, read_changed
from qbsync.sources.http_source import HttpSource

TZ = timezone(timedelta(hours=-5), "EST")
BASE = "https://platform.example.com/api"

INVOICE: dict[str, Any] = {
    "id": "i-1",
    "member_id": "m-1",
    "number": "1001",
    "created_at": "2024-06-01T10:00:00Z",
    "status": "paid",
    "lines": [{"description": "Membership", "quantity": 1, "unit_price": "10.50"}],
}


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        yield rsps


def _source() -> HttpSource:
    config = SourceConfig(type="http", base_url=BASE, token_env=None, timeout_seconds=5)
    return HttpSource(config, tz=TZ, sleep=lambda _: None)


def _page(rsps: responses.RequestsMock, data: list[Any] | str, **params: str) -> None:
    body = data if isinstance(data, str) else json.dumps(data)
    rsps.add(
        responses.GET,
        f"{BASE}/invoices",
        body=f'{{"data": {body}, "next_page": null}}',
        content_type="application/json",
        match=[matchers.query_param_matcher(params)],
    )


def test_payments_credit_notes_and_voided_read_exactly(mocked: responses.RequestsMock) -> None:
    paid = {
        **INVOICE,
        "payments": [
            {"id": "p-1", "paid_at": "2024-06-02T09:00:00Z", "amount": 5.5, "method": "card"},
            {"id": 77, "paid_at": "2024-06-03", "amount": "5", "reference": "ch_9"},
        ],
    }
    note = {**INVOICE, "id": "c-1", "status": "Voided", "type": "credit_note", "applies_to": "i-1"}
    _page(mocked, json.dumps([paid, note]).replace("5.5", "5.50"), status="paid", page="1")
    _page(mocked, [], status="void", page="1")
    read = _source().invoices(statuses=["paid", "void"], created_since=None)
    assert read.problems == []
    first, second = read.records
    assert first.payments == (
        PlatformPayment("p-1", datetime(2024, 6, 2, 9, tzinfo=UTC), Decimal("5.50"), "card"),
        PlatformPayment("77", datetime(2024, 6, 3, tzinfo=TZ), Decimal("5.00"), None, "ch_9"),
    )
    assert (second.id, second.status, second.kind, second.applies_to, second.payments) == (
        "c-1",
        "void",
        "credit_note",
        "i-1",
        (),
    )
    assert (first.kind, first.applies_to) == ("invoice", None)


def test_bad_payments_are_reported_naming_the_invoice_and_field(
    mocked: responses.RequestsMock,
) -> None:
    items = [
        {**INVOICE, "id": "i-2", "payments": {"id": "p"}},
        {**INVOICE, "id": "i-3", "payments": ["x", {}]},
        {**INVOICE, "id": "i-4", "payments": [{"id": "p-4", "paid_at": "2024-06-02"}]},
        {
            **INVOICE,
            "id": "i-5",
            "payments": [{"id": "p-5", "paid_at": "2024-06-02", "amount": "0.001"}],
        },
        {
            **INVOICE,
            "id": "i-6",
            "payments": [
                {"id": "p-6", "paid_at": "2024-06-02", "amount": 1},
                {"id": "p-6", "paid_at": "2024-06-02", "amount": 2},
            ],
        },
        {**INVOICE, "id": "i-7", "payments": [{"id": "p-7", "paid_at": "2024-06-02", "amount": 1}]},
        {**INVOICE, "id": "i-8", "payments": [{"id": "p-7", "paid_at": "2024-06-02", "amount": 1}]},
        {**INVOICE, "id": "i-9", "type": "credit"},
    ]
    _page(mocked, items, status="paid", page="1")
    read = _source().invoices(statuses=["paid"], created_since=None)
    where = "GET /invoices?status=paid page 1 item"
    assert [i.id for i in read.records] == ["i-7"]
    assert [str(p) for p in read.problems] == [
        f"{where} 1: invoice i-2: payments: expected a list of payment objects",
        f"{where} 2: invoice i-3: payments[1]: expected a JSON object",
        f"{where} 2: invoice i-3: payments[2].id: no id (an empty payment object)",
        f"{where} 3: invoice i-4: payments[1].amount: no amount (a payment needs id, paid_at and "
        "amount; this one has id, paid_at)",
        f"{where} 4: invoice i-5: payments[1].amount: more than 2 decimals: '0.001'",
        f"{where} 5: invoice i-6: payments[2].id: duplicate payment id 'p-6' (also payment 1)",
        f"{where} 7: invoice i-8: payment_id: payment id 'p-7' is also on invoice i-7 (a "
        "platform payment id names one payment)",
        f"{where} 8: invoice i-9: type: unknown type 'credit' (expected invoice or credit_note)",
    ]


def test_invoices_since_asks_updated_since_without_a_status(
    mocked: responses.RequestsMock,
) -> None:
    changed = datetime(2024, 7, 1, 12, tzinfo=UTC)
    since = datetime(2024, 5, 1, tzinfo=UTC)
    items = [
        {**INVOICE, "status": "voided"},
        {**INVOICE, "id": "i-2", "status": "pending"},
        {**INVOICE, "id": "i-old", "created_at": "2020-01-01"},  # beyond the filter: dropped
    ]
    _page(
        mocked,
        items,
        updated_since="2024-07-01T12:00:00+00:00",
        created_since="2024-05-01T00:00:00+00:00",
        page="1",
    )
    source = _source()
    assert isinstance(source, ChangedInvoices)
    read = read_changed(source, changed, created_since=since, statuses=["pending"])
    assert read.problems == []
    assert [(i.id, i.status) for i in read.records] == [("i-1", "void"), ("i-2", "pending")]
    assert len(mocked.calls) == 1


def test_invoices_since_none_reads_every_invoice(mocked: responses.RequestsMock) -> None:
    _page(mocked, [{**INVOICE, "lines": []}], page="1")
    read = _source().invoices_since(None, created_since=None)
    assert read.records == []
    assert [str(p) for p in read.problems] == [
        "GET /invoices page 1 item 1: invoice i-1: lines: no lines"
    ]
