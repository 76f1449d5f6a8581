"""examples/: the sample config and data load through open_source with no problem."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from qbsync.config import load_config
from qbsync.sources import open_source

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_the_examples_load_with_no_problems(tmp_path: Path) -> None:
    config = load_config(EXAMPLES / "config.toml", profile="default", data_dir=tmp_path)
    assert config.qbo.environment == "http://127.0.0.1:4116"
    assert config.qbo.client_id == "qbsync-demo-client"
    assert config.token_store == "file"
    source = open_source(config.source, tz=ZoneInfo("America/New_York"))

    members = source.members()
    assert members.problems == []
    assert 8 <= len(members.records) <= 12
    by_id = {m.id: m for m in members.records}
    assert any('"' in m.company or '"' in m.last_name for m in members.records)  # a quote
    assert any("🎌" in m.last_name for m in members.records)  # an emoji
    assert any(not m.active for m in members.records)
    assert any(m.email == "" for m in members.records)
    assert by_id["m-009"].status == "active"  # empty status

    invoices = source.invoices(statuses=config.export.statuses, created_since=None)
    assert invoices.problems == []
    assert {i.status for i in invoices.records} == {"pending"}
    multi = next(i for i in invoices.records if len(i.lines) > 1)
    assert any(line.unit_price != line.unit_price.to_integral_value() for line in multi.lines)
    every = source.invoices(statuses=["pending", "paid", "void"], created_since=None)
    assert every.problems == []
    assert 10 <= sum(len(i.lines) for i in every.records) <= 20
    assert {i.member_id for i in every.records} <= set(by_id)
    assert sum(line.quantity * line.unit_price for line in multi.lines) == Decimal("286.899")
