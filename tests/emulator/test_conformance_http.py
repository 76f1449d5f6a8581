"""The emulator's HTTP side over real sockets: bearer auth, realm, limits, faults, admin, keep-alive."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from xml.etree import ElementTree

import pytest
import requests

from qbsync.emulator import Emulator
from qbsync.emulator.wire import dumps

TIMEOUT = 5


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(limits=False) as emulator:
        yield emulator


def api_url(emu: Emulator, subpath: str, realm: str | None = None) -> str:
    return f"{emu.base_url}/v3/company/{realm or emu.realm_id}/{subpath}"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept": "application/json"}


def company_info(
    emu: Emulator, token: str, session: Any = requests, **params: str
) -> requests.Response:
    url = api_url(emu, f"companyinfo/{emu.realm_id}")
    return session.get(url, headers=auth(token), params=params, timeout=TIMEOUT)


def create_customer(emu: Emulator, token: str, name: str, **params: str) -> requests.Response:
    return requests.post(
        api_url(emu, "customer"),
        headers={**auth(token), "Content-Type": "application/json"},
        params={"minorversion": "75", **params},
        data=json.dumps({"DisplayName": name}),
        timeout=TIMEOUT,
    )


def quickbooks_client(emu: Emulator, token: str) -> Any:
    """python-quickbooks pointed at the emulator the way library-notes.md describes."""
    from quickbooks import QuickBooks

    session = requests.Session()
    session.access_token = token  # type: ignore[attr-defined]  # read by process_request
    qb = QuickBooks(company_id=emu.realm_id, minorversion=75)
    qb.session = session
    qb.sandbox = True
    qb.sandbox_api_url_v3 = emu.base_url + "/v3"
    return qb


# -- bearer auth -----------------------------------------------------------------------------


def test_python_quickbooks_reads_company_info(emu: Emulator) -> None:
    from quickbooks.objects.company_info import CompanyInfo

    info = CompanyInfo.get(emu.realm_id, qb=quickbooks_client(emu, emu.issue_access_token()))
    assert info.CompanyName == emu.company.company_name
    [entry] = emu.requests()
    assert entry["template"] == "GET /v3/company/{realmId}/companyinfo/{id}"
    assert entry["params"]["minorversion"] == "75"
    assert entry["status"] == 200 and entry["delivered"] is True


def assert_auth_fault(response: requests.Response, detail_start: str) -> None:
    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/json;charset=UTF-8"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    body = response.json()
    assert set(body) == {"fault", "time"}
    assert isinstance(body["time"], int)
    [error] = body["fault"]["error"]
    assert body["fault"]["type"] == "AUTHENTICATION"
    assert error["code"] == "3200"
    assert error["message"] == "message=AuthenticationFailed; errorCode=003200; statusCode=401"
    assert error["detail"].startswith(detail_start)


def test_missing_bearer_token_is_401(emu: Emulator) -> None:
    response = requests.get(api_url(emu, "companyinfo/1"), timeout=TIMEOUT)
    assert_auth_fault(response, "Authorization header is missing")


def test_unknown_and_malformed_tokens_are_401(emu: Emulator) -> None:
    assert_auth_fault(company_info(emu, "made-up-token"), "Token invalid")
    response = requests.get(
        api_url(emu, "companyinfo/1"), headers={"Authorization": "Basic abc"}, timeout=TIMEOUT
    )
    assert_auth_fault(response, "Malformed bearer token")


def test_expired_token_is_401_and_python_quickbooks_raises(emu: Emulator) -> None:
    from quickbooks.exceptions import AuthorizationException
    from quickbooks.objects.company_info import CompanyInfo

    token = emu.issue_access_token()
    emu.clock.advance(3601)
    response = company_info(emu, token)
    assert_auth_fault(response, "Token expired")
    assert token not in response.text  # never echo a secret
    with pytest.raises(AuthorizationException):
        CompanyInfo.get(emu.realm_id, qb=quickbooks_client(emu, token))


def test_revoked_token_is_401(emu: Emulator) -> None:
    tokens = emu.issue_tokens()
    requests.post(
        emu.base_url + "/v2/oauth2/tokens/revoke",
        json={"token": tokens["refresh_token"]},
        auth=(emu.client.client_id, emu.client.client_secret),
        timeout=TIMEOUT,
    ).raise_for_status()
    assert_auth_fault(company_info(emu, tokens["access_token"]), "Token revoked")


def test_a_token_for_another_realm_is_403(emu: Emulator) -> None:
    other = emu.issue_access_token(realm_id="1234567890")
    response = company_info(emu, other)
    assert response.status_code == 403
    [error] = response.json()["fault"]["error"]
    assert error["code"] == "3100"
    assert error["message"] == "message=AuthorizationFailed; errorCode=003100; statusCode=403"
    # And our token on another realm's path.
    mine = emu.issue_access_token()
    response = requests.get(
        api_url(emu, "companyinfo/1", realm="1234567890"), headers=auth(mine), timeout=TIMEOUT
    )
    assert response.status_code == 403


def test_requests_are_recorded_with_minorversion_requestid_and_status(emu: Emulator) -> None:
    token = emu.issue_access_token()
    before = emu.company.count("Customer")
    assert create_customer(emu, token, "Recorded Ltd", requestid="rid-1").status_code == 200
    company_info(emu, token)  # no minorversion
    assert emu.company.count("Customer") == before + 1
    first, second = emu.requests()
    assert first["method"] == "POST" and first["template"] == "POST /v3/company/{realmId}/customer"
    assert first["params"] == {"minorversion": "75", "requestid": "rid-1"}
    assert first["status"] == 200
    assert "minorversion" not in second["params"]
    assert emu.request_counts() == {
        "POST /v3/company/{realmId}/customer": 1,
        "GET /v3/company/{realmId}/companyinfo/{id}": 1,
    }


def test_api_requests_must_ask_for_json(emu: Emulator) -> None:
    # QBO answers XML without `Accept: application/json`; the emulator refuses loudly instead.
    token = emu.issue_access_token()
    url = api_url(emu, f"companyinfo/{emu.realm_id}")
    for accept in (None, "*/*", "application/xml"):
        headers = {"Authorization": f"Bearer {token}"}
        if accept:
            headers["Accept"] = accept
        response = requests.get(url, headers=headers, timeout=TIMEOUT)
        assert response.status_code == 406
        assert response.headers["Content-Type"].startswith("application/xml")
        with pytest.raises(ValueError):
            response.json()
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json;q=0.9, */*"}
    assert requests.get(url, headers=headers, timeout=TIMEOUT).status_code == 200


def test_decimals_are_written_exactly_as_json_numbers() -> None:
    text = dumps(
        {"Amount": Decimal("25.10"), "Qty": Decimal("0.333333333333333333"), "n": [1, True, None]}
    )
    assert text == '{"Amount":25.10,"Qty":0.333333333333333333,"n":[1,true,null]}'
    assert json.loads(text, parse_float=Decimal)["Amount"] == Decimal("25.10")
    with pytest.raises(ValueError):
        dumps({"bad": Decimal("NaN")})


# -- keep-alive and robustness ---------------------------------------------------------------


def test_keep_alive_200_sequential_requests_are_fast(emu: Emulator) -> None:
    token = emu.issue_access_token()
    with requests.Session() as session:
        started = time.perf_counter()
        for _ in range(200):
            response = company_info(emu, token, session=session, minorversion="75")
            assert response.status_code == 200
            assert "Content-Length" in response.headers and "intuit_tid" in response.headers
        elapsed = time.perf_counter() - started
    assert elapsed < 2.0, f"200 keep-alive requests took {elapsed:.2f}s (Nagle?)"
    assert len(emu.requests()) == 200


def test_server_survives_clients_that_disconnect(emu: Emulator) -> None:
    host, port = emu.host, emu.port
    with socket.create_connection((host, port), timeout=TIMEOUT) as sock:
        sock.sendall(
            b"POST /oauth2/v1/tokens/bearer HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\nabc"
        )
    with socket.create_connection((host, port), timeout=TIMEOUT) as sock:
        sock.sendall(b"GET /v3/company/1/companyinfo/1 HT")
    with socket.create_connection((host, port), timeout=TIMEOUT) as sock:
        sock.sendall(b"BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n")
        reply = b""
        while chunk := sock.recv(1000):  # http.server closes after an error: read to the end
            reply += chunk
        assert reply.startswith(b"HTTP/1.1 501")
        assert json.loads(reply.split(b"\r\n\r\n", 1)[1])["status"] == 501
    assert company_info(emu, emu.issue_access_token()).status_code == 200


def test_unknown_paths_and_methods(emu: Emulator) -> None:
    assert requests.get(emu.base_url + "/nothing", timeout=TIMEOUT).status_code == 404
    response = requests.get(emu.base_url + "/oauth2/v1/tokens/bearer", timeout=TIMEOUT)
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"


# -- rate limits ------------------------------------------------------------------------------


def xml_fault(response: requests.Response) -> dict[str, str]:
    """The Fault of an XML answer: its type, and its Error's code, Message and Detail."""
    ns = {"i": "http://schema.intuit.com/finance/v3"}
    root = ElementTree.fromstring(response.content)
    fault = root.find("i:Fault", ns)
    assert fault is not None, response.text
    error = fault.find("i:Error", ns)
    assert error is not None, response.text
    return {
        "type": fault.get("type", ""),
        "code": error.get("code", ""),
        "Message": error.findtext("i:Message", "", ns),
        "Detail": error.findtext("i:Detail", "", ns),
    }


def throttled(response: requests.Response) -> None:
    """A 429 ThrottleExceeded, in the default XML (every captured 429 is XML) or in JSON."""
    assert response.status_code == 429
    if response.headers["Content-Type"].startswith("application/xml"):
        error = xml_fault(response)
        kind = error["type"]
    else:
        body = response.json()
        [error] = body["Fault"]["Error"]
        kind = body["Fault"]["type"]
    assert error["code"] == "3001"
    assert error["Message"] == "message=ThrottleExceeded; errorCode=003001; statusCode=429"
    assert error["Detail"] == "The request limit was reached.  Try again later"
    assert kind == "SERVICE"


def test_ten_requests_per_second() -> None:
    with Emulator() as emu, requests.Session() as session:
        token = emu.issue_access_token()
        statuses = [company_info(emu, token, session=session).status_code for _ in range(10)]
        assert statuses == [200] * 10
        throttled(company_info(emu, token, session=session))
        assert emu.requests()[-1]["throttled"] == "per_second"
        emu.clock.advance(1.0)
        assert company_info(emu, token, session=session).status_code == 200


def test_windows_slide_rather_than_reset_on_a_boundary() -> None:
    with Emulator() as emu, requests.Session() as session:
        token = emu.issue_access_token()
        for _ in range(10):
            assert company_info(emu, token, session=session).status_code == 200
        emu.clock.advance(0.6)  # a fixed one-second window might have restarted by now
        throttled(company_info(emu, token, session=session))
        emu.clock.advance(0.5)  # the first ten are now more than a second old
        assert company_info(emu, token, session=session).status_code == 200


def test_throttle_body_is_the_captured_xml_by_default() -> None:
    # qbo-facts.md "Captured shapes": every captured throttle body is XML.
    from quickbooks.exceptions import QuickbooksException
    from quickbooks.objects.company_info import CompanyInfo

    with Emulator() as emu:
        token = emu.issue_access_token()
        for _ in range(10):
            company_info(emu, token)
        response = company_info(emu, token)
        assert response.status_code == 429
        assert response.headers["Content-Type"].startswith("application/xml")
        assert '<Fault type="SERVICE"><Error code="3001">' in response.text
        assert (
            "<Message>message=ThrottleExceeded; errorCode=003001; statusCode=429</Message>"
            in response.text
        )
        # python-quickbooks cannot parse it: code 10000, as qbo-facts.md says.
        with pytest.raises(QuickbooksException) as caught:
            CompanyInfo.get(emu.realm_id, qb=quickbooks_client(emu, token))
        assert caught.value.error_code == 10000


def test_five_hundred_requests_per_minute() -> None:
    # Stepping the clock one second after every 10 requests keeps the per-second limit out of
    # the way; 500 requests then span ~50 of the minute's 60 s, leaving room for a slow machine.
    with Emulator() as emu, requests.Session() as session:
        token = emu.issue_access_token()
        for index in range(500):
            if index and index % 10 == 0:
                emu.clock.advance(1.0)
            assert company_info(emu, token, session=session).status_code == 200
        emu.clock.advance(1.0)
        throttled(company_info(emu, token, session=session))
        assert emu.requests()[-1]["throttled"] == "per_minute"
        emu.clock.advance(60)
        assert company_info(emu, token, session=session).status_code == 200


def _batch_limit_holds(emu: Emulator, limit: int) -> None:
    # A "minute" lasts 60/scale s; batches are spread past the per-second window (1/scale s:
    # at most 8 fit in it) so that only the batch limit can refuse them.
    scale = emu.limiter.time_scale
    with requests.Session() as session:
        token = emu.issue_access_token()
        url = api_url(emu, "batch")
        body = json.dumps({"BatchItemRequest": []})

        def batch() -> requests.Response:
            emu.clock.advance(0.12 / scale)
            headers = {**auth(token), "Content-Type": "application/json"}
            return session.post(url, headers=headers, data=body, timeout=TIMEOUT)

        for _ in range(limit):
            assert batch().status_code != 429
        throttled(batch())
        assert emu.requests()[-1]["throttled"] == "batch_per_minute"
        assert company_info(emu, token, session=session).status_code == 200  # others still pass
        emu.clock.advance(60 / scale)
        assert batch().status_code != 429


def test_forty_batch_requests_per_minute_by_default() -> None:
    # Intuit's limits page (qbo-facts.md "Batch"): 40 batch requests a minute per realm and app.
    with Emulator(time_scale=60) as emu:
        _batch_limit_holds(emu, 40)


def test_a_hundred_and_twenty_batch_requests_per_minute_on_request() -> None:
    # The realm's total over all apps (batch_per_minute=120 / serve --batch-per-minute 120).
    # A "minute" of 3 s leaves room for 120 requests on a slow machine.
    with Emulator(time_scale=20, batch_per_minute=120) as emu:
        _batch_limit_holds(emu, 120)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_batch_per_minute_must_be_a_positive_whole_number(bad: Any) -> None:
    with pytest.raises(ValueError, match="batch_per_minute"):
        Emulator(batch_per_minute=bad)


def test_ten_concurrent_requests() -> None:
    with Emulator() as emu:
        token = emu.issue_access_token()
        emu.inject_fault("*/companyinfo/*", "hang", count=10, hang_seconds=0.8)
        results: list[int] = []

        def slow() -> None:
            results.append(company_info(emu, token).status_code)

        threads = [threading.Thread(target=slow) for _ in range(10)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 3
        while sum(1 for e in emu.requests() if e["fault"] == "hang") < 10:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        throttled(company_info(emu, token))
        assert emu.requests()[-1]["throttled"] == "concurrent"
        for thread in threads:
            thread.join()
        assert results == [504] * 10
        emu.clock.advance(1.0)
        assert company_info(emu, token).status_code == 200


def test_limits_off() -> None:
    with Emulator(limits=False) as emu, requests.Session() as session:
        token = emu.issue_access_token()
        assert all(company_info(emu, token, session=session).status_code == 200 for _ in range(30))


# -- faults -----------------------------------------------------------------------------------


def test_error_fault_500_is_the_captured_lowercase_3100(emu: Emulator) -> None:
    # python-quickbooks issue 106 (2018): a real outage, HTTP 500 with this body, field for field.
    token = emu.issue_access_token()
    emu.inject_fault("*/companyinfo/*", "error")
    response = company_info(emu, token)
    assert response.status_code == 500
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["fault"] == {
        "error": [
            {
                "message": "message=InternalServerError; errorCode=003100; statusCode=500",
                "detail": None,
                "code": "3100",
                "element": None,
            }
        ],
        "type": "SERVICE",
    }
    assert "Fault" not in body and isinstance(body["time"], int)  # epoch milliseconds
    assert body["batchItemResponse"] == [] and body["queryResponse"] is None
    assert company_info(emu, token).status_code == 200  # count=1: used up
    assert [e["fault"] for e in emu.requests()] == ["error", None]


def test_error_fault_other_statuses_are_qbos_system_fault(emu: Emulator) -> None:
    token = emu.issue_access_token()
    emu.inject_fault("*/companyinfo/*", "error", status=503)
    response = company_info(emu, token)
    assert response.status_code == 503
    assert response.json()["Fault"]["Error"][0]["code"] == "10000"
    assert response.json()["Fault"]["type"] == "SystemFault"


@pytest.mark.parametrize(("status", "title"), [(None, "502 Bad Gateway"), (503, "503 Service")])
def test_gateway_fault_is_an_html_page(emu: Emulator, status: int | None, title: str) -> None:
    # minimul/qbo_api issue 81 / PR 102: QBO's gateways answer nginx pages, text/html.
    token = emu.issue_access_token()
    emu.inject_fault("*/customer", "gateway", status=status, method="POST")
    response = requests.post(
        api_url(emu, "customer"),
        headers={**auth(token), "Content-Type": "application/json"},
        json={"DisplayName": "Gateway Victim"},
        timeout=TIMEOUT,
    )
    assert response.status_code == (status or 502)
    assert response.headers["Content-Type"] == "text/html"
    assert response.text.startswith("<html>") and f"<title>{title}" in response.text
    with pytest.raises(ValueError):
        response.json()
    # The work was not done, and the fault was used up.
    assert emu.company.query("select * from Customer where DisplayName = 'Gateway Victim'") == {}
    assert company_info(emu, token).status_code == 200


def test_auth_fault_is_the_captured_xml_401(emu: Emulator) -> None:
    # intuit/oauth-jsclient issues 91 and 135, python-quickbooks issue 120.
    token = emu.issue_access_token()
    emu.inject_fault("*/companyinfo/*", "auth")
    response = company_info(emu, token)
    assert response.status_code == 401
    assert response.headers["Content-Type"].startswith("application/xml")
    assert xml_fault(response) == {
        "type": "AuthenticationFault",
        "code": "100",
        "Message": "General Authentication Error",
        "Detail": "AuthenticationErrorGeneral: SRV-110-Authentication Failure , statusCode: 401",
    }
    assert emu.token_state(token) == "active"  # a fault, not a revocation
    assert company_info(emu, token).status_code == 200


@pytest.mark.parametrize(
    ("kind", "status"), [("gateway", 404), ("gateway", 429), ("auth", 403), ("auth", 500)]
)
def test_gateway_and_auth_faults_refuse_other_statuses(
    emu: Emulator, kind: str, status: int
) -> None:
    with pytest.raises(ValueError, match=kind):
        emu.inject_fault("x", kind, status=status)


def test_throttle_body_can_still_be_json() -> None:
    with Emulator(throttle_format="json", limits=False) as emu:
        token = emu.issue_access_token()
        emu.inject_fault("companyinfo", "throttle")
        response = company_info(emu, token)
        assert response.headers["Content-Type"].startswith("application/json")
        throttled(response)
        assert response.json()["Fault"]["Error"][0]["code"] == "3001"


def test_throttle_fault(emu: Emulator) -> None:
    token = emu.issue_access_token()
    emu.inject_fault("companyinfo", "throttle", count=2)
    throttled(company_info(emu, token))
    throttled(company_info(emu, token))
    assert company_info(emu, token).status_code == 200


def test_a_throttle_fault_as_the_2016_403_names_its_status(emu: Emulator) -> None:
    token = emu.issue_access_token()
    emu.inject_fault("companyinfo", "throttle", status=403)
    response = company_info(emu, token)
    assert response.status_code == 403
    error = xml_fault(response)
    assert error["code"] == "3001"
    assert error["Message"] == "message=ThrottleExceeded; errorCode=003001; statusCode=403"


def test_hang_fault_outlasts_a_client_timeout(emu: Emulator) -> None:
    token = emu.issue_access_token()
    emu.inject_fault("*/companyinfo/*", "hang", hang_seconds=2)
    started = time.monotonic()
    with pytest.raises(requests.Timeout):
        requests.get(api_url(emu, f"companyinfo/{emu.realm_id}"), headers=auth(token), timeout=0.2)
    assert time.monotonic() - started < 1
    assert company_info(emu, token).status_code == 200  # the server still answers others


def test_drop_fault_closes_without_doing_the_work(emu: Emulator) -> None:
    token = emu.issue_access_token()
    before = emu.company.count("Customer")
    emu.inject_fault("*/customer", "drop", method="POST")
    with pytest.raises(requests.ConnectionError):
        create_customer(emu, token, "Dropped Ltd")
    assert emu.company.count("Customer") == before
    entry = emu.requests()[-1]
    assert entry["fault"] == "drop" and entry["status"] is None and entry["delivered"] is False


def test_lose_response_does_the_work_then_closes(emu: Emulator) -> None:
    token = emu.issue_access_token()
    before = emu.company.count("Customer")
    emu.inject_fault("*/customer", "lose_response")
    with pytest.raises(requests.ConnectionError):
        create_customer(emu, token, "Lost Reply Ltd", requestid="lost-1")
    assert emu.company.count("Customer") == before + 1
    entry = emu.requests()[-1]
    assert entry["fault"] == "lose_response"
    assert entry["status"] == 200 and entry["delivered"] is False
    # The retry with the same requestid gets the original answer, not a second customer.
    retry = create_customer(emu, token, "Lost Reply Ltd", requestid="lost-1")
    assert retry.status_code == 200
    assert retry.json()["Customer"]["DisplayName"] == "Lost Reply Ltd"
    assert emu.company.count("Customer") == before + 1


def test_error_after_work_does_the_work_then_answers_504(emu: Emulator) -> None:
    token = emu.issue_access_token()
    before = emu.company.count("Customer")
    emu.inject_fault("*/customer", "error_after_work", method="POST", count=2)
    # Without a requestid, retrying a 5xx create makes a duplicate (here: a 6240 on the name).
    assert create_customer(emu, token, "Gateway Ltd").status_code == 504
    assert emu.company.count("Customer") == before + 1
    entry = emu.requests()[-1]
    assert (entry["fault"], entry["status"], entry["delivered"]) == ("error_after_work", 504, True)
    # With one, the retry gets the original answer.
    assert create_customer(emu, token, "Timeout Ltd", requestid="gw-1").status_code == 504
    retry = create_customer(emu, token, "Timeout Ltd", requestid="gw-1")
    assert retry.status_code == 200 and retry.json()["Customer"]["DisplayName"] == "Timeout Ltd"
    assert emu.company.count("Customer") == before + 2


def test_python_quickbooks_save_with_requestid_survives_a_lost_response(emu: Emulator) -> None:
    from quickbooks.objects.customer import Customer

    qb = quickbooks_client(emu, emu.issue_access_token())
    before = emu.company.count("Customer")
    emu.inject_fault("*/customer", "lose_response", method="POST")
    with pytest.raises(requests.ConnectionError):
        Customer.from_json({"DisplayName": "Library Ltd"}).save(qb=qb, request_id="lib-1")
    saved = Customer.from_json({"DisplayName": "Library Ltd"}).save(qb=qb, request_id="lib-1")
    assert saved.Id and emu.company.count("Customer") == before + 1
    assert [e["params"].get("requestid") for e in emu.requests()] == ["lib-1", "lib-1"]


def test_faults_match_method_and_patterns(emu: Emulator) -> None:
    token = emu.issue_access_token()
    emu.inject_fault("*/customer", "error", method="POST")
    emu.inject_fault("/v3/company/*/companyinfo/?", "error")  # fnmatch: one character id
    response = requests.get(api_url(emu, "customer/1"), headers=auth(token), timeout=TIMEOUT)
    assert response.status_code != 500  # GET and a longer path: neither fault matches
    assert company_info(emu, token).status_code == 200  # the realm id is longer than one char
    assert len(emu.faults.pending()) == 2


def test_faults_on_the_token_endpoint(emu: Emulator) -> None:
    tokens = emu.issue_tokens()
    emu.inject_fault("/oauth2/v1/tokens/bearer", "drop")
    form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    credentials = (emu.client.client_id, emu.client.client_secret)
    url = emu.base_url + "/oauth2/v1/tokens/bearer"
    with pytest.raises(requests.ConnectionError):
        requests.post(url, data=form, auth=credentials, timeout=TIMEOUT)
    assert emu.token_state(tokens["refresh_token"]) == "active"  # not rotated
    emu.inject_fault("/oauth2/v1/tokens/bearer", "lose_response")
    with pytest.raises(requests.ConnectionError):
        requests.post(url, data=form, auth=credentials, timeout=TIMEOUT)
    assert emu.token_state(tokens["refresh_token"]) == "grace"  # rotated, answer lost


def test_bad_fault_definitions_are_refused(emu: Emulator) -> None:
    with pytest.raises(ValueError):
        emu.inject_fault("*/customer", "explode")
    with pytest.raises(ValueError):
        emu.inject_fault("*/customer", "drop", status=500)
    with pytest.raises(ValueError):
        emu.inject_fault("", "error")


# -- admin ------------------------------------------------------------------------------------


def admin(emu: Emulator, method: str, name: str, body: Any = None) -> requests.Response:
    return requests.request(method, f"{emu.base_url}/_emulator/{name}", json=body, timeout=TIMEOUT)


def test_admin_health_tokens_and_requests(emu: Emulator) -> None:
    health = admin(emu, "GET", "health").json()
    assert health == {
        "status": "ok",
        "realm_id": emu.realm_id,
        "company_name": emu.company.company_name,
        "limits": {
            "enabled": False,
            "time_scale": 1.0,
            "throttle_format": "xml",
            "batch_per_minute": 40,
        },
        "data_file": None,
    }
    tokens = admin(emu, "POST", "tokens", {}).json()
    assert tokens["realmId"] == emu.realm_id
    assert company_info(emu, tokens["access_token"], minorversion="75").status_code == 200
    log = admin(emu, "GET", "requests").json()
    assert [e["template"] for e in log["requests"]] == [
        "GET /v3/company/{realmId}/companyinfo/{id}"
    ]
    assert log["counts"] == {"GET /v3/company/{realmId}/companyinfo/{id}": 1}
    assert admin(emu, "POST", "tokens", {"client_id": "nobody"}).status_code == 400


def test_admin_dump_and_reset(emu: Emulator) -> None:
    token = emu.issue_access_token()
    before = emu.company.count("Customer")
    create_customer(emu, token, "Reset Me Ltd")
    names = [c["DisplayName"] for c in admin(emu, "GET", "dump").json()["Customer"]]
    assert "Reset Me Ltd" in names
    emu.inject_fault("*/customer", "error")
    assert admin(emu, "POST", "reset").status_code == 200
    assert emu.company.count("Customer") == before
    assert emu.requests() == [] and emu.faults.pending() == []
    assert company_info(emu, token).status_code == 200  # grants survive a reset


def test_admin_faults(emu: Emulator) -> None:
    token = emu.issue_access_token()
    created = admin(
        emu, "POST", "faults", {"path": "*/companyinfo/*", "kind": "error", "status": 503}
    )
    assert created.status_code == 201
    assert admin(emu, "GET", "faults").json()["faults"][0]["kind"] == "error"
    assert company_info(emu, token).status_code == 503
    admin(emu, "POST", "faults", {"path": "companyinfo", "kind": "throttle", "count": 5})
    assert admin(emu, "DELETE", "faults").status_code == 200
    assert company_info(emu, token).status_code == 200
    bad = admin(emu, "POST", "faults", {"path": "x", "kind": "nope"})
    assert bad.status_code == 400 and "kind" in bad.json()["error"]
    assert (
        admin(emu, "POST", "faults", {"path": "x", "kind": "error", "colour": 1}).status_code == 400
    )


def test_admin_clients_and_clock(emu: Emulator) -> None:
    response = admin(
        emu,
        "POST",
        "clients",
        {
            "client_id": "ci-app",
            "client_secret": "ci-secret-1",
            "redirect_uris": ["http://127.0.0.1:9/cb"],
        },
    )
    assert response.status_code == 201
    assert "ci-secret-1" not in response.text
    token = admin(emu, "POST", "tokens", {"client_id": "ci-app"}).json()["access_token"]
    assert emu.grant_state(token)["client_id"] == "ci-app"  # type: ignore[index]
    assert admin(emu, "POST", "clock/advance", {"seconds": 3601}).json()["offset_seconds"] == 3601
    assert company_info(emu, token).status_code == 401
    assert admin(emu, "POST", "clock/advance", {"seconds": -1}).status_code == 400
    assert admin(emu, "POST", "clients", {"client_id": "x"}).status_code == 400


def test_admin_unknown_endpoint_and_method(emu: Emulator) -> None:
    assert admin(emu, "GET", "nothing").status_code == 404
    assert admin(emu, "GET", "reset").status_code == 405
    assert admin(emu, "GET", "health").headers["Content-Type"] == "application/json;charset=UTF-8"
    assert emu.requests() == []  # admin calls are not recorded


def admin_raw(emu: Emulator, method: str, name: str, data: bytes) -> requests.Response:
    return requests.request(method, f"{emu.base_url}/_emulator/{name}", data=data, timeout=TIMEOUT)


def test_admin_refuses_values_that_would_break_the_emulator(emu: Emulator) -> None:
    # A clock offset of 1e308 s made every later request a 500 (datetime overflow); a NaN
    # hang_seconds was stored and made GET /faults a 500 for good.
    assert admin(emu, "POST", "clock/advance", {"seconds": 1e308}).status_code == 400
    assert admin_raw(emu, "POST", "clock/advance", b'{"seconds": Infinity}').status_code == 400
    assert emu.clock.offset == 0
    nan_fault = b'{"path": "/x", "kind": "hang", "hang_seconds": NaN}'
    assert admin_raw(emu, "POST", "faults", nan_fault).status_code == 400
    huge = {"path": "/x", "kind": "hang", "hang_seconds": 1e308}
    assert admin(emu, "POST", "faults", huge).status_code == 400
    assert (
        admin(emu, "POST", "faults", {"path": "/x", "kind": "error", "count": 10**30}).status_code
        == 400
    )
    assert admin(emu, "GET", "faults").json() == {"faults": []}
    javascript = {"client_id": "c", "client_secret": "s", "redirect_uris": ["javascript:x"]}
    assert admin(emu, "POST", "clients", javascript).status_code == 400
    assert admin_raw(emu, "POST", "faults", b"[" * 100_000).status_code == 400
    token = emu.issue_access_token()
    assert company_info(emu, token).status_code == 200  # still healthy


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,  # was a 500 (RecursionError)
        b'{"DisplayName": "Not a number", "Notes": NaN}',
        b'{"DisplayName": "Infinite", "Balance": -Infinity}',
    ],
)
def test_bodies_that_are_not_json_are_2010_not_500(emu: Emulator, body: bytes) -> None:
    token = emu.issue_access_token()
    response = requests.post(
        api_url(emu, "customer"),
        headers={**auth(token), "Content-Type": "application/json"},
        params={"minorversion": "75"},
        data=body,
        timeout=TIMEOUT,
    )
    assert response.status_code == 400
    assert response.json()["Fault"]["Error"][0]["code"] == "2010"
    assert emu.company.count("Customer") == 3


@pytest.mark.parametrize(
    ("subpath", "content_type", "body", "accepted"),
    [
        ("customer", "application/json; charset=utf-8", '{"DisplayName": "Typed"}', True),
        ("customer", "text/plain", '{"DisplayName": "Plain"}', False),
        ("customer", None, '{"DisplayName": "Untyped"}', False),  # requests' data=str sends none
        ("customer", "application/x-www-form-urlencoded", '{"DisplayName": "Form"}', False),
        ("batch", "text/plain", '{"BatchItemRequest": []}', False),
        ("query", "application/text", "select * from Item", True),
        ("query", "text/plain", "select * from Item", True),
        ("query", "application/json", "select * from Item", False),
    ],
)
def test_post_bodies_must_say_what_they_are(
    emu: Emulator, subpath: str, content_type: str | None, body: str, accepted: bool
) -> None:
    token = emu.issue_access_token()
    headers = auth(token)
    if content_type is not None:
        headers["Content-Type"] = content_type
    response = requests.post(
        api_url(emu, subpath),
        headers=headers,
        params={"minorversion": "75"},
        data=body.encode(),
        timeout=TIMEOUT,
    )
    if accepted:
        assert response.status_code == 200
        return
    assert response.status_code == 400
    error = response.json()["Fault"]["Error"][0]
    assert error["code"] == "500" and "consume content type" in error["Detail"]
    assert emu.company.count("Customer") == 3


@pytest.mark.parametrize("scale", [0.0, -1.0, float("nan"), float("inf")])
def test_time_scale_must_be_positive_and_finite(scale: float) -> None:
    with pytest.raises(ValueError):
        Emulator(time_scale=scale)
