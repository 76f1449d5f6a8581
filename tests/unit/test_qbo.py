"""The QBO gateway against recorded-shape responses (`responses`): auth, retries, paging, faults."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from quickbooks import QuickBooks
from quickbooks.objects.customer import Customer

from qbsync.config import QboConfig
from qbsync.errors import (
    AuthError,
    QboError,
    QboStaleObjectError,
    QboThrottledError,
    QboUnavailableError,
    QboValidationError,
)
from qbsync.qbo.client import QboClient
from qbsync.qbo.session import QboSession, RetryPolicy, retry_after_seconds

REALM = "9130"
BASE = f"https://sandbox-quickbooks.api.intuit.com/v3/company/{REALM}"
XML_THROTTLE = (
    '<?xml version="1.0"?><IntuitResponse><Fault type="SERVICE"><Error code="3001">'
    "<Message>message=ThrottleExceeded; errorCode=003001; statusCode=429</Message>"
    "<Detail>The request limit was reached.  Try again later</Detail></Error></Fault></IntuitResponse>"
)


class StubTokens:
    def __init__(self) -> None:
        self.current = "acc-1"
        self.refreshes = 0
        self.realm_id = REALM

    def access_token(self) -> str:
        return self.current

    def after_401(self, token_used: str) -> str:
        self.refreshes += 1
        self.current = f"acc-{self.refreshes + 1}"
        return self.current


def _settings(environment: str = "sandbox") -> QboConfig:
    return QboConfig(environment, "cid", "http://localhost:8765/callback", ("a",), 75, 12.5)


class Env:
    def __init__(self, environment: str = "sandbox") -> None:
        self.tokens = StubTokens()
        self.sleeps: list[float] = []
        retry = RetryPolicy(max_attempts=3, base_delay=0.5, max_delay=4, throttle_delay=60)
        self.session = QboSession(
            self.tokens,  # type: ignore[arg-type]
            timeout=12.5,
            retry=retry,
            sleep=self.sleeps.append,
        )
        self.client = QboClient(_settings(environment), self.tokens, session=self.session)  # type: ignore[arg-type]


@pytest.fixture
def env() -> Env:
    return Env()


def _params(call: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


@responses.activate
def test_company_info_sends_bearer_timeout_minorversion(env: Env) -> None:
    responses.get(f"{BASE}/companyinfo/{REALM}", json={"CompanyInfo": {"CompanyName": "Acme"}})
    assert env.client.company_info()["CompanyName"] == "Acme"
    call = responses.calls[0]
    assert call.request.headers["Authorization"] == "Bearer acc-1"
    assert call.request.req_kwargs["timeout"] == 12.5
    assert _params(call)["minorversion"] == ["75"]


@responses.activate
def test_401_refreshes_once_and_retries_even_a_post(env: Env) -> None:
    responses.post(f"{BASE}/customer", status=401, json={"fault": {"error": [{"code": "3200"}]}})
    responses.post(f"{BASE}/customer", json={"Customer": {"Id": "7"}})
    assert env.client.create("Customer", {"DisplayName": "A"}, "req-1") == {"Id": "7"}
    assert [c.request.headers["Authorization"] for c in responses.calls] == [
        "Bearer acc-1",
        "Bearer acc-2",
    ]
    assert env.tokens.refreshes == 1


@responses.activate
def test_second_401_is_auth_error(env: Env) -> None:
    body = {
        "fault": {
            "error": [
                {
                    "message": "message=AuthenticationFailed; errorCode=003200; statusCode=401",
                    "code": "3200",
                }
            ],
            "type": "AUTHENTICATION",
        }
    }
    responses.get(f"{BASE}/companyinfo/{REALM}", status=401, json=body)
    with pytest.raises(AuthError) as info:
        env.client.company_info()
    assert len(responses.calls) == 2
    assert env.tokens.refreshes == 1
    assert "acc-" not in info.value.message
    assert int(info.value.exit_code) == 3


@responses.activate
def test_403_3100_is_auth_error(env: Env) -> None:
    body = {
        "Fault": {
            "Error": [{"Message": "AuthorizationFailed", "code": "3100"}],
            "type": "AuthorizationFault",
        }
    }
    responses.get(f"{BASE}/customer/1", status=403, json=body)
    with pytest.raises(AuthError, match="3100"):
        env.client.get("Customer", "1")


@responses.activate
def test_429_waits_retry_after_then_succeeds(env: Env) -> None:
    responses.get(f"{BASE}/customer/1", status=429, headers={"Retry-After": "2"}, body=XML_THROTTLE)
    responses.get(f"{BASE}/customer/1", status=429, body=XML_THROTTLE)
    responses.get(f"{BASE}/customer/1", json={"Customer": {"Id": "1", "Balance": 10.10}})
    customer = env.client.get("Customer", "1")
    assert customer["Balance"] == Decimal("10.10")
    assert env.sleeps == [2.0, 60.0]  # Retry-After, then Intuit's 60 s default


@responses.activate
def test_xml_throttle_after_retries_is_throttled_error_with_code(env: Env) -> None:
    responses.get(f"{BASE}/customer/1", status=429, body=XML_THROTTLE)
    with pytest.raises(QboThrottledError) as info:
        env.client.get("Customer", "1")
    assert info.value.code == "3001"
    assert len(responses.calls) == 3


@responses.activate
def test_old_style_403_throttle_is_retried(env: Env) -> None:
    responses.get(f"{BASE}/customer/1", status=403, body=XML_THROTTLE.replace("429", "403"))
    responses.get(f"{BASE}/customer/1", json={"Customer": {"Id": "1"}})
    assert env.client.get("Customer", "1") == {"Id": "1"}


@responses.activate
def test_5xx_backs_off_for_get_with_growing_delays(env: Env) -> None:
    responses.get(f"{BASE}/customer/1", status=503)
    with pytest.raises(QboUnavailableError):
        env.client.get("Customer", "1")
    assert len(responses.calls) == 3
    assert 0.25 <= env.sleeps[0] <= 0.5 and 0.5 <= env.sleeps[1] <= 1.0


@responses.activate
def test_post_without_requestid_is_not_retried(env: Env) -> None:
    responses.post(f"{BASE}/customer", status=502)
    with pytest.raises(QboUnavailableError):
        env.client.call("POST", "customer", body={"DisplayName": "A"})
    assert len(responses.calls) == 1
    responses.post(f"{BASE}/customer", body=requests.ConnectionError("reset"))
    with pytest.raises(QboUnavailableError, match="not retried"):
        env.client.call("POST", "customer", body={"DisplayName": "A"})
    assert len(responses.calls) == 2


@responses.activate
def test_post_with_requestid_is_retried_on_5xx_and_network_errors(env: Env) -> None:
    responses.post(f"{BASE}/customer", status=500)
    responses.post(f"{BASE}/customer", body=requests.ConnectionError("reset"))
    responses.post(f"{BASE}/customer", json={"Customer": {"Id": "8"}})
    assert env.client.create("Customer", {"DisplayName": "A"}, "req-8")["Id"] == "8"
    assert [_params(c)["requestid"] for c in responses.calls] == [["req-8"]] * 3


@responses.activate
def test_query_pages_until_a_short_page_and_is_retried(env: Env) -> None:
    rows = [{"Id": str(i)} for i in range(5)]
    responses.post(f"{BASE}/query", status=503)
    for start in (0, 2, 4):
        page = rows[start : start + 2]
        responses.post(
            f"{BASE}/query",
            json={
                "QueryResponse": {
                    "Customer": page,
                    "startPosition": start + 1,
                    "maxResults": len(page),
                }
            },
        )
    assert env.client.query("select * from Customer", page_size=2) == rows
    bodies = [c.request.body for c in responses.calls[1:]]
    assert bodies == [
        "select * from Customer ORDERBY Id STARTPOSITION 1 MAXRESULTS 2",
        "select * from Customer ORDERBY Id STARTPOSITION 3 MAXRESULTS 2",
        "select * from Customer ORDERBY Id STARTPOSITION 5 MAXRESULTS 2",
    ]
    assert responses.calls[1].request.headers["Content-Type"] == "application/text"


@responses.activate
def test_empty_query_response(env: Env) -> None:
    responses.post(f"{BASE}/query", json={"QueryResponse": {}, "time": "x"})
    assert env.client.query("select * from Customer where Id = '999'") == []
    with pytest.raises(ValueError):
        env.client.query("select * from Customer maxresults 5")


@responses.activate
@pytest.mark.parametrize(
    ("status", "code", "exc"),
    [
        (400, "6240", QboValidationError),
        (400, "5010", QboStaleObjectError),
        (200, "6000", QboError),  # a 200 carrying a Fault
        (500, "10000", QboUnavailableError),
    ],
)
def test_faults_map_to_errors_with_code(
    env: Env, status: int, code: str, exc: type[QboError]
) -> None:
    fault = {
        "Fault": {
            "Error": [
                {
                    "Message": "Duplicate Name Exists Error",
                    "Detail": "The name supplied already exists.",
                    "code": code,
                    "element": "",
                }
            ],
            "type": "ValidationFault",
        }
    }
    responses.post(f"{BASE}/customer", status=status, json=fault)
    with pytest.raises(exc) as info:
        env.client.create("Customer", {"DisplayName": "A"}, "r")
    assert info.value.code == code
    assert code in info.value.message


@responses.activate
def test_update_needs_sync_token_and_sends_decimals_exactly(env: Env) -> None:
    responses.post(f"{BASE}/invoice", json={"Invoice": {"Id": "3", "SyncToken": "1"}})
    with pytest.raises(ValueError):
        env.client.update("Invoice", {"Id": "3"}, "r")
    env.client.update("Invoice", {"Id": "3", "SyncToken": "0", "TotalAmt": Decimal("25.10")}, "r2")
    assert json.loads(responses.calls[0].request.body)["TotalAmt"] == 25.1


@responses.activate
def test_python_quickbooks_objects_go_through_the_session(env: Env) -> None:
    responses.get(f"{BASE}/customer/5", json={"Customer": {"Id": "5", "DisplayName": "Zoe"}})
    customer = Customer.get(5, qb=env.client.qb)
    assert customer.DisplayName == "Zoe"
    call = responses.calls[0]
    assert call.request.headers["Authorization"] == "Bearer acc-1"
    assert call.request.req_kwargs["timeout"] == 12.5


def test_api_base_is_set_on_the_instance_not_the_class() -> None:
    emu = Env("http://127.0.0.1:4116")
    assert emu.client.qb.api_url == "http://127.0.0.1:4116/v3"
    prod = Env("production")
    assert prod.client.qb.api_url == "https://quickbooks.api.intuit.com/v3"
    assert QuickBooks.sandbox_api_url_v3 == "https://sandbox-quickbooks.api.intuit.com/v3"
    assert QuickBooks.api_url_v3 == "https://quickbooks.api.intuit.com/v3"


def test_retry_after_parsing() -> None:
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


def test_python_quickbooks_exceptions_map_to_qbsync_errors() -> None:
    from quickbooks.exceptions import AuthorizationException, QuickbooksException

    from qbsync.qbo.faults import from_quickbooks_exception

    stale = from_quickbooks_exception(QuickbooksException("Stale Object Error", 5010, "x"))
    assert isinstance(stale, QboStaleObjectError) and stale.code == "5010"
    auth = from_quickbooks_exception(AuthorizationException("failed", 401, "Bearer abc.def"))
    assert isinstance(auth, AuthError)
    throttled = from_quickbooks_exception(
        QuickbooksException(f"Error reading json response: {XML_THROTTLE}", 10000)
    )
    assert isinstance(throttled, QboThrottledError) and throttled.code == "3001"


@responses.activate
def test_a_plain_403_is_not_mistaken_for_a_throttle(env: Env) -> None:
    body = {
        "Fault": {"Error": [{"Message": "AuthorizationFailed", "code": "3100"}]},
        "time": "2026-01-01T03:00:01.3001",
    }
    responses.get(f"{BASE}/customer/1", status=403, json=body)
    with pytest.raises(AuthError):
        env.client.get("Customer", "1")
    assert len(responses.calls) == 1


@responses.activate
def test_a_redirect_is_never_followed(env: Env) -> None:
    # A 307 would make requests re-send the create's body to the address it names.
    responses.add(
        responses.POST,
        f"{BASE}/customer",
        status=307,
        headers={"Location": "https://elsewhere.example/collect"},
    )
    with pytest.raises(QboError):
        env.client.create("Customer", {"DisplayName": "Ann"}, request_id="r-1")
    assert [c.request.url.split("?")[0] for c in responses.calls] == [f"{BASE}/customer"]


@responses.activate
def test_a_broken_body_mid_read_is_unavailable_and_retried_when_safe(env: Env) -> None:
    responses.add(
        responses.GET,
        f"{BASE}/companyinfo/{REALM}",
        body=requests.exceptions.ChunkedEncodingError("connection broken mid-body"),
    )
    responses.add(
        responses.GET,
        f"{BASE}/companyinfo/{REALM}",
        json={"CompanyInfo": {"CompanyName": "Sunrise"}},
    )
    assert env.client.company_info()["CompanyName"] == "Sunrise"
    assert len(env.sleeps) == 1
    assert len(responses.calls) == 2  # the broken read, then the retry


@responses.activate
def test_a_broken_body_on_a_create_without_requestid_is_not_retried(env: Env) -> None:
    responses.add(
        responses.POST,
        f"{BASE}/customer",
        body=requests.exceptions.ChunkedEncodingError("connection broken mid-body"),
    )
    with pytest.raises(QboUnavailableError, match="not retried"):
        env.session.request("POST", f"{BASE}/customer", data="{}")
    assert len(responses.calls) == 1


@responses.activate
def test_query_keeps_a_given_order_and_reads_quoted_values_as_values(env: Env) -> None:
    responses.post(f"{BASE}/query", json={"QueryResponse": {}, "time": "x"})
    sql = "select * from Customer where DisplayName = 'Maxresults Ltd' orderby DisplayName"
    assert env.client.query(sql) == []
    assert responses.calls[0].request.body == f"{sql} STARTPOSITION 1 MAXRESULTS 1000"
    with pytest.raises(ValueError):
        env.client.query("select * from Customer where DisplayName = 'a' startposition 3")


def test_qbo_own_code_10000_is_a_server_failure_not_unreadable() -> None:
    from quickbooks.exceptions import QuickbooksException

    from qbsync.qbo.faults import from_quickbooks_exception

    own = from_quickbooks_exception(
        QuickbooksException("An application error has occurred", 10000, "")
    )
    assert isinstance(own, QboUnavailableError)
    unreadable = from_quickbooks_exception(
        QuickbooksException("Error reading json response: <html>", 10000, "")
    )
    assert not isinstance(unreadable, QboUnavailableError)
