"""QboClient.batch against recorded-shape answers: checks before sending, answers matched by bId,
per-item faults as single-request errors, and every unclear outcome said to be unclear."""

from __future__ import annotations

import json
import logging

import pytest
import requests
import responses
from test_qbo import BASE, Env, _params

from qbsync.errors import (
    QboError,
    QboInvalidRequestError,
    QboStaleObjectError,
    QboThrottledError,
    QboUnavailableError,
    QboUnclearOutcomeError,
    QboValidationError,
)
from qbsync.qbo.batch import BatchAnswer
from qbsync.qbo.client import BatchItem
from qbsync.qbo.faults import batch_item_error


@pytest.fixture
def env() -> Env:
    return Env()


def _fault(code: str, message: str = "x", kind: str = "ValidationFault") -> dict[str, object]:
    return {"Error": [{"Message": message, "Detail": "d", "code": code}], "type": kind}


ITEMS = [
    BatchItem("b1", "create", "Customer", {"DisplayName": "A"}),
    BatchItem("b2", "update", "Customer", {"Id": "9", "SyncToken": "0", "sparse": True}),
]


@responses.activate
def test_batch_sends_requestid_and_items_answer_alone(env: Env) -> None:
    answer = {"BatchItemResponse": [
        {"Customer": {"Id": "1"}, "bId": "b1"},
        {"Fault": _fault("610", "Object Not Found"), "bId": "b2"},
    ]}  # fmt: skip
    responses.post(f"{BASE}/batch", json=answer)
    got = env.client.batch(ITEMS, "batch-req-1")
    assert _params(responses.calls[0])["requestid"] == ["batch-req-1"]
    assert json.loads(responses.calls[0].request.body) == {
        "BatchItemRequest": [
            {"bId": "b1", "operation": "create", "Customer": {"DisplayName": "A"}},
            {
                "bId": "b2",
                "operation": "update",
                "Customer": {"Id": "9", "SyncToken": "0", "sparse": True},
            },
        ]
    }
    assert list(got) == ["b1", "b2"]
    assert got["b1"] == BatchAnswer("b1", {"Id": "1"}, None)
    error = got["b2"].error
    assert got["b2"].entity is None
    assert isinstance(error, QboValidationError) and error.code == "610"
    assert not got["b2"].unclear


@responses.activate
def test_answers_are_matched_by_bid_not_position(env: Env) -> None:
    answer = {"BatchItemResponse": [
        {"Fault": _fault("5010", "Stale Object Error"), "bId": "b2"},
        {"Customer": {"Id": "1", "DisplayName": "A"}, "bId": "b1"},
    ]}  # fmt: skip
    responses.post(f"{BASE}/batch", json=answer)
    got = env.client.batch(ITEMS, "r")
    assert got["b1"].entity == {"Id": "1", "DisplayName": "A"}
    assert isinstance(got["b2"].error, QboStaleObjectError)
    assert got["b2"].error.code == "5010"


@responses.activate
@pytest.mark.parametrize(
    ("code", "kind", "exc"),
    [
        ("6240", "ValidationFault", QboValidationError),
        ("5010", "ValidationFault", QboStaleObjectError),
        ("6000", "ValidationFault", QboValidationError),
        ("3001", "ValidationFault", QboThrottledError),
        ("10000", "SystemFault", QboUnclearOutcomeError),  # a server failure on the item
    ],
)
def test_item_faults_map_like_single_requests_with_code_kept(
    env: Env, code: str, kind: str, exc: type[QboError]
) -> None:
    answer = {"BatchItemResponse": [
        {"Customer": {"Id": "1"}, "bId": "b1"},
        {"Fault": _fault(code, kind=kind), "bId": "b2"},
    ]}  # fmt: skip
    responses.post(f"{BASE}/batch", json=answer)
    error = env.client.batch(ITEMS, "r")["b2"].error
    assert type(error) is exc
    assert error.code == code and code in error.message


@responses.activate
def test_an_item_qbo_left_out_is_an_unclear_outcome(env: Env) -> None:
    responses.post(
        f"{BASE}/batch", json={"BatchItemResponse": [{"Customer": {"Id": "1"}, "bId": "b1"}]}
    )
    got = env.client.batch(ITEMS, "r")
    assert got["b1"].entity == {"Id": "1"}
    assert got["b2"].entity is None
    assert isinstance(got["b2"].error, QboUnclearOutcomeError)
    assert got["b2"].unclear
    assert "may or may not" in got["b2"].error.message


@responses.activate
def test_an_item_answered_with_neither_object_nor_fault_is_unclear(env: Env) -> None:
    responses.post(
        f"{BASE}/batch",
        json={"BatchItemResponse": [{"Customer": {"Id": "1"}, "bId": "b1"}, {"bId": "b2"}]},
    )
    assert env.client.batch(ITEMS, "r")["b2"].unclear


@responses.activate
def test_an_answer_with_an_unknown_bid_is_ignored_with_a_warning(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    answer = {"BatchItemResponse": [
        {"Customer": {"Id": "1"}, "bId": "b1"},
        {"Customer": {"Id": "2"}, "bId": "b2"},
        {"Customer": {"Id": "3"}, "bId": "zz"},
    ]}  # fmt: skip
    responses.post(f"{BASE}/batch", json=answer)
    with caplog.at_level(logging.WARNING, logger="qbsync.qbo.batch"):
        got = env.client.batch(ITEMS, "r")
    assert set(got) == {"b1", "b2"}
    assert got["b2"].entity == {"Id": "2"}
    assert "'zz'" in caplog.text


@responses.activate
@pytest.mark.parametrize(
    "failure",
    [
        {"status": 503},
        {"body": requests.ConnectionError("reset")},
        {"body": requests.Timeout("read timed out")},
    ],
)
def test_a_whole_batch_failure_is_unclear_after_the_retries(
    env: Env, failure: dict[str, object]
) -> None:
    responses.post(f"{BASE}/batch", **failure)  # type: ignore[arg-type]
    with pytest.raises(QboUnclearOutcomeError) as info:
        env.client.batch(ITEMS, "r")
    assert isinstance(info.value, QboUnavailableError)  # callers catching the old type still do
    assert len(responses.calls) == 3  # retried: the requestid makes that safe
    assert all(_params(c)["requestid"] == ["r"] for c in responses.calls)


@responses.activate
def test_a_batch_refused_as_a_whole_is_a_clear_error(env: Env) -> None:
    fault = {"Fault": _fault("1040", "Batch size exceeds allowed limit")}
    responses.post(f"{BASE}/batch", status=400, json=fault)
    with pytest.raises(QboValidationError) as info:
        env.client.batch(ITEMS, "r")
    assert not isinstance(info.value, QboUnavailableError)
    assert info.value.code == "1040"


@pytest.mark.parametrize(
    ("items", "request_id", "message"),
    [
        (ITEMS * 16, "r", "1 to 30 items"),
        ([], "r", "1 to 30 items"),
        (ITEMS, "x" * 37, "36 characters"),
        (ITEMS, "", "36 characters"),
        ([BatchItem("b" * 11, "create", "Customer", {})], "r", "longer than 10"),
        ([BatchItem("", "create", "Customer", {})], "r", "empty"),
        ([ITEMS[0], ITEMS[0]], "r", "used twice"),
        ([BatchItem("b1", "delete", "Customer", {"Id": "1"})], "r", "operation"),
        ([BatchItem("b1", "update", "Customer", {"Id": "1"})], "r", "SyncToken"),
        ([BatchItem("b1", "create", "customer/../x", {})], "r", "entity"),
        ([{"bId": "b1", "operation": "create", "Customer": {}}], "r", "BatchItem"),
    ],
)
@responses.activate
def test_what_qbo_would_refuse_is_refused_before_sending(
    env: Env, items: list[BatchItem], request_id: str, message: str
) -> None:
    with pytest.raises(QboInvalidRequestError, match=message) as info:
        env.client.batch(items, request_id)
    assert isinstance(info.value, ValueError)
    assert len(responses.calls) == 0


def test_thirty_items_and_a_36_character_requestid_are_allowed() -> None:
    from qbsync.qbo.batch import request_body

    items = [BatchItem(f"b{i}", "create", "Customer", {"DisplayName": f"M{i}"}) for i in range(30)]
    assert len(request_body(items, "x" * 36)["BatchItemRequest"]) == 30


def test_a_batch_answer_holds_exactly_one_of_entity_and_error() -> None:
    with pytest.raises(ValueError):
        BatchAnswer("b1", None, None)
    with pytest.raises(ValueError):
        BatchAnswer("b1", {"Id": "1"}, QboError("x"))


def test_batch_item_error_still_reads_a_raw_item() -> None:
    assert batch_item_error({"Customer": {"Id": "1"}, "bId": "b1"}) is None
    error = batch_item_error({"Fault": _fault("610"), "bId": "b2"})
    assert isinstance(error, QboValidationError) and error.code == "610"
