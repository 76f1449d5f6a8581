"""Where the config and data live: --config > QBSYNC_CONFIG > user config dir; per profile."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from qbsync.paths import config_path, profile_data_dir, user_config_dir


def test_config_path_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    default = user_config_dir() / "config.toml"
    assert config_path(None) == default
    assert config_path(None, "acme") == user_config_dir() / "acme.toml"
    monkeypatch.setenv("QBSYNC_CONFIG", str(tmp_path / "env.toml"))
    assert config_path(None) == tmp_path / "env.toml"
    assert config_path(tmp_path / "flag.toml") == tmp_path / "flag.toml"


def test_user_config_dir_matches_click(monkeypatch: pytest.MonkeyPatch) -> None:
    # The engine computes it without importing click; it must agree with click.get_app_dir.
    assert user_config_dir() == Path(click.get_app_dir("qbsync"))


def test_profiles_get_their_own_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert profile_data_dir("default") != profile_data_dir("acme")
    monkeypatch.setenv("QBSYNC_DATA_DIR", str(tmp_path / "data"))
    assert profile_data_dir("acme") == tmp_path / "data" / "acme"
