"""QBO faults as QBO sends them: recorded bodies through the gateway (`responses`).

Each body is copied from a public capture (cited per test): status first, code second, and
Intuit's transaction id (`intuit_tid`) on every error.
"""

from __future__ import annotations

import logging

import pytest
import responses

from qbsync.config import QboConfig
from qbsync.errors import (
    AuthError,
    QboThrottledError,
    QboUnavailableError,
    QboUnclearOutcomeError,
    tid_in,
)
from qbsync.qbo.batch import BatchItem
from qbsync.qbo.client import QboClient
from qbsync.qbo.faults import batch_item_error
from qbsync.qbo.session import QboSession, RetryPolicy

REALM = "9130"
BASE = f"https://sandbox-quickbooks.api.intuit.com/v3/company/{REALM}"
TID = "8cb2e5b6-76a4-d4b0-a223-02300df8004b"

# python-quickbooks #106 (2018): a live company during an outage, HTTP 500.
OUTAGE_3100 = (
    '{"warnings":null,"intuitObject":null,"fault":{"error":[{"message":"message=InternalServerError;'
    ' errorCode=003100; statusCode=500","detail":null,"code":"3100","element":null}],'
    '"type":"SERVICE"},"report":null,"queryResponse":null,"batchItemResponse":[],'
    '"attachableResponse":[],"syncErrorResponse":null,"requestId":null,"time":1519164488680,'
    '"status":null,"cdcresponse":[]}'
)
# python-quickbooks #120 (2018): HTTP 401 with an XML AuthenticationFault, code 100.
XML_401_CODE_100 = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><IntuitResponse '
    'xmlns="http://schema.intuit.com/finance/v3" time="2018-08-20T02:23:36.095-07:00">'
    '<Fault type="AuthenticationFault"><Error code="100"><Message>General Authentication Error'
    "</Message><Detail>AuthenticationErrorGeneral: SRV-110-Authentication Failure , statusCode: 401"
    "</Detail></Error></Fault></IntuitResponse>"
)
# minimul/qbo_api #81 (2018): Intuit's load balancer during an outage, HTTP 503, text/html,
# header intuit_tid.
HTML_503 = (
    "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n"
    '<body bgcolor="white">\r\n<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n'
    "<hr><center>Avi Vantage/</center>\r\n</body>\r\n</html>\r\n"
)
# The same balancer's 502 (nginx's stock page; qbo_api #81 reports "status 502").
HTML_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad "
    "Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
# qbo-facts.md "Captured shapes": the XML throttle.
XML_THROTTLE = (
    '<?xml version="1.0"?><IntuitResponse><Fault type="SERVICE"><Error code="3001">'
    "<Message>message=ThrottleExceeded; errorCode=003001; statusCode=429</Message>"
    "<Detail>The request limit was reached.  Try again later</Detail></Error></Fault></IntuitResponse>"
)


class StubTokens:
    realm_id = REALM

    def __init__(self) -> None:
        self.refreshes = 0

    def access_token(self) -> str:
        return "acc-1"

    def after_401(self, token_used: str) -> str:
        self.refreshes += 1
        return "acc-2"


@pytest.fixture
def client() -> QboClient:
    tokens = StubTokens()
    retry = RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.01, throttle_delay=0.01)
    session = QboSession(tokens, timeout=5, retry=retry, sleep=lambda s: None)  # type: ignore[arg-type]
    settings = QboConfig("sandbox", "cid", "http://localhost:8765/callback", ("a",), 75, 5)
    return QboClient(settings, tokens, session=session)  # type: ignore[arg-type]


@responses.activate
def test_an_outage_500_with_code_3100_is_unavailable_not_auth(client: QboClient) -> None:
    responses.get(f"{BASE}/customer/1", status=500, body=OUTAGE_3100, headers={"intuit_tid": TID})
    with pytest.raises(QboUnavailableError) as info:
        client.get("Customer", "1")
    error = info.value
    assert not isinstance(error, AuthError)
    assert error.code == "3100" and error.status == 500
    assert int(error.exit_code) == 1  # not 3: `qbsync auth` would not help
    assert error.intuit_tid == TID
    assert f"Intuit transaction id {TID}" in error.message
    assert len(responses.calls) == 2  # a read is retried like any 5xx


@responses.activate
def test_an_outage_500_on_a_write_is_unclear(client: QboClient) -> None:
    responses.post(f"{BASE}/customer", status=500, body=OUTAGE_3100, headers={"intuit_tid": TID})
    with pytest.raises(QboUnclearOutcomeError) as info:
        client.create("Customer", {"DisplayName": "A"}, "req-1")
    assert info.value.code == "3100"
    assert info.value.intuit_tid == TID


@responses.activate
def test_a_403_3100_is_still_not_authorized(client: QboClient) -> None:
    body = {
        "Fault": {
            "Error": [
                {
                    "Message": "message=AuthorizationFailed; errorCode=003100; statusCode=403",
                    "code": "3100",
                }
            ],
            "type": "SERVICE",
        }
    }
    responses.get(f"{BASE}/customer/1", status=403, json=body, headers={"Intuit-Tid": TID})
    with pytest.raises(AuthError, match="not authorized") as info:
        client.get("Customer", "1")
    assert int(info.value.exit_code) == 3
    assert info.value.intuit_tid == TID


@responses.activate
def test_xml_401_authentication_fault_code_100_is_auth_error(client: QboClient) -> None:
    responses.get(
        f"{BASE}/customer/1",
        status=401,
        body=XML_401_CODE_100,
        content_type="application/xml",
        headers={"INTUIT_TID": TID},
    )
    with pytest.raises(AuthError) as info:
        client.get("Customer", "1")
    assert int(info.value.exit_code) == 3
    assert "100" in info.value.message
    assert info.value.intuit_tid == TID
    assert len(responses.calls) == 2  # one refresh, then the answer stands


@pytest.mark.parametrize(("status", "page"), [(502, HTML_502), (503, HTML_503)])
@responses.activate
def test_html_502_503_pages_are_unavailable(client: QboClient, status: int, page: str) -> None:
    responses.get(
        f"{BASE}/customer/1",
        status=status,
        body=page,
        content_type="text/html",
        headers={"intuit_tid": TID},
    )
    with pytest.raises(QboUnavailableError) as info:
        client.get("Customer", "1")
    assert info.value.status == status
    assert "Service Temporarily Unavailable" in info.value.message or "Bad Gateway" in (
        info.value.message
    )
    assert "<html" not in info.value.message
    assert info.value.intuit_tid == TID


@responses.activate
def test_xml_throttle_3001_is_throttled(client: QboClient) -> None:
    responses.get(f"{BASE}/customer/1", status=429, body=XML_THROTTLE, headers={"intuit_tid": TID})
    with pytest.raises(QboThrottledError) as info:
        client.get("Customer", "1")
    assert info.value.code == "3001"
    assert info.value.intuit_tid == TID


@responses.activate
def test_a_fault_inside_a_200_takes_the_status_its_message_names(client: QboClient) -> None:
    responses.get(f"{BASE}/customer/1", status=200, body=OUTAGE_3100)
    with pytest.raises(QboUnavailableError) as info:
        client.get("Customer", "1")
    assert info.value.status == 500
    assert info.value.intuit_tid is None
    assert "Intuit transaction id" not in info.value.message


def test_a_batch_item_with_the_outage_fault_is_unavailable_not_auth() -> None:
    fault = {
        "Error": [
            {
                "Message": "message=InternalServerError; errorCode=003100; statusCode=500",
                "code": "3100",
            }
        ],
        "type": "SERVICE",
    }
    error = batch_item_error({"Fault": fault, "bId": "b1"})
    assert isinstance(error, QboUnavailableError)


@responses.activate
def test_batch_item_errors_carry_the_batch_answer_s_tid(client: QboClient) -> None:
    answer = {
        "BatchItemResponse": [
            {
                "Fault": {
                    "Error": [{"Message": "Duplicate Name Exists Error", "code": "6240"}],
                    "type": "ValidationFault",
                },
                "bId": "b1",
            }
        ]
    }
    responses.post(f"{BASE}/batch", json=answer, headers={"intuit_tid": TID})
    item = BatchItem("b1", "create", "Customer", {"DisplayName": "A"})
    answers = client.batch([item], "batch-1")
    error = answers["b1"].error
    assert error is not None and error.intuit_tid == TID
    assert tid_in(error.message) == TID


@responses.activate
def test_the_tid_is_in_the_error_s_log_line(
    client: QboClient, caplog: pytest.LogCaptureFixture
) -> None:
    responses.get(f"{BASE}/customer/1", status=500, body=OUTAGE_3100, headers={"intuit_tid": TID})
    with caplog.at_level(logging.INFO, logger="qbsync"), pytest.raises(QboUnavailableError):
        client.get("Customer", "1")
    lines = [r.getMessage() for r in caplog.records]
    assert any("retrying" in line and TID in line for line in lines), lines
    assert any("Intuit transaction id" in line and TID in line for line in lines), lines


def test_a_tid_with_odd_characters_is_not_taken() -> None:
    import requests

    from qbsync.qbo.faults import intuit_tid

    resp = requests.Response()
    resp.headers["intuit_tid"] = "abc\r\nX-Evil: 1"
    assert intuit_tid(resp) is None
    resp.headers["intuit_tid"] = "1-2-3"
    assert intuit_tid(resp) == "1-2-3"
