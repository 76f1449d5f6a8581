"""The platform's own invoice total: the optional `total` column (CSV) and field (HTTP)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC
from decimal import Decimal
from pathlib import Path

import pytest
import responses
from responses import matchers

from qbsync.config.source import SourceConfig
from qbsync.sources.csv_source import CsvSource
from qbsync.sources.http_source import HttpSource

BASE = "https://platform.example.com/api"
HEADER = "invoice_id,member_id,number,created_at,status,quantity,unit_price,total\n"


def _csv(tmp_path: Path, rows: str):  # type: ignore[no-untyped-def]
    (tmp_path / "members.csv").write_text("id,email\n")
    (tmp_path / "invoices.csv").write_text(HEADER + rows)
    config = SourceConfig(
        type="csv", members=tmp_path / "members.csv", invoices=tmp_path / "invoices.csv"
    )
    return CsvSource(config, tz=UTC).invoices(statuses=["pending"], created_since=None)


def test_csv_total_is_read_exactly(tmp_path: Path) -> None:
    read = _csv(
        tmp_path,
        "i1,m1,1,2024-06-01,pending,3,0.333,0.99\n"
        "i1,m1,1,2024-06-01,pending,1,5,\n"  # only the first row carries it
        "i2,m1,2,2024-06-01,pending,1,5,\n",
    )
    assert read.problems == []
    assert [(i.id, i.total) for i in read.records] == [("i1", Decimal("0.99")), ("i2", None)]
    assert str(read.records[0].total) == "0.99"


def test_csv_total_must_agree_and_be_a_number(tmp_path: Path) -> None:
    read = _csv(
        tmp_path,
        "i1,m1,1,2024-06-01,pending,1,5,5.00\n"
        "i1,m1,1,2024-06-01,pending,1,5,6.00\n"
        "i2,m1,2,2024-06-01,pending,1,5,five\n",
    )
    assert read.records == []
    assert [(p.record_id, p.field) for p in read.problems] == [("i1", "total"), ("i2", "total")]
    assert "not a decimal number: 'five'" in str(read.problems[1])


@pytest.fixture
def mocked(monkeypatch: pytest.MonkeyPatch) -> Iterator[responses.RequestsMock]:
    monkeypatch.setenv("MEMBERS_API_TOKEN", "plat-token-5ecret-0123456789")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def test_http_total_is_read_as_a_decimal(mocked: responses.RequestsMock) -> None:
    item = {
        "id": "i-1",
        "member_id": "m-1",
        "number": "1001",
        "created_at": "2024-06-01T10:00:00Z",
        "status": "pending",
        "lines": [{"quantity": 3, "unit_price": "0.333"}],
    }
    body = json.dumps(
        [{**item, "total": 0.1}, {**item, "id": "i-2"}, {**item, "id": "i-3", "total": [1]}]
    )
    mocked.add(
        responses.GET,
        f"{BASE}/invoices",
        body=f'{{"data": {body}, "next_page": null}}',
        content_type="application/json",
        match=[matchers.query_param_matcher({"status": "pending", "page": "1"})],
    )
    config = SourceConfig(type="http", base_url=BASE, token_env="MEMBERS_API_TOKEN")
    read = HttpSource(config, tz=UTC, sleep=lambda s: None).invoices(
        statuses=["pending"], created_since=None
    )
    assert [(i.id, i.total) for i in read.records] == [("i-1", Decimal("0.1")), ("i-2", None)]
    assert [(p.record_id, p.field) for p in read.problems] == [("i-3", "total")]
