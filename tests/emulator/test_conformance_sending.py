"""Invoice EmailStatus and POST invoice/{id}/send: through the API, over HTTP with
python-quickbooks 0.9.12, and by the accountant (docs/emulator-rules.md "Sending an invoice")."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from quickbooks import QuickBooks
from quickbooks.objects.invoice import Invoice

from qbsync.emulator import Emulator
from qbsync.emulator.api import ApiResult, handle_api
from qbsync.emulator.seed import default_seed
from qbsync.emulator.store import Company

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
TIMEOUT = 5
LINE = {
    "DetailType": "SalesItemLineDetail",
    "Amount": "25.00",
    "SalesItemLineDetail": {"ItemRef": {"value": "2"}, "TaxCodeRef": {"value": "NON"}},
}


@pytest.fixture
def company() -> Company:
    return Company(default_seed(), clock=lambda: NOW)


def call(company: Company, method: str, subpath: str, body: Any = None, **params: str) -> ApiResult:
    raw = b"" if body is None else json.dumps(body).encode()
    return handle_api(company, method, subpath, params, raw)


def code(result: ApiResult) -> str:
    assert result.status == 400, result.body
    return str(result.body["Fault"]["Error"][0]["code"])


def create(company: Company, **extra: Any) -> dict[str, Any]:
    return company.create("Invoice", {"CustomerRef": {"value": "1"}, "Line": [LINE], **extra})


def test_email_status_defaults_to_not_set_and_need_to_send_needs_bill_email(
    company: Company,
) -> None:
    plain = create(company)
    assert plain["EmailStatus"] == "NotSet" and "DeliveryInfo" not in plain
    body = {"CustomerRef": {"value": "1"}, "Line": [LINE], "EmailStatus": "NeedToSend"}
    result = call(company, "POST", "invoice", body)
    assert code(result) == "2020" and result.body["Fault"]["Error"][0]["element"] == "BillEmail"
    queued = create(company, EmailStatus="NeedToSend", BillEmail={"Address": "ada@example.com"})
    assert queued["EmailStatus"] == "NeedToSend"
    # Only the send operation sets EmailSent; DeliveryInfo sent by a client is ignored.
    result = call(company, "POST", "invoice", {**body, "EmailStatus": "EmailSent"})
    assert code(result) == "2010"
    assert call(company, "POST", "invoice", {**body, "EmailStatus": "Sent"}).status == 400
    ignored = create(company, DeliveryInfo={"DeliveryType": "Email"})
    assert "DeliveryInfo" not in ignored
    assert company.count("Invoice") == 3


def test_send_sets_email_sent_delivery_info_and_the_address(company: Company) -> None:
    made = create(company)
    sent = call(company, "POST", f"invoice/{made['Id']}/send", sendTo="ada@example.com")
    assert sent.status == 200, sent.body
    invoice = sent.body["Invoice"]
    assert invoice["EmailStatus"] == "EmailSent"
    assert invoice["DeliveryInfo"] == {
        "DeliveryType": "Email",
        "DeliveryTime": "2026-03-10T12:00:00+00:00",
    }
    assert invoice["BillEmail"] == {"Address": "ada@example.com"}
    assert invoice["SyncToken"] == "1"
    stored = company.read("Invoice", made["Id"])
    assert stored["EmailStatus"] == "EmailSent" and stored["SyncToken"] == "1"
    # Sent stays sent: a sparse update and a full update without EmailStatus keep it.
    sparse = company.update(
        "Invoice", {"Id": made["Id"], "SyncToken": "1", "sparse": True, "EmailStatus": "NotSet"}
    )
    assert sparse["EmailStatus"] == "EmailSent" and "DeliveryInfo" in sparse
    full = company.update(
        "Invoice",
        {
            "Id": made["Id"],
            "SyncToken": sparse["SyncToken"],
            "CustomerRef": {"value": "1"},
            "Line": [LINE],
        },
    )
    assert full["EmailStatus"] == "EmailSent" and full["DeliveryInfo"] == invoice["DeliveryInfo"]
    # The full update left BillEmail out, so it is gone; sending again needs an address, and
    # bumps the version again.
    assert "BillEmail" not in full
    assert code(call(company, "POST", f"invoice/{made['Id']}/send")) == "6420"
    again = call(company, "POST", f"invoice/{made['Id']}/send", sendTo="ada@example.com")
    assert (
        again.status == 200
        and int(again.body["Invoice"]["SyncToken"]) == int(full["SyncToken"]) + 1
    )


def test_send_refusals(company: Company) -> None:
    made = create(company)
    assert code(call(company, "POST", f"invoice/{made['Id']}/send")) == "6420"
    assert (
        code(call(company, "POST", f"invoice/{made['Id']}/send", sendTo="not-an-address")) == "2010"
    )
    assert code(call(company, "POST", "invoice/999/send", sendTo="a@b.co")) == "610"
    assert company.read("Invoice", made["Id"])["EmailStatus"] == "NotSet"
    voided = call(
        company, "POST", "invoice", {"Id": made["Id"], "SyncToken": "0"}, operation="void"
    )
    assert voided.status == 200
    assert code(call(company, "POST", f"invoice/{made['Id']}/send", sendTo="a@b.co")) == "6000"
    # Only invoices are sent here.
    assert call(company, "POST", "customer/1/send", sendTo="a@b.co").status == 400


def test_python_quickbooks_sends_an_invoice_over_http(
    emulator: Emulator, qb_for: Callable[[Emulator], QuickBooks]
) -> None:
    qb = qb_for(emulator)
    made = create(emulator.company)
    invoice = Invoice.get(int(made["Id"]), qb=qb)
    answer = invoice.send(qb=qb, send_to="grace@example.org")
    assert answer["Invoice"]["EmailStatus"] == "EmailSent"
    stored = emulator.company.read("Invoice", made["Id"])
    assert stored["BillEmail"] == {"Address": "grace@example.org"}
    assert stored["DeliveryInfo"]["DeliveryType"] == "Email"
    # A JSON body is not what the send consumes.
    token = emulator.issue_access_token()
    refused = requests.post(
        f"{emulator.base_url}/v3/company/{emulator.realm_id}/invoice/{made['Id']}/send",
        data=b"{}",
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "Content-Type": "application/json",
        },
        timeout=TIMEOUT,
    )
    assert refused.status_code == 400


def test_the_accountant_sends_an_invoice(emulator: Emulator) -> None:
    made = create(emulator.company, BillEmail={"Address": "ada@example.com"})
    answer = requests.post(
        f"{emulator.base_url}/_emulator/invoices/send", json={"id": made["Id"]}, timeout=TIMEOUT
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["Invoice"]["EmailStatus"] == "EmailSent"
    assert emulator.company.read("Invoice", made["Id"])["EmailStatus"] == "EmailSent"
    other = create(emulator.company)
    refused = requests.post(
        f"{emulator.base_url}/_emulator/invoices/send", json={"id": other["Id"]}, timeout=TIMEOUT
    )
    assert refused.status_code == 400 and "6420" in refused.text
    sent = emulator.send_invoice(other["Id"], "grace@example.org")
    assert sent["BillEmail"] == {"Address": "grace@example.org"}
