"""handle_api: routing, shapes, batch and requestid replay, called directly (no HTTP)."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from qbsync.emulator.api import ApiResult, handle_api
from qbsync.emulator.seed import default_seed
from qbsync.emulator.store import Company

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def company() -> Company:
    return Company(default_seed(), clock=lambda: NOW)


def call(
    company: Company,
    method: str,
    subpath: str,
    body: Any = None,
    **params: str,
) -> ApiResult:
    if body is None:
        raw = b""
    elif isinstance(body, bytes):
        raw = body
    else:
        raw = json.dumps(body).encode()
    return handle_api(company, method, subpath, params, raw)


def error(result: ApiResult) -> dict[str, Any]:
    errors = result.body["Fault"]["Error"]
    assert len(errors) == 1
    return errors[0]


def customer_line(amount: str = "25.00") -> dict[str, Any]:
    return {
        "DetailType": "SalesItemLineDetail",
        "Amount": amount,
        "SalesItemLineDetail": {"ItemRef": {"value": "2"}, "TaxCodeRef": {"value": "NON"}},
    }


def test_read_shape_and_unknown_id(company: Company) -> None:
    result = call(company, "GET", "customer/1", minorversion="75")
    assert result.status == 200
    assert set(result.body) == {"Customer", "time"}
    assert result.body["Customer"]["DisplayName"] == "Emily Platt"
    assert result.body["time"].startswith("2026-03-10T12:00:00")
    missing = call(company, "GET", "customer/999")
    assert missing.status == 400
    assert error(missing)["code"] == "610"
    assert missing.body["Fault"]["type"] == "ValidationFault"


def test_create_update_and_sparse_round_trip(company: Company) -> None:
    made = call(company, "POST", "customer", {"DisplayName": "Ann Lee"})
    assert made.status == 200
    ident = made.body["Customer"]["Id"]
    updated = call(
        company,
        "POST",
        "customer",
        {"Id": ident, "SyncToken": "0", "sparse": True, "MiddleName": "Mark"},
    )
    assert updated.body["Customer"]["SyncToken"] == "1"
    assert company.read("Customer", ident)["MiddleName"] == "Mark"
    stale = call(company, "POST", "customer", {"Id": ident, "SyncToken": "0", "sparse": True})
    assert stale.status == 400 and error(stale)["code"] == "5010"
    assert company.read("Customer", ident)["SyncToken"] == "1"  # the stale write changed nothing


def test_unknown_paths_and_methods_are_faults_not_crashes(company: Company) -> None:
    for method, path in (
        ("GET", "widget/1"),
        ("POST", "widget"),
        ("GET", ""),
        ("DELETE", "customer/1"),
        ("GET", "customer"),
        ("POST", "invoice/1/send"),
        ("PUT", "batch"),
    ):
        result = call(company, method, path)
        assert result.status == 400, (method, path)
        assert "Fault" in result.body
    assert company.count("Customer") == 3
    assert company.read("Customer", "1")["Active"] is True


def test_malformed_or_non_object_json_is_2010(company: Company) -> None:
    for raw in (b"{not json", b"[1, 2]", b"", "caf\xe9".encode("latin-1")):
        result = call(company, "POST", "customer", raw)
        assert result.status == 400
        assert error(result)["code"] == "2010"
    assert company.count("Customer") == 3


def test_delete_invoice_and_refuse_customer_delete(company: Company) -> None:
    made = call(
        company, "POST", "invoice", {"CustomerRef": {"value": "1"}, "Line": [customer_line()]}
    )
    ident = made.body["Invoice"]["Id"]
    gone = call(company, "POST", "invoice", {"Id": ident, "SyncToken": "0"}, operation="delete")
    assert gone.status == 200
    assert gone.body["Invoice"] == {"Id": ident, "status": "Deleted", "domain": "QBO"}
    assert company.count("Invoice") == 0
    refused = call(company, "POST", "customer", {"Id": "1", "SyncToken": "0"}, operation="delete")
    assert refused.status == 400
    assert company.read("Customer", "1")["Active"] is True
    void = call(company, "POST", "invoice", {"Id": "1", "SyncToken": "0"}, operation="void")
    assert void.status == 400


def test_query_by_post_body_and_get_param(company: Company) -> None:
    by_post = call(company, "POST", "query", b"select * from Customer where Id = '2'")
    assert by_post.body["QueryResponse"]["Customer"][0]["Id"] == "2"
    by_get = call(company, "GET", "query", query="select count(*) from Item")
    assert by_get.body["QueryResponse"] == {"totalCount": 4}
    empty = call(company, "POST", "query", b"select * from Customer where DisplayName = 'None'")
    assert empty.status == 200 and empty.body["QueryResponse"] == {}
    bad = call(company, "POST", "query", b"select * from Customer where Foo = 'x'")
    assert bad.status == 400
    assert error(bad)["code"] == "4001" and error(bad)["element"] == "Foo"


def test_company_info_and_preferences(company: Company) -> None:
    info = call(company, "GET", f"companyinfo/{company.realm_id}")
    assert info.body["CompanyInfo"]["CompanyName"] == company.company_name
    assert call(company, "GET", "companyinfo/123").status == 400
    prefs = call(company, "GET", "preferences")
    assert prefs.body["Preferences"]["SalesFormsPrefs"]["CustomTxnNumbers"] is False


def test_cdc_route(company: Company) -> None:
    result = call(company, "GET", "cdc", entities="Customer", changedSince="2026-03-01T00:00:00Z")
    assert result.status == 200
    groups = result.body["CDCResponse"][0]["QueryResponse"]
    assert len(groups[0]["Customer"]) == 3
    too_old = call(company, "GET", "cdc", entities="Customer", changedSince="2026-01-01")
    assert too_old.status == 400


def test_decimal_amounts_are_exact_on_the_wire(company: Company) -> None:
    result = call(
        company,
        "POST",
        "invoice",
        b'{"CustomerRef":{"value":"1"},"Line":[{"DetailType":"SalesItemLineDetail","Amount":0.1,'
        b'"SalesItemLineDetail":{"ItemRef":{"value":"2"}}},{"DetailType":"SalesItemLineDetail",'
        b'"Amount":0.2,"SalesItemLineDetail":{"ItemRef":{"value":"3"}}}]}',
    )
    assert result.status == 200
    assert b'"TotalAmt":0.30' in result.to_json()
    parsed = json.loads(result.to_json(), parse_float=Decimal)
    assert parsed["Invoice"]["TotalAmt"] == Decimal("0.30")


def test_a_bug_becomes_a_500_fault(company: Company, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: Any) -> None:
        raise RuntimeError("secret-ish internal text")

    monkeypatch.setattr(company, "create", boom)
    result = call(company, "POST", "customer", {"DisplayName": "X"})
    assert result.status == 500
    assert result.body["Fault"]["type"] == "SystemFault"
    assert "secret-ish" not in json.dumps(result.body)


# -- batch ------------------------------------------------------------------------------------


def test_batch_items_answer_on_their_own(company: Company) -> None:
    body = {
        "BatchItemRequest": [
            {"bId": "1", "operation": "create", "Customer": {"DisplayName": "Batch One"}},
            {"bId": "2", "operation": "create", "Customer": {"DisplayName": "Emily Platt"}},
            {"bId": "3", "Query": "select * from Item where Name = 'Services'"},
            {
                "bId": "4",
                "operation": "update",
                "Customer": {"Id": "2", "SyncToken": "0", "sparse": True, "Notes": "b"},
            },
            {"bId": "5", "operation": "frobnicate", "Customer": {"DisplayName": "Nope"}},
        ]
    }
    result = call(company, "POST", "batch", body)
    assert result.status == 200
    answers = {a["bId"]: a for a in result.body["BatchItemResponse"]}
    assert answers["1"]["Customer"]["DisplayName"] == "Batch One"
    assert answers["2"]["Fault"]["Error"][0]["code"] == "6240"
    assert answers["2"]["Fault"]["type"] == "ValidationFault"
    assert answers["3"]["QueryResponse"]["Item"][0]["Name"] == "Services"
    assert answers["4"]["Customer"]["SyncToken"] == "1"
    assert answers["5"]["Fault"]["Error"][0]["code"] == "500"  # Unsupported Operation
    assert [a["bId"] for a in result.body["BatchItemResponse"]] == ["1", "2", "3", "4", "5"]
    assert company.count("Customer") == 4
    assert company.read("Customer", "2")["Notes"] == "b"


def test_batch_over_30_items_is_refused_whole(company: Company) -> None:
    items = [
        {"bId": str(n), "operation": "create", "Customer": {"DisplayName": f"B{n}"}}
        for n in range(31)
    ]
    result = call(company, "POST", "batch", {"BatchItemRequest": items})
    assert result.status == 400
    assert error(result)["code"] == "1040"
    assert company.count("Customer") == 3
    ok = call(company, "POST", "batch", {"BatchItemRequest": items[:30]})
    assert ok.status == 200 and company.count("Customer") == 33


@pytest.mark.parametrize(
    "items",
    [
        [{"operation": "create", "Customer": {"DisplayName": "NoBid"}}],
        [
            {"bId": "a", "operation": "create", "Customer": {"DisplayName": "D1"}},
            {"bId": "a", "operation": "create", "Customer": {"DisplayName": "D2"}},
        ],
        [],
        "not a list",
    ],
)
def test_batch_bid_required_and_unique(company: Company, items: Any) -> None:
    result = call(company, "POST", "batch", {"BatchItemRequest": items})
    assert result.status == 400
    assert company.count("Customer") == 3


def test_batch_bid_limit_applies_with_a_requestid(company: Company) -> None:
    long_bid = str(uuid.uuid4())  # python-quickbooks' batch_create uses these
    item = {"bId": long_bid, "operation": "create", "Customer": {"DisplayName": "Long Bid"}}
    with_id = call(company, "POST", "batch", {"BatchItemRequest": [item]}, requestid="r-1")
    assert with_id.status == 400
    assert company.count("Customer") == 3
    without = call(company, "POST", "batch", {"BatchItemRequest": [item]})
    assert without.status == 200
    assert without.body["BatchItemResponse"][0]["bId"] == long_bid


# -- requestid --------------------------------------------------------------------------------


def test_requestid_replays_the_original_without_redoing_the_work(company: Company) -> None:
    first = call(company, "POST", "customer", {"DisplayName": "Once"}, requestid="req-1")
    again = call(company, "POST", "customer", {"DisplayName": "Once"}, requestid="req-1")
    assert again.status == 200
    assert again.body == first.body
    assert company.count("Customer") == 4
    other = call(company, "POST", "customer", {"DisplayName": "Twice"}, requestid="req-2")
    assert other.status == 200 and company.count("Customer") == 5


def test_requestid_replays_a_fault_too(company: Company) -> None:
    first = call(company, "POST", "customer", {"DisplayName": "Emily Platt"}, requestid="dup-1")
    assert first.status == 400
    company.update("Customer", {"Id": "1", "SyncToken": "0", "sparse": True, "Active": False})
    again = call(company, "POST", "customer", {"DisplayName": "Emily Platt"}, requestid="dup-1")
    assert again.status == 400 and again.body == first.body
    assert company.count("Customer") == 3


def test_requestid_replays_a_batch(company: Company) -> None:
    body = {
        "BatchItemRequest": [
            {"bId": "b1", "operation": "create", "Customer": {"DisplayName": "BR"}}
        ]
    }
    first = call(company, "POST", "batch", body, requestid="batch-1")
    again = call(company, "POST", "batch", body, requestid="batch-1")
    assert again.body == first.body
    assert company.count("Customer") == 4


def test_requestid_length_limits(company: Company) -> None:
    assert (
        call(company, "POST", "customer", {"DisplayName": "L50"}, requestid="x" * 50).status == 200
    )
    long_one = call(company, "POST", "customer", {"DisplayName": "L51"}, requestid="x" * 51)
    assert long_one.status == 400
    body = {
        "BatchItemRequest": [{"bId": "1", "operation": "create", "Customer": {"DisplayName": "B"}}]
    }
    assert call(company, "POST", "batch", body, requestid="y" * 37).status == 400
    assert call(company, "POST", "batch", body, requestid="y" * 36).status == 200
    assert company.count("Customer") == 5


def test_reset_forgets_requestids(company: Company) -> None:
    call(company, "POST", "customer", {"DisplayName": "Keep"}, requestid="r")
    company.reset()
    call(company, "POST", "customer", {"DisplayName": "Keep"}, requestid="r")
    assert company.count("Customer") == 4


def test_concurrent_requests_with_one_requestid_do_the_work_once(company: Company) -> None:
    results: list[ApiResult] = []

    def send() -> None:
        results.append(
            call(company, "POST", "customer", {"DisplayName": "Racer"}, requestid="race")
        )

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert company.count("Customer") == 4
    assert {r.status for r in results} == {200}
    assert len({r.body["Customer"]["Id"] for r in results}) == 1


def test_cdc_naming_no_entity_is_2020(company: Company) -> None:
    since = company.now().isoformat()
    answer = call(company, "GET", "cdc", entities=",,", changedSince=since)
    assert answer.status == 400 and error(answer)["code"] == "2020"


def test_a_body_nested_too_deep_is_refused_before_it_is_stored(company: Company) -> None:
    # 900 levels parsed, was stored, then every query over invoices was a 500 (RecursionError).
    memo: Any = "x"
    for _ in range(900):
        memo = {"value": memo}
    body = {"CustomerRef": {"value": "1"}, "Line": [customer_line()], "CustomerMemo": memo}
    refused = call(company, "POST", "invoice", body)
    assert refused.status == 400 and error(refused)["code"] == "2010"
    assert company.count("Invoice") == 0
    assert call(company, "POST", "query", b"select * from Invoice").status == 200
