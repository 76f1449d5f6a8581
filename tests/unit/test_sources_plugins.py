"""open_source: built-ins directly, any other type through an entry point in "qbsync.sources"."""

from __future__ import annotations

import importlib.metadata
import sys
import textwrap
from datetime import UTC, tzinfo
from pathlib import Path
from typing import Any

import pytest

from qbsync.config.source import SourceConfig
from qbsync.errors import ConfigError
from qbsync.sources import CsvSource, HttpSource, Member, Source, open_source

PLUGIN = '''
from qbsync.sources import Member, Read


class MemorySource:
    """What a third-party source looks like: name, members(), invoices()."""

    name = "memory"

    def __init__(self, config, *, tz):
        self.config = config
        self.tz = tz
        self.people = config.options.get("people", [])

    def members(self):
        return Read([Member(id=p, email=f"{p}@example.com") for p in self.people], [])

    def invoices(self, *, statuses, created_since):
        return Read([], [])


def factory(config, *, tz):
    return MemorySource(config, tz=tz)


def broken(config, *, tz):
    raise ValueError("no database at /nowhere")


def nothing(config, *, tz):
    return None


def refuses(config, *, tz):
    from qbsync.errors import ConfigError

    raise ConfigError("[source.memory] people: expected a list")


not_callable = 42
'''


@pytest.fixture
def register(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """register(name, value): make `name` an installed qbsync.sources entry point for `value`."""
    (tmp_path / "fake_qbsync_plugin.py").write_text(textwrap.dedent(PLUGIN), encoding="utf-8")
    (tmp_path / "fake_broken_plugin.py").write_text("raise ImportError('needs psycopg')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registered: list[importlib.metadata.EntryPoint] = []
    real = importlib.metadata.entry_points

    def entry_points(**params: Any) -> Any:
        if params.get("group") == "qbsync.sources":
            return importlib.metadata.EntryPoints(registered)
        return real(**params)

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)

    def add(name: str, value: str) -> None:
        registered.append(importlib.metadata.EntryPoint(name, value, "qbsync.sources"))

    yield add
    for module in ("fake_qbsync_plugin", "fake_broken_plugin"):
        sys.modules.pop(module, None)


def _config(name: str = "memory", **options: Any) -> SourceConfig:
    return SourceConfig(type=name, options=options, base_dir=Path("/cfg"))


@pytest.mark.parametrize("value", ["fake_qbsync_plugin:factory", "fake_qbsync_plugin:MemorySource"])
def test_a_plugin_is_loaded_by_its_entry_point(register: Any, value: str) -> None:
    register("other", "fake_qbsync_plugin:nothing")
    register("memory", value)
    tz: tzinfo = UTC
    source = open_source(_config(people=["ada", "bob"]), tz=tz)
    assert isinstance(source, Source)
    assert source.name == "memory"
    assert source.tz is tz  # type: ignore[attr-defined]
    assert source.config.options == {"people": ["ada", "bob"]}  # type: ignore[attr-defined]
    assert source.members().records == [
        Member(id="ada", email="ada@example.com"),
        Member(id="bob", email="bob@example.com"),
    ]


def test_an_unknown_type_names_the_group(register: Any) -> None:
    with pytest.raises(ConfigError) as caught:
        open_source(_config("nosuch"), tz=UTC)
    assert "'nosuch'" in caught.value.message and "qbsync.sources" in caught.value.message
    assert caught.value.exit_code == 2


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("fake_broken_plugin:factory", "failed to load: ImportError: needs psycopg"),
        ("fake_missing_module:factory", "failed to load: ModuleNotFoundError"),
        ("fake_qbsync_plugin:no_such_name", "failed to load: AttributeError"),
        ("fake_qbsync_plugin:not_callable", "is not callable"),
        ("fake_qbsync_plugin:broken", "failed to start: ValueError: no database at /nowhere"),
        ("fake_qbsync_plugin:nothing", "returned NoneType, not a source"),
        ("fake_qbsync_plugin:Member", "failed to start: TypeError"),
    ],
)
def test_a_broken_plugin_is_a_config_error_naming_it(register: Any, value: str, words: str) -> None:
    register("memory", value)
    with pytest.raises(ConfigError) as caught:
        open_source(_config(), tz=UTC)
    assert caught.value.message.startswith(f"source plugin 'memory' ({value})")
    assert words in caught.value.message


def test_a_plugin_own_config_error_passes_through(register: Any) -> None:
    register("memory", "fake_qbsync_plugin:refuses")
    with pytest.raises(ConfigError, match=r"^\[source.memory\] people: expected a list$"):
        open_source(_config(), tz=UTC)


def test_built_ins_do_not_go_through_entry_points(
    register: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register("csv", "fake_qbsync_plugin:factory")  # a plugin cannot shadow a built-in
    register("http", "fake_qbsync_plugin:factory")
    monkeypatch.setenv("TOKEN_VAR", "t" * 20)
    csv = open_source(SourceConfig(type="csv", members=tmp_path / "m.csv"), tz=UTC)
    http = open_source(
        SourceConfig(type="http", base_url="https://x.example.com", token_env="TOKEN_VAR"), tz=UTC
    )
    assert isinstance(csv, CsvSource) and isinstance(http, HttpSource)


def test_the_built_ins_are_registered_as_entry_points() -> None:
    found = {ep.name: ep.value for ep in importlib.metadata.entry_points(group="qbsync.sources")}
    assert found.get("csv") == "qbsync.sources.csv_source:CsvSource"
    assert found.get("http") == "qbsync.sources.http_source:HttpSource"


def test_the_plugin_in_docs_sources_md_works(register: Any, tmp_path: Path) -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "sources.md").read_text(encoding="utf-8")
    blocks = docs.split("```python\n")[1:]
    code = next(block.split("```")[0] for block in blocks if "class AcmeSource" in block)
    (tmp_path / "qbsync_source_acme.py").write_text(code, encoding="utf-8")
    (tmp_path / "exports").mkdir()
    (tmp_path / "exports" / "people.csv").write_text(
        "ref,mail\nA-1, a@example.com\n ,x@example.com\n", encoding="utf-8"
    )
    register("acme", "qbsync_source_acme:AcmeSource")
    config = SourceConfig(type="acme", options={"export_folder": "exports/"}, base_dir=tmp_path)
    try:
        source = open_source(config, tz=UTC)
        read = source.members()
        assert read.records == [Member(id="A-1", email="a@example.com")]
        assert [str(p) for p in read.problems] == ["people.csv line 3: ref: no id"]
        assert source.invoices(statuses=["pending"], created_since=None).records == []
        with pytest.raises(ConfigError, match="export_folder"):
            open_source(_config("acme"), tz=UTC)
    finally:
        sys.modules.pop("qbsync_source_acme", None)
