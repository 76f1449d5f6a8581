"""`qbsync demo` runs end to end as a real process and leaves a connected profile behind."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from qbsync.demo import DEMO_CLIENT_SECRET
from qbsync.state.db import State

pytestmark = pytest.mark.e2e


def _demo_keeping(keep: Path, *, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qbsync", "demo", "--keep", str(keep)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_demo_runs_every_step_and_connects(tmp_path: Path) -> None:
    keep = tmp_path / "demo"
    done = _demo_keeping(keep, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Demo finished" in done.stdout
    assert "Connected to Sunrise Mailbox Co (emulated)" in done.stdout
    # State: the connection was recorded, with the time the integration was enabled.
    with State.open(keep / "data" / "default" / "state.sqlite3") as state:
        assert state.realm_id == "9341455130166501"
        assert state.enabled_at is not None
    # The token file exists, is private, and holds tokens that never reached the output.
    token_file = keep / "data" / "default" / "tokens.json"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    stored = json.loads(token_file.read_text())
    secrets = [DEMO_CLIENT_SECRET]
    secrets += [v for k, v in stored.get("tokens", {}).items() if k.endswith("_token")]
    assert len(secrets) >= 3
    for secret in secrets:
        assert secret not in done.stdout
        assert secret not in done.stderr
    assert "qbsync-demo-secret" not in (keep / "config.toml").read_text()


def test_demo_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    keep = tmp_path / "used"
    keep.mkdir()
    (keep / "config.toml").write_text("# an earlier demo\n")
    done = _demo_keeping(keep, timeout=60)
    assert done.returncode == 2
    assert "not empty" in done.stderr
    assert (keep / "config.toml").read_text() == "# an earlier demo\n"
    assert [p.name for p in keep.iterdir()] == ["config.toml"]  # nothing else was written
