"""Folders qbsync creates are never group- or world-writable, whatever the umask.

Under ``umask 000``, ``Path.mkdir(parents=True)`` makes every folder 0777: anyone on the machine
could then swap the config, or a lock file, or (for the data folder) read nothing but still plant
files next to the tokens. Config folders come out at most 0755, data and lock folders 0700, and
files keep their modes (0600 secrets, 0644 config).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from qbsync.auth.credentials import FileStore, token_lock
from qbsync.config import write_config
from qbsync.files import atomic_write, folder_mode
from qbsync.locks import file_lock, run_lock
from qbsync.paths import ensure_dir, ensure_private_dir
from qbsync.state.db import State


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """An empty folder to create things in (tmp_path also holds the isolated HOME)."""
    folder = tmp_path / "root"
    folder.mkdir()
    return folder


@pytest.fixture
def umask0() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _folders(root: Path) -> dict[str, int]:
    """Every folder under ``root`` (not ``root`` itself), relative name -> mode."""
    return {
        str(folder.relative_to(root)): _mode(folder)
        for folder in sorted(root.rglob("*"))
        if folder.is_dir()
    }


def test_ensure_dir_gives_each_created_folder_0755_under_umask_0(root: Path, umask0: None) -> None:
    leaf = ensure_dir(root / "a" / "b" / "c")
    assert leaf == root / "a" / "b" / "c"
    assert _folders(root) == {"a": 0o755, "a/b": 0o755, "a/b/c": 0o755}
    assert ensure_dir(leaf) == leaf  # already there: fine


def test_ensure_dir_private_mode_and_a_stricter_umask(root: Path) -> None:
    old = os.umask(0o077)
    try:
        ensure_dir(root / "conf" / "qbsync")  # the user's umask narrows 0755 to 0700
    finally:
        os.umask(old)
    assert _folders(root) == {"conf": 0o700, "conf/qbsync": 0o700}


def test_ensure_dir_leaves_existing_folders_alone(root: Path, umask0: None) -> None:
    shared = root / "shared"
    shared.mkdir()
    shared.chmod(0o777)  # not qbsync's: e.g. a sticky /tmp-like folder the user chose
    ensure_dir(shared / "qbsync", 0o755)
    assert _mode(shared) == 0o777
    assert _mode(shared / "qbsync") == 0o755


def test_ensure_dir_refuses_a_file_in_the_way(root: Path) -> None:
    (root / "file").write_text("x")
    with pytest.raises(FileExistsError):
        ensure_dir(root / "file" / "sub")
    with pytest.raises(FileExistsError):
        ensure_dir(root / "file")


def test_ensure_private_dir_makes_parents_and_leaf_0700(root: Path, umask0: None) -> None:
    ensure_private_dir(root / "share" / "qbsync" / "default")
    assert _folders(root) == {
        "share": 0o700,
        "share/qbsync": 0o700,
        "share/qbsync/default": 0o700,
    }
    loose = root / "loose"
    loose.mkdir(0o777)
    ensure_private_dir(loose)  # an existing data folder is narrowed: it holds secrets
    assert _mode(loose) == 0o700


def test_folder_mode_follows_the_file_mode() -> None:
    assert folder_mode(0o600) == 0o700
    assert folder_mode(0o644) == 0o755
    assert folder_mode(0o640) == 0o750
    assert folder_mode(0o666) == 0o755  # nobody but the owner ever writes the folder


def test_atomic_write_creates_folders_to_match_and_files_keep_their_modes(
    root: Path, umask0: None
) -> None:
    atomic_write(root / "conf" / "qbsync" / "config.toml", b"x = 1\n", mode=0o644)
    atomic_write(root / "data" / "default" / "tokens.json", b"{}", mode=0o600)
    atomic_write(root / "data" / "default" / "tokens.json", b"{}", mode=0o600)  # replace
    assert _folders(root) == {
        "conf": 0o755,
        "conf/qbsync": 0o755,
        "data": 0o700,
        "data/default": 0o700,
    }
    assert _mode(root / "conf" / "qbsync" / "config.toml") == 0o644
    assert _mode(root / "data" / "default" / "tokens.json") == 0o600


def test_lock_folders_and_files_are_private_under_umask_0(root: Path, umask0: None) -> None:
    with file_lock(root / "locks" / "deep" / "x.lock", timeout=0):
        pass
    with run_lock(root / "run" / "default"):
        pass
    with token_lock(root / "tokens" / "default", timeout=0):
        pass
    assert set(_folders(root).values()) == {0o700}
    for lock in ("locks/deep/x.lock", "run/default/run.lock", "tokens/default/tokens.lock"):
        assert _mode(root / lock) == 0o600, lock


def test_data_folder_of_the_file_store_and_state_under_umask_0(root: Path, umask0: None) -> None:
    data_dir = root / "share" / "qbsync" / "default"
    FileStore(data_dir).save_client_secret("folder-mode-secret-123")
    with State.open(data_dir / "state.sqlite3"):
        pass
    assert set(_folders(root).values()) == {0o700}
    assert _mode(data_dir / "tokens.json") == 0o600
    assert _mode(data_dir / "store-kind") == 0o600
    assert _mode(data_dir / "state.sqlite3") == 0o600


def test_write_config_folders_under_umask_0(root: Path, umask0: None) -> None:
    path = root / "conf" / "qbsync" / "config.toml"
    write_config(path, {"qbo": {"environment": "sandbox"}}, force=False)
    assert _mode(path) == 0o644
    assert _folders(root) == {"conf": 0o755, "conf/qbsync": 0o755}


def test_init_creates_the_config_folders_0755_under_umask_0(
    root: Path, umask0: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The issue: `umask 000; qbsync init` made ~/.config/qbsync 0777, and another user then
    # replaced the owner's config.toml.
    from click.testing import CliRunner

    from qbsync.cli.main import cli

    monkeypatch.setenv("XDG_CONFIG_HOME", str(root / "cfg" / "xdg"))
    monkeypatch.setenv("QBSYNC_DATA_DIR", str(root / "data"))
    monkeypatch.setenv("QBSYNC_CLIENT_SECRET", "s-e-c-r-e-t-1")
    args = ["init", "--client-id", "Abc", "--token-store", "file", "--source", "csv"]
    args += ["--members", str(root / "members.csv"), "--yes"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    folders = _folders(root)
    assert folders["cfg"] == 0o755 and folders["cfg/xdg"] == 0o755
    assert folders["cfg/xdg/qbsync"] == 0o755
    assert all(mode & 0o022 == 0 for mode in folders.values()), folders
    assert _mode(root / "cfg" / "xdg" / "qbsync" / "config.toml") == 0o644
