"""examples/README.md works as written from a fresh copy and writes no file of the clone.

Its two ``sh`` blocks are run as a user runs them: the first (the emulator) in the background,
the second with ``bash -e`` from the top folder of a git copy holding examples/. Only the port
changes (a free one, in the command and in a committed copy of config.toml) so parallel test
runs do not collide. Then ``git status`` must be clean: an earlier version had `auth` write
``enabled_at`` into the tracked examples/config.toml.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from qbsync.hosts import free_loopback_port
from qbsync.state.db import State

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PORT = "4116"


def _blocks() -> list[str]:
    text = (ROOT / "examples" / "README.md").read_text(encoding="utf-8")
    return re.findall(r"^```sh\n(.*?)^```", text, flags=re.S | re.M)


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def _wait_healthy(port: int, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_emulator/health", timeout=2):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("the emulator did not start")


def test_the_examples_readme_steps_work_and_modify_no_tracked_file(
    tmp_path: Path, isolated_env: Path
) -> None:
    serve, steps = _blocks()
    assert serve.strip() == "qbsync emulator serve"
    repo = tmp_path / "clone"
    repo.mkdir()
    subprocess.run(["cp", "-r", str(ROOT / "examples"), str(repo)], check=True)
    port = free_loopback_port()
    config = repo / "examples" / "config.toml"
    text = config.read_text(encoding="utf-8")
    assert f"127.0.0.1:{DEFAULT_PORT}" in text
    config.write_text(text.replace(DEFAULT_PORT, str(port)), encoding="utf-8")
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "a fresh clone")
    scratch = tmp_path / "tmp"  # where the steps' `mktemp -d` lands
    scratch.mkdir()
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["TMPDIR"] = str(scratch)
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
    for var in ("QBSYNC_DATA_DIR", "QBSYNC_CLIENT_SECRET", "BROWSER"):
        env.pop(var, None)
    emulator = subprocess.Popen(
        ["bash", "-c", f"exec {serve.strip()} --port {port}"],
        cwd=repo,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _wait_healthy(port, emulator)
        done = subprocess.run(
            ["bash", "-e", "-c", steps],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
            stdin=subprocess.DEVNULL,
        )
    finally:
        os.killpg(emulator.pid, signal.SIGTERM)
        emulator.wait(timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr
    assert _git(repo, "status", "--porcelain", "--ignored") == ""  # nothing written in the clone
    assert "m-006" in done.stdout and "no-email" in done.stdout
    # The state the steps made is in the scratch folder, with the members connected.
    [state_file] = list(scratch.glob("*/data/default/state.sqlite3"))
    with State.open(state_file) as state:
        links = state.members.links()
    assert len(links) == 8 and {"m-004", "m-006"}.isdisjoint(links)
    assert not (isolated_env / ".local" / "share" / "qbsync").exists()  # no profile of the user
