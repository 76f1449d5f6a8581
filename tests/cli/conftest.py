"""Fixtures of the CLI tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def home(isolated_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The isolated home, every command registered, the working directory a scratch folder."""
    monkeypatch.chdir(tmp_path)
    return isolated_env
