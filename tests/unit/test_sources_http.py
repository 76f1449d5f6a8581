"""The http source against `responses` (and once against a real loopback server)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
import requests
import responses
from responses import matchers

from qbsync.config.source import SourceConfig
from qbsync.errors import ConfigError, SourceError
from qbsync.redact import redact
from qbsync.sources import Address, InvoiceLine, Member, open_source
from qbsync.sources.http_source import HttpSource

TZ = timezone(timedelta(hours=-5), "EST")
BASE = "https://platform.example.com/api"
TOKEN = "plat-token-5ecret-0123456789"


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("MEMBERS_API_TOKEN", TOKEN)
    return TOKEN


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def _source(
    base: str = BASE, token_env: str | None = "MEMBERS_API_TOKEN", **kwargs: Any
) -> HttpSource:
    config = SourceConfig(type="http", base_url=base, token_env=token_env, timeout_seconds=12.5)
    kwargs.setdefault("sleep", Sleeps())
    return HttpSource(config, tz=TZ, **kwargs)


def _page(
    rsps: responses.RequestsMock,
    path: str,
    data: list[Any] | str,
    next_page: int | None,
    http_status: int = 200,
    **params: str,
) -> None:
    body = data if isinstance(data, str) else json.dumps(data)
    rsps.add(
        responses.GET,
        f"{BASE}{path}",
        body=f'{{"data": {body}, "next_page": {json.dumps(next_page)}}}',
        status=http_status,
        content_type="application/json",
        match=[matchers.query_param_matcher(params)],
    )


# -- members ----------------------------------------------------------------------------------


def test_members_follow_the_pages_with_token_and_timeout(
    mocked: responses.RequestsMock, token: str
) -> None:
    _page(mocked, "/members", [{"id": "m-1", "email": "a@example.com"}], 2, page="1")
    _page(
        mocked,
        "/members",
        [
            {
                "id": 2,
                "email": " B@Example.com ",
                "first_name": "Bo",
                "status": "Inactive",
                "created_at": "2024-01-15",
                "address": {
                    "line1": "1 Road",
                    "city": "Paris",
                    "postal_code": 75002,
                    "country": "FR",
                },
            },
            {"id": "m-3", "email": None, "address_line1": "Flat", "city": "Oslo", "address": None},
        ],
        None,
        page="2",
    )
    source = open_source(
        SourceConfig(type="http", base_url=BASE, token_env="MEMBERS_API_TOKEN"), tz=TZ
    )
    assert source.name == "http"
    read = source.members()
    assert read.problems == []
    assert read.records == [
        Member(id="m-1", email="a@example.com"),
        Member(
            id="2",
            email="B@Example.com",
            first_name="Bo",
            status="inactive",
            created_at=datetime(2024, 1, 15, tzinfo=TZ),
            address=Address(line1="1 Road", city="Paris", postal_code="75002", country="FR"),
        ),
        Member(id="m-3", email="", address=Address(line1="Flat", city="Oslo")),
    ]
    assert len(mocked.calls) == 2
    for call in mocked.calls:
        assert call.request.headers["Authorization"] == f"Bearer {token}"
        assert call.request.req_kwargs["timeout"] == 30.0  # SourceConfig's default


def test_the_configured_timeout_is_on_every_request(
    mocked: responses.RequestsMock, token: str
) -> None:
    _page(mocked, "/members", [], None, page="1")
    _source().members()
    assert mocked.calls[0].request.req_kwargs["timeout"] == 12.5


def test_bad_member_items_are_reported_and_skipped(
    mocked: responses.RequestsMock, token: str
) -> None:
    _page(mocked, "/members", [{"id": "m-1", "email": "a@example.com"}], 3, page="1")
    _page(
        mocked,
        "/members",
        [
            {"id": "m-2", "email": "ada@"},
            "not an object",
            {"email": "x@example.com"},
            {"id": "m-1", "email": "again@example.com"},
            {"id": "m-5", "email": "e@example.com", "first_name": {"x": 1}, "address": "Oslo"},
            {"id": "m-6", "email": "f@example.com", "created_at": 1718000000},
            {"id": "m-7", "email": "g@example.com"},
        ],
        None,
        page="3",
    )
    read = _source().members()
    assert [m.id for m in read.records] == ["m-1", "m-7"]
    assert [str(p) for p in read.problems] == [
        "GET /members page 3 item 1: member m-2: email: invalid email 'ada@'",
        "GET /members page 3 item 2: expected a JSON object",
        "GET /members page 3 item 3: id: no id",
        "GET /members page 3 item 4: member m-1: id: duplicate id (first at GET /members page 1 item 1)",
        "GET /members page 3 item 5: member m-5: address: expected an object (line1, line2, city, ...)",
        "GET /members page 3 item 5: member m-5: first_name: expected text, got an object",
        "GET /members page 3 item 6: member m-6: created_at: invalid date '1718000000' "
        "(expected ISO 8601 such as 2024-05-31 or 2024-05-31T14:00:00Z)",
    ]


# -- invoices ---------------------------------------------------------------------------------

INVOICE = {
    "id": "i-1",
    "member_id": "m-1",
    "number": 1001,
    "created_at": "2024-06-01T10:00:00Z",
    "due_date": "2024-06-30",
    "status": "pending",
    "currency": "usd",
    "tax_amount": "0.84",
    "lines": [
        {
            "description": "Membership",
            "quantity": 1,
            "unit_price": 10.5,
            "item_code": "MEM",
            "tax_code": "TAX",
        },
        {"description": "Book", "quantity": "0.5", "unit_price": 12.333333},
    ],
}


def test_invoices_page_per_status_with_created_since_and_exact_decimals(
    mocked: responses.RequestsMock, token: str
) -> None:
    since = datetime(2024, 5, 1, tzinfo=UTC)
    shown_since = "2024-05-01T00:00:00+00:00"
    raw = json.dumps([INVOICE]).replace("12.333333", "12.3333330")  # exact text survives
    _page(mocked, "/invoices", raw, None, status="pending", created_since=shown_since, page="1")
    paid = {
        **INVOICE,
        "id": None,
        "invoice_id": "i-2",
        "status": "PAID",
        "lines": [{"quantity": "1", "unit_price": "5"}],
    }
    _page(mocked, "/invoices", [paid], 4, status="paid", created_since=shown_since, page="1")
    _page(mocked, "/invoices", [], None, status="paid", created_since=shown_since, page="4")
    read = _source().invoices(statuses=["Pending", "paid", "pending"], created_since=since)
    assert read.problems == []
    first, second = read.records
    assert first.id == "i-1" and first.number == "1001" and first.currency == "USD"
    assert first.created_at == datetime(2024, 6, 1, 10, tzinfo=UTC)
    assert first.due_date == date(2024, 6, 30)
    assert first.tax_amount == Decimal("0.84")
    assert first.lines == (
        InvoiceLine("Membership", Decimal("1"), Decimal("10.5"), "MEM", "TAX"),
        InvoiceLine("Book", Decimal("0.5"), Decimal("12.3333330")),
    )
    assert str(first.lines[1].unit_price) == "12.3333330"
    assert second.id == "i-2" and second.status == "paid"
    assert len(mocked.calls) == 3  # "pending" asked once


def test_invoices_without_created_since_leave_it_out(
    mocked: responses.RequestsMock, token: str
) -> None:
    _page(mocked, "/invoices", [INVOICE], None, status="pending", page="1")
    read = _source().invoices(statuses=["pending"], created_since=None)
    assert [i.id for i in read.records] == ["i-1"]
    assert "created_since" not in mocked.calls[0].request.url


def test_no_statuses_means_no_request(mocked: responses.RequestsMock, token: str) -> None:
    assert _source().invoices(statuses=[], created_since=None).records == []
    assert len(mocked.calls) == 0


def test_what_the_server_sent_beyond_the_filter_is_dropped(
    mocked: responses.RequestsMock, token: str
) -> None:
    old = {**INVOICE, "id": "i-old", "created_at": "2020-01-01", "lines": []}
    paid = {**INVOICE, "id": "i-paid", "status": "paid", "lines": "x"}
    since = datetime(2024, 1, 1, tzinfo=UTC)
    _page(
        mocked,
        "/invoices",
        [old, paid, INVOICE],
        None,
        status="pending",
        created_since=since.isoformat(),
        page="1",
    )
    read = _source().invoices(statuses=["pending"], created_since=since)
    assert [i.id for i in read.records] == ["i-1"] and read.problems == []


def test_bad_invoice_items_are_reported_and_skipped(
    mocked: responses.RequestsMock, token: str
) -> None:
    items = [
        {
            **INVOICE,
            "id": "i-2",
            "lines": [{"quantity": "1", "unit_price": "1"}, {"quantity": "x", "unit_price": 1e400}],
        },
        {**INVOICE, "id": "i-3", "lines": []},
        {**INVOICE, "id": "i-4", "lines": None},
        {**INVOICE, "id": "i-5", "lines": {"quantity": 1}},
        {**INVOICE, "id": "i-6", "invoice_id": "i-66"},
        {**INVOICE, "id": "i-7", "lines": ["x"]},
        {**INVOICE, "id": "i-8", "member_id": "", "created_at": "nope", "tax_amount": True},
        {**INVOICE, "id": "i-1"},
        {**INVOICE, "id": "i-1", "number": "again"},
        {**INVOICE, "id": "i-9", "lines": [{"quantity": 1, "unit_price": 0.12345678}]},
    ]
    _page(mocked, "/invoices", items, None, status="pending", page="1")
    read = _source().invoices(statuses=["pending"], created_since=None)
    where = "GET /invoices?status=pending page 1 item"
    assert [i.id for i in read.records] == ["i-1"]
    assert [str(p) for p in read.problems] == [
        f"{where} 1 line 2: invoice i-2: quantity: not a decimal number: 'x'",
        f"{where} 1 line 2: invoice i-2: unit_price: not a finite number: 'Infinity'",
        f"{where} 2: invoice i-3: lines: no lines",
        f"{where} 3: invoice i-4: lines: no lines",
        f"{where} 4: invoice i-5: lines: expected a list of line objects",
        f"{where} 5: invoice i-6: invoice_id: 'i-66' differs from id 'i-6'",
        f"{where} 6 line 1: invoice i-7: expected a JSON object",
        f"{where} 7: invoice i-8: member_id: no member_id",
        f"{where} 7: invoice i-8: created_at: invalid date 'nope' (expected ISO 8601 such as 2024-05-31 or 2024-05-31T14:00:00Z)",
        f"{where} 7: invoice i-8: tax_amount: expected a number, got true/false",
        f"{where} 9: invoice i-1: id: duplicate id (first at {where} 8)",
        f"{where} 10 line 1: invoice i-9: unit_price: more than 7 decimals: '0.12345678'",
    ]


# -- failures of the whole source -------------------------------------------------------------


def test_retries_5xx_and_429_with_backoff_and_retry_after(
    mocked: responses.RequestsMock, token: str
) -> None:
    url = f"{BASE}/members"
    mocked.add(responses.GET, url, status=503)
    mocked.add(responses.GET, url, status=429, headers={"Retry-After": "7"})
    mocked.add(responses.GET, url, body=requests.ConnectionError("refused"))
    mocked.add(responses.GET, url, status=502)
    _page(mocked, "/members", [{"id": "m-1", "email": ""}], None, page="1")
    sleeps = Sleeps()
    read = _source(sleep=sleeps).members()
    assert [m.id for m in read.records] == ["m-1"]
    assert sleeps == [1.0, 7.0, 4.0, 8.0]


def test_gives_up_after_the_last_try_naming_url_and_status(
    mocked: responses.RequestsMock, token: str
) -> None:
    mocked.add(responses.GET, f"{BASE}/members", status=500)
    sleeps = Sleeps()
    with pytest.raises(SourceError) as caught:
        _source(sleep=sleeps, max_tries=3).members()
    assert caught.value.message == (
        "GET https://platform.example.com/api/members?page=1: HTTP 500 after 3 tries"
    )
    assert caught.value.exit_code == 1
    assert len(mocked.calls) == 3 and sleeps == [1.0, 2.0]


def test_a_connection_failure_after_the_tries(mocked: responses.RequestsMock, token: str) -> None:
    mocked.add(responses.GET, f"{BASE}/members", body=requests.ConnectionError("boom"))
    with pytest.raises(SourceError, match=r"could not connect \(ConnectionError\) after 5 tries"):
        _source().members()
    assert len(mocked.calls) == 5


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_token_is_a_source_error_without_the_token(
    mocked: responses.RequestsMock, token: str, status: int
) -> None:
    mocked.add(responses.GET, f"{BASE}/members", status=status, body=f"bad token {TOKEN}")
    source = _source()
    with pytest.raises(SourceError) as caught:
        source.members()
    error = caught.value
    assert f"HTTP {status}" in error.message and "$MEMBERS_API_TOKEN" in error.message
    assert "/api/members" in error.message
    assert len(mocked.calls) == 1  # not retried
    for text in (error.message, error.hint or "", repr(source), repr(source._auth), repr(error)):
        assert TOKEN not in text
    assert TOKEN not in redact(f"Authorization: Bearer {TOKEN} and {TOKEN}")  # registered


def test_a_404_names_the_url(mocked: responses.RequestsMock, token: str) -> None:
    mocked.add(responses.GET, f"{BASE}/members", status=404)
    with pytest.raises(SourceError, match=r"/api/members\?page=1: HTTP 404") as caught:
        _source().members()
    assert caught.value.hint == "check [source] base_url"


def test_the_url_never_shows_user_info(mocked: responses.RequestsMock, token: str) -> None:
    mocked.add(responses.GET, "https://platform.example.com/api/members", status=404)
    source = _source(base="https://user:pw@platform.example.com/api")
    with pytest.raises(SourceError) as caught:
        source.members()
    assert "pw" not in caught.value.message and "pw" not in repr(source)


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        ("<html>login</html>", "text/html", "not JSON (Content-Type: text/html)"),
        ('{"data": "nope"}', "application/json", "expected a JSON object with a 'data' list"),
        ('[{"id": "m-1"}]', "application/json", "expected a JSON object with a 'data' list"),
        (
            '{"data": [], "next_page": 1}',
            "application/json",
            "next_page 1 does not come after page 1",
        ),
        (
            '{"data": [], "next_page": "2"}',
            "application/json",
            "next_page '2' does not come after page 1",
        ),
    ],
)
def test_a_malformed_page_is_a_source_error(
    mocked: responses.RequestsMock, token: str, body: str, content_type: str, message: str
) -> None:
    mocked.add(responses.GET, f"{BASE}/members", body=body, content_type=content_type)
    with pytest.raises(SourceError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _source().members()


def test_too_many_pages_is_a_source_error(mocked: responses.RequestsMock, token: str) -> None:
    for page in (1, 2, 3):
        _page(mocked, "/members", [], page + 1, page=str(page))
    with pytest.raises(SourceError, match="more than 3 pages"):
        _source(max_pages=3).members()


def test_a_redirect_on_the_same_host_is_followed_with_the_token(
    mocked: responses.RequestsMock, token: str
) -> None:
    mocked.add(
        responses.GET,
        f"{BASE}/members",
        status=302,
        headers={"Location": "/v2/members?page=1"},
        match=[matchers.query_param_matcher({"page": "1"})],
    )
    mocked.add(
        responses.GET,
        "https://platform.example.com/v2/members",
        json={"data": [{"id": "m-1", "email": ""}], "next_page": None},
    )
    read = _source().members()
    assert [m.id for m in read.records] == ["m-1"]
    assert mocked.calls[1].request.headers["Authorization"] == f"Bearer {token}"


@pytest.mark.parametrize(
    "location",
    [
        "https://evil.example.net/members",
        "http://platform.example.com/api/members",
        "https://platform.example.com:8443/x",
    ],
)
def test_a_redirect_elsewhere_is_not_followed(
    mocked: responses.RequestsMock, token: str, location: str
) -> None:
    mocked.add(responses.GET, f"{BASE}/members", status=301, headers={"Location": location})
    mocked.add(responses.GET, location.split("?")[0], json={"data": [], "next_page": None})
    with pytest.raises(SourceError, match="redirect to another host") as caught:
        _source().members()
    assert len(mocked.calls) == 1
    assert TOKEN not in caught.value.message


def test_a_missing_token_variable_is_a_config_error_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MEMBERS_API_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="MEMBERS_API_TOKEN") as caught:
        _source()
    assert caught.value.exit_code == 2
    monkeypatch.setenv("MEMBERS_API_TOKEN", "  ")
    with pytest.raises(
        ConfigError, match=r"MEMBERS_API_TOKEN \(\[source\] token_env\) is not set or empty"
    ):
        _source()


def test_without_token_env_no_authorization_is_sent(mocked: responses.RequestsMock) -> None:
    _page(mocked, "/members", [], None, page="1")
    _source(token_env=None).members()
    assert "Authorization" not in mocked.calls[0].request.headers


def test_http_refuses_options() -> None:
    config = SourceConfig(type="http", base_url=BASE, options={"pages": 3})
    with pytest.raises(ConfigError, match=r"\[source.http\].*'pages'"):
        open_source(config, tz=TZ)


# -- a real loopback server -------------------------------------------------------------------


class _Platform(BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, str | None]]] = []
    hang = threading.Event()

    def do_GET(self) -> None:
        type(self).seen.append((self.path, self.headers.get("Authorization")))
        if "slow" in self.path:
            self.hang.wait(5)
        page = 1 if "page=1" in self.path else 2
        body = {
            "data": [{"id": f"m-{page}", "email": f"m{page}@example.com"}],
            "next_page": 2 if page == 1 else None,
        }
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def platform() -> Iterator[str]:
    _Platform.seen = []
    _Platform.hang.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Platform)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        _Platform.hang.set()
        server.shutdown()
        server.server_close()


def test_members_over_real_http(platform: str, token: str) -> None:
    source = open_source(
        SourceConfig(type="http", base_url=platform + "/", token_env="MEMBERS_API_TOKEN"), tz=TZ
    )
    read = source.members()
    assert [m.id for m in read.records] == ["m-1", "m-2"]
    assert _Platform.seen == [
        ("/members?page=1", f"Bearer {token}"),
        ("/members?page=2", f"Bearer {token}"),
    ]


def test_a_hung_server_times_out_and_gives_up(platform: str, token: str) -> None:
    config = SourceConfig(
        type="http", base_url=platform + "/slow", token_env="MEMBERS_API_TOKEN", timeout_seconds=0.2
    )
    sleeps = Sleeps()
    with pytest.raises(SourceError, match=r"no whole answer within 0.2 s .* after 2 tries"):
        HttpSource(config, tz=TZ, sleep=sleeps, max_tries=2).members()
    assert len(_Platform.seen) == 2 and sleeps == [1.0]


# -- caps: a page's size, a listing's time (the whole-request bound: tests/reliability) --------


def test_a_page_over_the_size_cap_stops_with_the_url_and_the_cap(
    mocked: responses.RequestsMock, token: str
) -> None:
    big = [{"id": f"m{i}", "email": f"m{i}@example.com", "first_name": "x" * 50} for i in range(50)]
    _page(mocked, "/members", big, None, page="1")
    with pytest.raises(SourceError) as info:
        _source(max_page_bytes=1000).members()
    assert f"{BASE}/members?page=1" in info.value.message
    assert "over 1000 bytes" in info.value.message
    assert len(mocked.calls) == 1  # not retried: the same page would come again


def test_a_page_announced_over_the_cap_is_not_read(token: str) -> None:
    with responses.RequestsMock() as rsps:
        rsps.add(
            responses.GET,
            f"{BASE}/members",
            body=b'{"data": [], "next_page": null}',
            headers={"Content-Length": "400000000"},
            auto_calculate_content_length=False,
        )
        with pytest.raises(SourceError, match="over 1000000 bytes"):
            _source(max_page_bytes=1_000_000).members()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_listing_is_bounded_in_time_not_only_in_pages(token: str) -> None:
    clock = Clock()
    pages: list[str] = []

    def answer(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        page = int(parse_page(request.url or ""))
        pages.append(str(page))
        clock.now += 400.0  # each page takes 400 s of the platform's time
        return 200, {}, json.dumps({"data": [], "next_page": page + 1})

    with responses.RequestsMock() as rsps:
        rsps.add_callback(responses.GET, f"{BASE}/members", callback=answer)
        config = SourceConfig(
            type="http", base_url=BASE, token_env="MEMBERS_API_TOKEN", timeout_seconds=600
        )
        source = HttpSource(config, tz=TZ, sleep=Sleeps(), max_listing_seconds=1000, clock=clock)
        with pytest.raises(SourceError) as info:
            source.members()
    assert pages == ["1", "2", "3"]  # 1200 s after three pages: no fourth
    assert f"{BASE}/members" in info.value.message
    assert "more than 1000 s (3 pages read)" in info.value.message


def parse_page(url: str) -> str:
    from urllib.parse import parse_qs, urlsplit

    return parse_qs(urlsplit(url).query)["page"][0]
