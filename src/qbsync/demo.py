"""The demo: qbsync's main job end to end against an embedded emulator, with real commands.

It starts a QBO emulator in this process, makes a throw-away working folder (config, state and a
0600 token file), and runs the same `qbsync` commands an operator types, as subprocesses, with
the headless browser standing in for a real one. Each step is shown before it runs and checked
after, so the demo fails loudly (non-zero exit) if any command misbehaves.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from qbsync.errors import QbsyncError, UsageError

DEMO_CLIENT_ID = "qbsync-demo-client"
DEMO_CLIENT_SECRET = "qbsync-demo-secret"  # the emulator's fake demo secret, not a real credential


@dataclass
class Step:
    title: str
    argv: list[str]
    expect_exit: int = 0
    stdout: str = ""
    stderr: str = ""
    exit_code: int | None = None


@dataclass
class DemoResult:
    base_url: str
    steps: list[Step] = field(default_factory=list)
    emulator_summary: dict[str, object] = field(default_factory=dict)


class DemoFailed(QbsyncError):
    """A demo step exited with an unexpected code."""


@contextmanager
def _workdir(keep: Path | None) -> Iterator[Path]:
    if keep is not None:
        if keep.exists() and any(keep.iterdir()):
            # A second demo in the same folder would meet the first one's config and tokens,
            # issued by an emulator that has stopped since.
            raise UsageError(f"{keep} is not empty", hint="give --keep a new or empty folder")
        keep.mkdir(parents=True, exist_ok=True)
        yield keep
        return
    path = Path(tempfile.mkdtemp(prefix="qbsync-demo-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _env(workdir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "QBSYNC_CONFIG": str(workdir / "config.toml"),
            "QBSYNC_DATA_DIR": str(workdir / "data"),
            "QBSYNC_CLIENT_SECRET": DEMO_CLIENT_SECRET,
            "BROWSER": f"{sys.executable} -m qbsync.emulator.browser %s",
            "NO_COLOR": "1",
            "COLUMNS": "100",
        }
    )
    env.pop("QBSYNC_PROFILE", None)
    return env


def _qbsync(*args: str) -> list[str]:
    return [sys.executable, "-m", "qbsync", *args]


def plan_steps(base_url: str, redirect_uri: str, workdir: Path) -> list[Step]:
    """The commands the demo runs, in order (pure: easy to show and to test)."""
    return [
        Step(
            "Write the config (the client secret comes from QBSYNC_CLIENT_SECRET, never the file)",
            _qbsync(
                "init",
                "--environment",
                base_url,
                "--client-id",
                DEMO_CLIENT_ID,
                "--redirect-uri",
                redirect_uri,
                "--token-store",
                "file",
                "--source",
                "csv",
                "--members",
                str(workdir / "members.csv"),
                "--invoices",
                str(workdir / "invoices.csv"),
                "--yes",
            ),
        ),
        Step(
            "Connect to QuickBooks (browser + loopback callback; a headless browser here)",
            _qbsync("auth", "--timeout", "30"),
        ),
        Step("Show the connection", _qbsync("status", "--check")),
        Step("The same, for scripts", _qbsync("status", "--json")),
    ]


def run_demo(
    *,
    show: Callable[[str], None],
    show_step: Callable[[Step], None],
    show_result: Callable[[Step], None],
    keep: Path | None = None,
) -> DemoResult:
    """Run every demo step against a fresh emulator; raise DemoFailed on the first bad exit."""
    from qbsync.emulator import Emulator
    from qbsync.hosts import free_loopback_port

    with _workdir(keep) as workdir, Emulator() as emu:
        port = free_loopback_port()
        redirect_uri = f"http://127.0.0.1:{port}/callback"
        emu.add_client(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, [redirect_uri])
        show(f"QBO emulator on {emu.base_url} (realm {emu.realm_id}, QBO's rate limits on)")
        show(f"Working folder: {workdir}")
        (workdir / "members.csv").write_text("", encoding="utf-8")
        (workdir / "invoices.csv").write_text("", encoding="utf-8")
        result = DemoResult(base_url=emu.base_url)
        env = _env(workdir)
        for step in plan_steps(emu.base_url, redirect_uri, workdir):
            show_step(step)
            done = subprocess.run(
                step.argv, env=env, capture_output=True, text=True, timeout=120, check=False
            )
            step.exit_code, step.stdout, step.stderr = done.returncode, done.stdout, done.stderr
            result.steps.append(step)
            show_result(step)
            if step.exit_code != step.expect_exit:
                raise DemoFailed(
                    f"demo step {step.title!r} exited {step.exit_code}, expected {step.expect_exit}"
                )
        result.emulator_summary = {
            "company": emu.company.company_name,
            "requests": emu.request_counts(),
        }
        return result
