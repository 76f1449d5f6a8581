"""QboClient's newer calls: preferences, query_pages, cdc, request_count, unclear write outcomes,
checks before sending; against recorded shapes (`responses`) and the emulator over HTTP."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
import requests
import responses
from test_qbo import BASE, REALM, Env, _params

from qbsync.emulator import Emulator
from qbsync.errors import (
    QboInvalidRequestError,
    QboStaleObjectError,
    QboUnavailableError,
    QboUnclearOutcomeError,
    QboValidationError,
)
from qbsync.qbo.client import BatchItem
from qbsync.qbo.pacing import PaceLimits
from testkit import connect_client


@pytest.fixture
def env() -> Env:
    return Env()


@responses.activate
def test_preferences_returns_the_preferences_object(env: Env) -> None:
    prefs = {"SalesFormsPrefs": {"CustomTxnNumbers": True}, "Id": "1"}
    responses.get(f"{BASE}/preferences", json={"Preferences": prefs, "time": "x"})
    assert env.client.preferences() == prefs
    assert _params(responses.calls[0])["minorversion"] == ["75"]


@responses.activate
def test_query_pages_yields_page_by_page_and_reads_lazily(env: Env) -> None:
    for page in ([{"Id": "1"}, {"Id": "2"}], [{"Id": "3"}]):
        responses.post(f"{BASE}/query", json={"QueryResponse": {"Customer": page}})
    pages = env.client.query_pages("select * from Customer", page_size=2)
    assert len(responses.calls) == 0  # nothing sent until the first page is asked for
    assert next(pages) == [{"Id": "1"}, {"Id": "2"}]
    assert len(responses.calls) == 1
    assert list(pages) == [[{"Id": "3"}]]
    assert env.client.request_count == 2


@responses.activate
def test_query_pages_of_an_empty_result_is_one_empty_page(env: Env) -> None:
    responses.post(f"{BASE}/query", json={"QueryResponse": {}})
    assert list(env.client.query_pages("select * from Customer")) == [[]]


@pytest.mark.parametrize("page_size", [0, 1001, -5])
def test_page_sizes_qbo_refuses_are_refused_before_sending(env: Env, page_size: int) -> None:
    with pytest.raises(QboInvalidRequestError, match="page_size"):
        env.client.query_pages("select * from Customer", page_size=page_size)
    with pytest.raises(QboInvalidRequestError):
        env.client.query("select * from Customer", page_size=page_size)


def test_paging_clauses_are_refused_before_sending(env: Env) -> None:
    with pytest.raises(QboInvalidRequestError, match="pages by itself"):
        env.client.query_pages("select * from Customer maxresults 5")


@responses.activate
def test_request_count_counts_every_attempt_on_the_wire(env: Env) -> None:
    responses.get(f"{BASE}/customer/1", status=503)
    responses.get(f"{BASE}/customer/1", body=requests.ConnectionError("reset"))
    responses.get(f"{BASE}/customer/1", json={"Customer": {"Id": "1"}})
    env.client.get("Customer", "1")
    assert env.client.request_count == 3
    with pytest.raises(QboInvalidRequestError):
        env.client.get("Customer", "../1")
    assert env.client.request_count == 3  # refused before sending: nothing counted


@responses.activate
def test_a_create_lost_after_the_retries_is_unclear_with_code_kept(env: Env) -> None:
    fault = {"Fault": {"Error": [{"Message": "An application error", "code": "10000"}]}}
    responses.post(f"{BASE}/customer", status=500, json=fault)
    with pytest.raises(QboUnclearOutcomeError) as info:
        env.client.create("Customer", {"DisplayName": "A"}, "req-1")
    assert info.value.code == "10000" and info.value.status == 500
    assert "may or may not" in info.value.message
    assert len(responses.calls) == 3


@responses.activate
def test_a_dropped_connection_on_a_create_is_unclear_but_on_a_read_is_not(env: Env) -> None:
    responses.post(f"{BASE}/customer", body=requests.ConnectionError("reset"))
    with pytest.raises(QboUnclearOutcomeError):
        env.client.create("Customer", {"DisplayName": "A"}, "req-1")
    responses.get(f"{BASE}/customer/1", body=requests.ConnectionError("reset"))
    with pytest.raises(QboUnavailableError) as info:
        env.client.get("Customer", "1")
    assert not isinstance(info.value, QboUnclearOutcomeError)


@responses.activate
def test_a_create_answered_without_the_object_is_unclear(env: Env) -> None:
    responses.post(f"{BASE}/customer", json={"time": "x"})
    with pytest.raises(QboUnclearOutcomeError):
        env.client.create("Customer", {"DisplayName": "A"}, "req-1")


@responses.activate
def test_sparse_update_is_sent_as_given(env: Env) -> None:
    responses.post(f"{BASE}/customer", json={"Customer": {"Id": "2", "SyncToken": "1"}})
    body = {"Id": "2", "SyncToken": "0", "sparse": True, "MiddleName": "Mark"}
    assert env.client.update("Customer", body, "upd-1") == {"Id": "2", "SyncToken": "1"}
    assert json.loads(responses.calls[0].request.body) == body
    with pytest.raises(QboInvalidRequestError):
        env.client.update("Customer", {**body, "sparse": "yes"}, "upd-1")


@pytest.mark.parametrize(
    ("entity", "request_id"),
    [("Customer", ""), ("Customer", "x" * 51), ("cust/omer", "r"), ("", "r")],
)
@responses.activate
def test_bad_writes_are_refused_before_sending(env: Env, entity: str, request_id: str) -> None:
    with pytest.raises(QboInvalidRequestError):
        env.client.create(entity, {"DisplayName": "A"}, request_id)
    assert len(responses.calls) == 0


@responses.activate
def test_a_50_character_requestid_is_sent(env: Env) -> None:
    responses.post(f"{BASE}/customer", json={"Customer": {"Id": "1"}})
    env.client.create("Customer", {"DisplayName": "A"}, "r" * 50)
    assert _params(responses.calls[0])["requestid"] == ["r" * 50]


def test_get_accepts_letter_ids_but_never_a_path(env: Env) -> None:
    with responses.RequestsMock() as mock:
        mock.get(f"{BASE}/taxcode/TAX", json={"TaxCode": {"Id": "TAX"}})
        assert env.client.get("TaxCode", "TAX") == {"Id": "TAX"}
    for bad in ("1/../../x", "", "1?x=2"):
        with pytest.raises(QboInvalidRequestError):
            env.client.get("Customer", bad)


# --- CDC -------------------------------------------------------------------------------------


@responses.activate
def test_cdc_groups_objects_by_entity_with_deleted_ones(env: Env) -> None:
    answer = {
        "CDCResponse": [
            {
                "QueryResponse": [
                    {"Customer": [{"Id": "1", "Balance": 10.10}], "startPosition": 1},
                    {"Invoice": [{"Id": "7", "status": "Deleted", "MetaData": {}}]},
                ]
            }
        ],
        "time": "x",
    }
    responses.get(f"{BASE}/cdc", json=answer)
    since = datetime.now(timezone(timedelta(hours=-7))).replace(microsecond=123456) - timedelta(
        days=2
    )
    got = env.client.cdc(["Customer", "Invoice", "Item"], since)
    assert got == {
        "Customer": [{"Id": "1", "Balance": Decimal("10.10")}],
        "Invoice": [{"Id": "7", "status": "Deleted", "MetaData": {}}],
        "Item": [],
    }
    params = _params(responses.calls[0])
    assert params["entities"] == ["Customer,Invoice,Item"]
    assert params["changedSince"] == [since.replace(microsecond=0).isoformat()]
    assert params["changedSince"][0].endswith("-07:00")


@responses.activate
def test_cdc_with_no_changes(env: Env) -> None:
    responses.get(f"{BASE}/cdc", json={"CDCResponse": [{"QueryResponse": [{}]}]})
    assert env.client.cdc(["Customer"], datetime.now(UTC)) == {"Customer": []}


@pytest.mark.parametrize(
    ("entities", "since", "message"),
    [
        (["Customer"], datetime.now(UTC) - timedelta(days=30, minutes=1), "30 days"),
        (["Customer"], datetime.now() - timedelta(days=1), "timezone"),
        ([], datetime.now(UTC), "entity"),
        ("Customer", datetime.now(UTC), "entity"),
        (["Customer,Invoice"], datetime.now(UTC), "letters"),
    ],
)
@responses.activate
def test_cdc_refuses_before_sending(
    env: Env, entities: list[str], since: datetime, message: str
) -> None:
    with pytest.raises(QboInvalidRequestError, match=message):
        env.client.cdc(entities, since)
    assert len(responses.calls) == 0


def test_cdc_against_the_emulator_shows_changes_and_deletions(tmp_path: Path) -> None:
    with Emulator(limits=False) as emu:
        client = connect_client(emu, tmp_path)
        item = client.query("select * from Item")[0]
        customer = client.create("Customer", {"DisplayName": "CDC Member"}, "cdc-cust-1")
        line = {
            "DetailType": "SalesItemLineDetail",
            "Amount": Decimal("25.00"),
            "SalesItemLineDetail": {
                "ItemRef": {"value": item["Id"]},
                "Qty": 1,
                "UnitPrice": Decimal("25.00"),
                "TaxCodeRef": {"value": "NON"},
            },
        }
        invoice = client.create(
            "Invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": [line]}, "cdc-inv-1"
        )
        emu.company.delete("Invoice", {"Id": invoice["Id"], "SyncToken": invoice["SyncToken"]})
        got = client.cdc(["Customer", "Invoice"], datetime.now(UTC) - timedelta(minutes=10))
        assert customer["Id"] in [c["Id"] for c in got["Customer"]]
        assert [(i["Id"], i.get("status")) for i in got["Invoice"]] == [(invoice["Id"], "Deleted")]
        assert client.preferences()["SalesFormsPrefs"] is not None
        assert client.request_count == sum(1 for e in emu.requests() if "/v3/company/" in e["path"])


def test_update_with_a_stale_sync_token_against_the_emulator(tmp_path: Path) -> None:
    with Emulator(limits=False) as emu:
        client = connect_client(emu, tmp_path)
        created = client.create("Customer", {"DisplayName": "Stale Member"}, "stale-1")
        body = {"Id": created["Id"], "SyncToken": created["SyncToken"], "sparse": True}
        updated = client.update("Customer", {**body, "Notes": "one"}, "stale-2")
        assert updated["Notes"] == "one" and updated["DisplayName"] == "Stale Member"
        with pytest.raises(QboStaleObjectError) as info:
            client.update("Customer", {**body, "Notes": "two"}, "stale-3")
        assert info.value.code == "5010"


def test_the_batch_pace_stays_under_qbo_s_limit_for_one_app() -> None:
    # QBO: 40 batch requests per minute per realm and app (qbo-facts.md "Batch"); the 120 on
    # Intuit's limits page is the realm's total over all apps.
    assert 36 <= PaceLimits().batches_per_minute <= 40
    assert PaceLimits(batches_per_minute=30).batches_per_minute == 30


def test_realm_id_comes_from_the_token_manager(env: Env) -> None:
    assert env.client.realm_id == REALM


# --- a refusal after an attempt that may have done the work is not a clear refusal -------------

DUPLICATE = {"Fault": {"Error": [{"Message": "Duplicate Name Exists Error", "code": "6240"}]}}
REPLAY_6000 = {"Fault": {"Error": [{"Message": "An unexpected error occurred", "code": "6000"}]}}


@responses.activate
@pytest.mark.parametrize(
    ("first", "then"),
    [
        ({"body": requests.ConnectionError("lost answer")}, DUPLICATE),
        ({"status": 503}, REPLAY_6000),
    ],
)
def test_a_fault_after_a_lost_or_5xx_attempt_is_unclear_with_code_kept(
    env: Env, first: dict[str, object], then: dict[str, object]
) -> None:
    responses.post(f"{BASE}/customer", **first)  # type: ignore[arg-type]
    responses.post(f"{BASE}/customer", status=400, json=then)
    with pytest.raises(QboUnclearOutcomeError) as info:
        env.client.create("Customer", {"DisplayName": "A"}, "req-1")
    code = then["Fault"]["Error"][0]["code"]  # type: ignore[index]
    assert info.value.code == code and info.value.status == 400


@responses.activate
@pytest.mark.parametrize(
    "first",
    [
        {"status": 429, "body": '<Fault><Error code="3001"></Error></Fault>'},
        {"status": 401, "json": {"fault": {"error": [{"code": "3200"}]}}},
    ],
)
def test_a_fault_after_a_throttle_or_401_stays_a_clear_refusal(
    env: Env, first: dict[str, object]
) -> None:
    # QBO ran neither the throttled nor the unauthorized attempt: the 6240 is about the data.
    responses.post(f"{BASE}/customer", **first)  # type: ignore[arg-type]
    responses.post(f"{BASE}/customer", status=400, json=DUPLICATE)
    with pytest.raises(QboValidationError) as info:
        env.client.create("Customer", {"DisplayName": "A"}, "req-1")
    assert not isinstance(info.value, QboUnclearOutcomeError)
    assert info.value.code == "6240"


@responses.activate
def test_batch_item_faults_after_a_lost_attempt_are_unclear(env: Env) -> None:
    responses.post(f"{BASE}/batch", body=requests.ConnectionError("lost answer"))
    answer = {"BatchItemResponse": [
        {"Customer": {"Id": "1"}, "bId": "b1"},
        {"Fault": DUPLICATE["Fault"], "bId": "b2"},
    ]}  # fmt: skip
    responses.post(f"{BASE}/batch", json=answer)
    items = [
        BatchItem("b1", "create", "Customer", {"DisplayName": "A"}),
        BatchItem("b2", "create", "Customer", {"DisplayName": "B"}),
    ]
    got = env.client.batch(items, "r")
    assert got["b1"].entity == {"Id": "1"}
    error = got["b2"].error
    assert got["b2"].unclear
    assert isinstance(error, QboUnclearOutcomeError) and error.code == "6240"
