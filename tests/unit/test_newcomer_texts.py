"""Small texts a newcomer tripped on (issue 13): the article before a missing CSV column, a
semicolon-separated CSV, and `[export] days` naming every value that is not a day."""

from __future__ import annotations

from datetime import timedelta, timezone
from pathlib import Path

import pytest

from qbsync.config import load_config
from qbsync.config.source import SourceConfig
from qbsync.errors import ConfigError
from qbsync.sources import open_source
from qbsync.sources.csvfile import article

TZ = timezone(timedelta(hours=-5), "EST")
CONFIG = """\
[qbo]
environment = "sandbox"
client_id = "ABc123"
redirect_uri = "http://localhost:8765/callback"

[source]
type = "csv"
members = "members.csv"

[export]
"""


def _missing(tmp_path: Path, members: str, invoices: str | None = None) -> ConfigError:
    (tmp_path / "members.csv").write_text(members, encoding="utf-8")
    invoices_path = None
    if invoices is not None:
        invoices_path = tmp_path / "invoices.csv"
        invoices_path.write_text(invoices, encoding="utf-8")
    config = SourceConfig(
        type="csv", members=tmp_path / "members.csv", invoices=invoices_path, base_dir=tmp_path
    )
    source = open_source(config, tz=TZ)
    with pytest.raises(ConfigError) as caught:
        source.members() if invoices is None else source.invoices(
            statuses=["pending"], created_since=None
        )
    return caught.value


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("id", "an"), ("email", "an"), ("invoice_id", "an"), ("amount", "an"), ("order", "an"),
        ("member_id", "a"), ("number", "a"), ("created_at", "a"), ("status", "a"),
        ("unit_price", "a"), ("user", "a"), ("euro", "a"), ("umbrella", "an"),
    ],
)  # fmt: skip
def test_article_by_the_first_sound(word: str, expected: str) -> None:
    assert article(word) == expected


def test_a_missing_id_column_says_add_an_id_column(tmp_path: Path) -> None:
    error = _missing(tmp_path, "email\nada@example.com\n")
    assert "no 'id' column" in error.message
    assert error.hint is not None and error.hint.startswith("add an 'id' column to members.csv")


def test_a_missing_number_column_says_add_a_number_column(tmp_path: Path) -> None:
    error = _missing(tmp_path, "id,email\nm-1,a@example.com\n", "invoice_id,member_id,created_at\n")
    assert "no 'number' column" in error.message
    assert error.hint is not None and error.hint.startswith("add a 'number' column")


def test_a_semicolon_separated_csv_gets_a_delimiter_hint(tmp_path: Path) -> None:
    error = _missing(tmp_path, "id;email;first_name\nm-1;ada@example.com;Ada\n")
    assert "no 'id' column (the header has: id;email;first_name)" in error.message
    assert error.hint is not None
    assert "looks semicolon-separated" in error.hint and "comma-separated" in error.hint


def test_a_comma_csv_missing_a_column_gets_no_delimiter_hint(tmp_path: Path) -> None:
    error = _missing(tmp_path, "id,first_name\nm-1,Ada\n")
    assert error.hint is not None and "semicolon" not in error.hint


@pytest.mark.parametrize(
    ("days", "named"),
    [
        ("[5, 10, 32]", ["32"]),
        ("[0, 5, 32, 40]", ["0", "32", "40"]),
        ('[5, "7", 31, true, 1.5]', ['"7"', "true", "1.5"]),
    ],
)
def test_export_days_names_every_bad_value(tmp_path: Path, days: str, named: list[str]) -> None:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG + f"days = {days}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, profile="default", data_dir=tmp_path / "data")
    message = caught.value.message
    assert "[export] days" in message and "1 to 31" in message
    assert message.endswith("not a day: " + ", ".join(named)), message
    assert " 5," not in message.split("not a day:")[1]  # the good ones are not named


def test_export_days_empty_says_so(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG + "days = []\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"non-empty list.*got an empty list"):
        load_config(path, profile="default", data_dir=tmp_path / "data")
