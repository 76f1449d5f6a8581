"""The README's headless-browser line works as written, venv active or not.

``BROWSER="python -m qbsync.emulator.browser %s"`` only worked with the venv active: plain
``python`` is then the venv's; otherwise it is the system one, without qbsync. The README now
names the venv's python by its path from the repo root. This runs its exact BROWSER value with
``.venv/bin/qbsync auth`` from a folder laid out like the repo root, with the venv not active.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from qbsync.emulator import Emulator
from qbsync.hosts import free_loopback_port

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SECRET = "readme-browser-secret-4d5e6f"


def _readme_browser_value() -> str:
    """The BROWSER value the README's "Try it against the emulator" section gives."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Try it against the emulator", 1)[1].split("\n## ", 1)[0]
    values = re.findall(r'BROWSER="([^"]+)"', section)
    assert len(values) == 1, values
    return values[0]


def test_the_readme_browser_value_names_the_venv_python() -> None:
    value = _readme_browser_value()
    assert value.split()[0] == ".venv/bin/python"  # not plain `python`: see the module docstring
    assert value.endswith(" %s")


def test_the_readme_browser_line_works_without_activating_the_venv(
    tmp_path: Path, isolated_env: Path
) -> None:
    if sys.prefix == sys.base_prefix:
        pytest.skip("the tests do not run in a virtual environment")
    venv_bin = Path(sys.prefix) / "bin"
    if not (venv_bin / "qbsync").exists():
        pytest.skip("no qbsync console script in this virtual environment")
    repo = tmp_path / "repo"  # the repo root as the user has it: .venv/ inside
    repo.mkdir()
    (repo / ".venv").symlink_to(sys.prefix, target_is_directory=True)

    env = dict(os.environ)
    env.pop("VIRTUAL_ENV", None)  # not activated: the venv's bin is not on PATH either
    env["PATH"] = os.pathsep.join(
        part
        for part in env.get("PATH", "").split(os.pathsep)
        if part and Path(part).resolve() != venv_bin.resolve()
    )
    env["QBSYNC_CLIENT_SECRET"] = SECRET
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"

    def qbsync(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [".venv/bin/qbsync", *args],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    with Emulator(limits=False) as emu:
        redirect = f"http://localhost:{free_loopback_port()}/callback"
        emu.add_client("readme-client", SECRET, [redirect])
        init = qbsync(
            "init", "--environment", emu.base_url, "--client-id", "readme-client",
            "--redirect-uri", redirect, "--token-store", "file",
            "--source", "csv", "--members", "members.csv", "--yes",
        )  # fmt: skip
        assert init.returncode == 0, init.stderr
        env["BROWSER"] = _readme_browser_value()  # exactly as the README has it
        auth = qbsync("auth", "--timeout", "30")
        assert auth.returncode == 0, auth.stderr
        assert "No browser could be opened" not in auth.stderr
        tokens = isolated_env / ".local" / "share" / "qbsync" / "default" / "tokens.json"
        assert json.loads(tokens.read_text())["tokens"]["realm_id"] == emu.realm_id


def test_the_browser_help_prints_the_line_for_this_install() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "qbsync.emulator.browser", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0
    assert f'BROWSER="{sys.executable} -m qbsync.emulator.browser %s"' in done.stderr
